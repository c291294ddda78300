# shellcheck shell=bash
# Shared by nightly.sh and nightly_kill.sh (sourced after lib.sh): seed N tenants connected to
# their own fake org, make the nightly fire now, wait for it (bounded), and print its figures
# from the job_runs table, the other tables and the fakes' counters.

NIGHTLY_TENANTS=${NIGHTLY_TENANTS:-20}
NIGHTLY_DEALS=${NIGHTLY_DEALS:-1000}
# Bound on one night; the issue's alert is "batch > 60 min".
NIGHTLY_LIMIT_SECS=${NIGHTLY_LIMIT_SECS:-3600}
# The fake org's connected app (fakes/src/salesforce.rs CLIENT_ID / CLIENT_SECRET).
export SALESFORCE_CLIENT_ID=fake-consumer-key SALESFORCE_CLIENT_SECRET=fake-consumer-secret

# Fakes, a global model, the tenants and their orgs; sets FAKE_SF_ORGS and the login URL.
nightly_setup() {
    kit_build
    kit_start_pg
    "$SKYGENI" migrate >/dev/null
    kit_fakes
    FAKE_SF_ORGS=$(jq -r .salesforce_orgs_url "$KIT_DIR/fakes.json")
    export SALESFORCE_LOGIN_URL=$FAKE_SF_ORGS
    # A global production model, as a deployment has: trained on a synthetic 5,000-deal
    # history kept in a tenant of its own ("kitmodel", no Salesforce; it joins the nightly).
    "$SKYGENI" tenant add kitmodel >/dev/null
    "$LOADKIT" gen-csv --rows 5000 --prefix M >"$KIT_DIR/model.csv"
    "$SKYGENI" --tenant kitmodel import --csv "$KIT_DIR/model.csv" --as-of 2026-11-01 >/dev/null
    "$SKYGENI" --tenant kitmodel train --global >/dev/null
    local t0 t1
    t0=$(date +%s.%N)
    "$LOADKIT" seed-nightly --orgs-url "$FAKE_SF_ORGS" --tenants "$NIGHTLY_TENANTS" --deals "$NIGHTLY_DEALS" >"$KIT_DIR/seed.json"
    t1=$(date +%s.%N)
    printf 'seeded %d tenants x %d Opportunities (fake orgs + connections) in %.1f s\n' \
        "$NIGHTLY_TENANTS" "$NIGHTLY_DEALS" "$(echo "$t1 - $t0" | bc)"
    NIGHTLY_ALL=$(kit_sql "SELECT count(*) FROM tenants")
}

# Point the nightly cron at the minute that just passed, so the replicas' first scheduler pass
# finds it due (catch-up window 12 h) and every tenant's run is claimed at once.
nightly_fire_now() {
    local m h
    m=$(date -u -d '1 min ago' +%-M)
    h=$(date -u -d '1 min ago' +%-H)
    export SKYGENI_NIGHTLY_CRON="0 $m $h * * *"
    NIGHTLY_FOR=$(date -u -d '1 min ago' +%Y-%m-%dT%H:%M:00)
    kit_log "nightly cron set to '$SKYGENI_NIGHTLY_CRON' (UTC tenants): scheduled for $NIGHTLY_FOR"
}

# Nightly runs of the current night per status: "finished running failed flagged".
nightly_counts() {
    kit_sql "SELECT count(*) FILTER (WHERE status IN ('ok','flagged','failed')) || ' ' || \
        count(*) FILTER (WHERE status = 'running') || ' ' || count(*) FILTER (WHERE status = 'failed') \
        || ' ' || count(*) FILTER (WHERE status = 'flagged') FROM job_runs \
        WHERE job = 'nightly_score' AND scheduled_for LIKE '$NIGHTLY_FOR%'"
}

# nightly_wait SECS: until every tenant's run of this night finished (bounded); 0 = done.
nightly_wait() {
    local limit=$1 i finished running failed flagged
    for ((i = 0; i < limit; i += 5)); do
        read -r finished running failed flagged <<<"$(nightly_counts)"
        if ((finished >= NIGHTLY_ALL)); then
            kit_log "nightly finished: $finished runs ($failed failed, $flagged flagged) after ~${i}s"
            return 0
        fi
        ((i % 60 == 0)) && kit_log "nightly: $finished/$NIGHTLY_ALL finished, $running running"
        sleep 5
    done
    kit_log "nightly not finished after ${limit}s: $(nightly_counts)"
    return 1
}

