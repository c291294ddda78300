#!/usr/bin/env bash
# Scenario: PostgreSQL restarts while the service is under traffic.
# Pass when: /readyz turns not-ready during the outage and ready again afterwards without a
# restart of the replica; the replica process survives; requests during the outage get 503
# with Retry-After (never 500); traffic after recovery has no 5xx;
# and nothing written before the outage is lost (deal, score and outbox row counts unchanged).
#
#   loadkit/scenarios/pg_restart.sh            # ~1 minute after the build
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

kit_build
kit_start_pg
"$SKYGENI" migrate >/dev/null
kit_seed default 5000
"$SKYGENI" score --as-of 2024-06-01 >/dev/null
kit_serve a
TOKEN=$("$SKYGENI" token --sub loadkit-admin --role admin)
DEALS=$(kit_sql "SELECT string_agg(deal_id, ',') FROM (SELECT deal_id FROM deals WHERE outcome IS NULL ORDER BY deal_id LIMIT 50) d")
count() { kit_sql "SELECT (SELECT count(*) FROM deals) || ' ' || (SELECT count(*) FROM risk_scores) || ' ' || (SELECT count(*) FROM outbox)"; }
BEFORE=$(count)
kit_log "rows before (deals scores outbox): $BEFORE"

URL=http://127.0.0.1:$KIT_PORT_a
"$LOADKIT" watch-ready --url "$URL" --for 60 --until-recovered >"$KIT_DIR/ready.txt" &
WATCH=$!
"$LOADKIT" load --url "$URL" --token "$TOKEN" --deals "$DEALS" --mix 1,0,0,0 --rate 40 \
    --duration 25 --window 5 --pid "$KIT_PID_a" >"$KIT_DIR/during.txt" 2>&1 &
LOAD=$!
sleep 8
kit_pg_restart 5
wait "$WATCH" || true
wait "$LOAD" || true
cat "$KIT_DIR/ready.txt"
grep -E "summary|statuses" "$KIT_DIR/during.txt"
if grep -q '"500"' "$KIT_DIR/during.txt"; then
    kit_fail "requests during the outage got 500 (want 503 + Retry-After): $(grep statuses "$KIT_DIR/during.txt")"
else
    kit_pass "requests during the outage got 200 or 503, never 500"
fi

grep -q "went_not_ready=true ready_at_end=true" "$KIT_DIR/ready.txt" &&
    kit_pass "readyz went not-ready during the outage and recovered by itself" ||
    kit_fail "readyz did not report the outage and recovery"
kill -0 "$KIT_PID_a" 2>/dev/null && kit_pass "replica survived the database restart" ||
    kit_fail "replica died"
if "$LOADKIT" load --url "$URL" --token "$TOKEN" --deals "$DEALS" --mix 1,0,0,0 --rate 50 \
    --duration 5 --window 5 --fail-on-5xx >"$KIT_DIR/after.txt" 2>&1; then
    kit_pass "no 5xx after recovery ($(grep summary "$KIT_DIR/after.txt"))"
else
    kit_fail "5xx after recovery: $(grep -E 'summary|statuses' "$KIT_DIR/after.txt")"
fi
AFTER=$(count)
[[ $AFTER == "$BEFORE" ]] && kit_pass "no rows lost (deals scores outbox: $AFTER)" ||
    kit_fail "row counts changed: before $BEFORE, after $AFTER"
kit_finish
