//! Shared by the benchmarks that drive a server with wrk (`api`, `whole_process`): the Lua
//! script for a POST with a fixed JSON body and the `done` hook that prints one RESULT line.

/// Prints `RESULT <req/s> … (<n> requests, <m> errors/non-2xx)` when wrk finishes.
pub const WRK_DONE: &str = r#"
done = function(summary, latency, requests)
  local errors = summary.errors.connect + summary.errors.read + summary.errors.write
    + summary.errors.status + summary.errors.timeout
  io.write(string.format(
    "RESULT %7.0f req/s   p50 %6.2f ms   p95 %6.2f ms   p99 %6.2f ms   (%d requests, %d errors/non-2xx)\n",
    summary.requests / (summary.duration / 1e6), latency:percentile(50) / 1000,
    latency:percentile(95) / 1000, latency:percentile(99) / 1000, summary.requests, errors))
end
"#;

/// A wrk script POSTing `body` as JSON with a bearer `token`.
pub fn post_script(token: &str, body: &serde_json::Value) -> String {
    format!(
        "wrk.method = \"POST\"\nwrk.headers[\"Content-Type\"] = \"application/json\"\n\
         wrk.headers[\"Authorization\"] = \"Bearer {token}\"\nwrk.body = '{body}'\n{WRK_DONE}"
    )
}
