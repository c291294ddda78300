# Slack witness: Slack's own artefacts judge ours.
# - app_manifest/manifest.yaml against Slack's published manifest JSON schema
#   (../shared/vendor/slack/manifest.schema.2.0.0.json, read in place) with jsonschema + PyYAML;
# - every message, modal and Home view the product builds (dumped by the corpus test, hostile
#   CRM text included) through slack_sdk's Block Kit models;
# - a real `skygeni serve` against the fake Slack, driven by requests that slack_sdk's
#   SignatureVerifier signs (and that it refuses when unsigned, foreign or stale).
conf_pip 'slack_sdk>=3.33,<4' 'jsonschema>=4.20,<5' 'pyyaml>=6,<7'
PY=$(conf_python)
HERE=$REPO_ROOT/scripts/conformance.d
SCHEMA=$REPO_ROOT/../shared/vendor/slack/manifest.schema.2.0.0.json
[[ -f $SCHEMA ]] || SCHEMA=/work/shared/vendor/slack/manifest.schema.2.0.0.json
[[ -f $SCHEMA ]] || conf_fail "Slack's manifest schema not found at ../shared/vendor/slack/"

conf_log "manifest against $(basename "$SCHEMA")"
"$PY" "$HERE/20-slack.py" manifest "$REPO_ROOT/app_manifest/manifest.yaml" "$SCHEMA" >&2

conf_log "Block Kit corpus from the corpus test"
rm -rf "$CONF_OUT/corpus"
(cd "$REPO_ROOT" && SKYGENI_SLACK_CORPUS="$CONF_OUT/corpus" \
    cargo test -q --workspace --lib slack::corpus_tests >&2) || conf_fail "the corpus test failed"
"$PY" "$HERE/20-slack.py" corpus "$CONF_OUT/corpus" >&2

conf_log "signed requests against skygeni serve + fake Slack"
fakes=$(conf_bin skygeni-fakes)
bin=$(conf_bin skygeni)
work=$(mktemp -d)
conf_on_exit "rm -rf '$work'"
slack_port=$(conf_free_port)
"$fakes" --slack-port "$slack_port" --slack-token xoxb-witness \
    --slack-user 'UANA:ana@acme.test:Ana Admin' --slack-user 'UEVE:eve@elsewhere.test:Eve' \
    >"$work/fakes.json" 2>"$CONF_OUT/fakes.log" &
fakes_pid=$!
conf_on_exit "kill $fakes_pid 2>/dev/null"
conf_wait_http "http://127.0.0.1:$slack_port/api/auth.test" 30

export SKYGENI_DATABASE_URL="sqlite://$work/witness.db"
secret=witness-signing-secret-0123456789abcdef
"$bin" migrate >&2
"$bin" import --csv "$REPO_ROOT/examples/data/skygeni_sales_data.csv" >"$CONF_OUT/import.log" 2>&1 ||
    conf_fail "import failed (see $CONF_OUT/import.log)"
"$bin" users add --email ana@acme.test --name 'Ana Admin' --role admin >&2
"$bin" users add --email bob@acme.test --name 'Bob Rep' --role rep --manager ana@acme.test --time-zone Europe/Berlin >&2
"$bin" users list >"$CONF_OUT/users.txt"

port=$(conf_free_port)
SKYGENI_BIND=127.0.0.1:$port SKYGENI_PUBLIC_URL=http://127.0.0.1:$port \
    SKYGENI_JWT_SECRET=witness-jwt-secret-0123456789abcdef0123 \
    SKYGENI_ENCRYPTION_KEY=000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f \
    SLACK_SIGNING_SECRET=$secret SLACK_BOT_TOKEN=xoxb-witness \
    SLACK_API_URL="http://127.0.0.1:$slack_port/api" \
    "$bin" serve --no-scheduler --no-dispatcher >"$CONF_OUT/serve.log" 2>&1 &
serve_pid=$!
conf_on_exit "kill $serve_pid 2>/dev/null"
conf_wait_http "http://127.0.0.1:$port/healthz" 60
"$PY" "$HERE/20-slack.py" live "http://127.0.0.1:$port" "$secret" "http://127.0.0.1:$slack_port" >&2 ||
    conf_fail "skygeni serve disagreed with slack_sdk (server log: $CONF_OUT/serve.log)"