# Print the figures of this night (connected tenants only for the per-tenant times).
nightly_report() {
    local where="job = 'nightly_score' AND scheduled_for LIKE '$NIGHTLY_FOR%'"
    kit_sql "SELECT 'total (first claim to last finish): ' || round(extract(epoch FROM \
        max(finished_at::timestamptz) - min(started_at::timestamptz))::numeric, 1) || ' s' \
        FROM job_runs WHERE $where"
    kit_sql "SELECT 'per tenant (s): p50 ' || round(percentile_cont(0.5) WITHIN GROUP (ORDER BY d)::numeric, 2) \
        || ' p95 ' || round(percentile_cont(0.95) WITHIN GROUP (ORDER BY d)::numeric, 2) \
        || ' max ' || round(max(d)::numeric, 2) || ' (n=' || count(*) || ')' FROM (SELECT extract(epoch FROM \
        finished_at::timestamptz - started_at::timestamptz) AS d FROM job_runs \
        WHERE $where AND tenant_id LIKE 'n%' AND finished_at IS NOT NULL) x"
    kit_sql "SELECT 'runs per replica pid: ' || string_agg(w || '=' || n, ', ' ORDER BY w) FROM \
        (SELECT split_part(claimed_by, '-', 2) AS w, count(*) AS n FROM job_runs WHERE $where GROUP BY 1) x"
    kit_sql "SELECT 'job runs this pass by job/status: ' || string_agg(j || ' ' || s || '=' || n, ', ' ORDER BY j, s) \
        FROM (SELECT split_part(job, ':', 1) AS j, status AS s, count(*) AS n FROM job_runs GROUP BY 1, 2) x"
    kit_sql "SELECT 'rows: deals ' || (SELECT count(*) FROM deals) || ', risk_scores ' || \
        (SELECT count(*) FROM risk_scores) || ', write-backs recorded ' || \
        (SELECT count(*) FROM salesforce_writeback WHERE status = 'written') || ', tasks ' || \
        (SELECT count(*) FROM salesforce_tasks) || ', outbox ' || (SELECT count(*) FROM outbox) || \
        ' (digest rows ' || (SELECT count(*) FROM outbox WHERE kind = 'digest') || '), users ' || \
        (SELECT count(*) FROM users)"
    local sf
    sf=$(kit_calls "$FAKE_SF_ORGS")
    echo "$sf" >"$KIT_DIR/sf_calls.json"
    printf 'fake Salesforce: %s API calls (+%s token grants) over %s orgs, per org p50 %s max %s\n' \
        "$(jq .api_calls <<<"$sf")" "$(jq .token_calls <<<"$sf")" "$(jq .orgs <<<"$sf")" \
        "$(jq .api_calls_per_org.p50 <<<"$sf")" "$(jq .api_calls_per_org.max <<<"$sf")"
    printf 'fake Salesforce: %s Opportunities written (%s writes, %s duplicate), %s Task upserts (%s keys, %s duplicate)\n' \
        "$(jq .opportunities_written <<<"$sf")" "$(jq .opportunity_writes <<<"$sf")" \
        "$(jq .opportunity_duplicate_writes <<<"$sf")" "$(jq .task_upserts <<<"$sf")" \
        "$(jq .task_keys <<<"$sf")" "$(jq .task_duplicate_upserts <<<"$sf")"
    printf 'fake Salesforce calls by kind: %s\n' "$(jq -c .calls <<<"$sf")"
}

# Every tenant's run of this night finished exactly once (one row each, none running, none
# failed), and the fakes saw no duplicate write, Task, DM or email.
nightly_checks() {
    local finished running failed flagged rows sf sc gc
    read -r finished running failed flagged <<<"$(nightly_counts)"
    rows=$(kit_sql "SELECT count(*) FROM job_runs WHERE job = 'nightly_score' AND scheduled_for LIKE '$NIGHTLY_FOR%'")
    ((rows == NIGHTLY_ALL && finished == NIGHTLY_ALL && running == 0)) &&
        kit_pass "every tenant's nightly finished exactly once ($finished/$NIGHTLY_ALL)" ||
        kit_fail "nightly runs: $rows rows, $finished finished, $running running, want $NIGHTLY_ALL"
    ((failed == 0)) && kit_pass "no nightly run failed" || kit_fail "$failed nightly runs failed"
    ((flagged == ${NIGHTLY_EXPECT_FLAGGED:-0})) && kit_pass "flagged runs: $flagged (expected ${NIGHTLY_EXPECT_FLAGGED:-0})" ||
        kit_fail "$flagged nightly runs flagged (Salesforce sync skipped): $(kit_sql "SELECT detail FROM job_runs \
            WHERE status = 'flagged' LIMIT 1")"
    sf=$(kit_calls "$FAKE_SF_ORGS")
    local wdup tdup written recorded
    wdup=$(jq .opportunity_duplicate_writes <<<"$sf")
    tdup=$(jq .task_duplicate_upserts <<<"$sf")
    written=$(jq .opportunities_written <<<"$sf")
    # Written this night (the fake's counters are reset between nights).
    # (write-backs are stamped with the scheduler pass's clock, which starts after the cron time).
    recorded=$(kit_sql "SELECT count(*) FROM salesforce_writeback WHERE status = 'written' AND written_at >= '$NIGHTLY_FOR'")
    ((wdup == 0)) && kit_pass "Salesforce: every changed score written once (0 duplicate writes)" ||
        kit_fail "Salesforce: $wdup duplicate score writes"
    ((tdup == 0)) && kit_pass "Salesforce: 0 duplicate Task upserts" || kit_fail "Salesforce: $tdup duplicate Task upserts"
    ((written == recorded)) && kit_pass "records written in the fake = write-backs recorded ($written)" ||
        kit_fail "fake has $written records written, database recorded $recorded"
    sc=$(kit_calls "$FAKE_SLACK")
    gc=$(kit_calls "$FAKE_SENDGRID")
    printf 'fake Slack: %s delivered, %s duplicate; fake SendGrid: %s accepted, %s duplicate\n' \
        "$(jq .messages_delivered <<<"$sc")" "$(jq .duplicate_messages <<<"$sc")" \
        "$(jq .accepted <<<"$gc")" "$(jq .duplicates <<<"$gc")"
    (($(jq .duplicate_messages <<<"$sc") == 0 && $(jq .duplicates <<<"$gc") == 0)) &&
        kit_pass "0 duplicate DMs and emails" || kit_fail "duplicate DMs or emails"
}
