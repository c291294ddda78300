#!/usr/bin/env bash
# Scenario: PostgreSQL restarts while the service is under traffic.
# Pass when: /readyz turns not-ready during the outage and ready again afterwards without a
# restart of the replica; the replica process survives; requests during the outage get 503
# with Retry-After (never 500); traffic after recovery has no 5xx;
# and nothing written before the outage is lost (deal, score and outbox row counts unchanged).
# Meanwhile the replica's dispatcher drains an alert burst (BURST_TENANTS × BURST_DEALS, default
# 5 × 100 crossings = 2,000 outbox rows) to skygeni-fakes with LATENCY_MS (300) per call, so
# sends are in flight when the database goes: afterwards every row is sent exactly once
# (counted in the fakes and the outbox table; none lost, none dead, 0 duplicates).
#
#   loadkit/scenarios/pg_restart.sh            # ~1 minute after the build
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

kit_build
kit_start_pg
"$SKYGENI" migrate >/dev/null
kit_seed default 5000
"$SKYGENI" score --as-of 2024-06-01 >/dev/null
export SKYGENI_OUTBOX_LEASE_SECS=${SKYGENI_OUTBOX_LEASE_SECS:-15}
export SKYGENI_OUTBOX_BASE_BACKOFF_SECS=${SKYGENI_OUTBOX_BASE_BACKOFF_SECS:-2}
export KIT_FAKES_ARGS="--sendgrid-activity-per-minute ${SG_ACTIVITY_PER_MIN:-60}"
kit_fakes
kit_fault "$FAKE_SLACK" "{\"latency_ms\": ${LATENCY_MS:-300}}"
kit_fault "$FAKE_SENDGRID" "{\"latency_ms\": ${LATENCY_MS:-300}}"
"$LOADKIT" seed-burst --tenants "${BURST_TENANTS:-5}" --deals "${BURST_DEALS:-100}" >/dev/null
# No scheduler: its catch-up (retention purge, nightly) would change the row counts checked here.
kit_serve a --no-scheduler
TOKEN=$("$SKYGENI" token --sub loadkit-admin --role admin)
DEALS=$(kit_sql "SELECT string_agg(deal_id, ',') FROM (SELECT deal_id FROM deals WHERE tenant_id = 'default' AND outcome IS NULL ORDER BY deal_id LIMIT 50) d")
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

# The alert burst that was draining through the restart.
DRAINED=1
kit_drain 180 || DRAINED=0
read -r CREATED PENDING SENDING SENT DEAD <<<"$(kit_outbox)"
printf 'burst outbox: created %d pending %d sending %d sent %d dead %d; retried/taken over %s\n' "$CREATED" \
    "$PENDING" "$SENDING" "$SENT" "$DEAD" "$(kit_sql "SELECT count(*) FROM outbox WHERE attempts > 1")"
kit_deliveries
((DRAINED && DEAD == 0 && SENT == CREATED)) && kit_pass "the burst drained through the restart: $SENT/$CREATED sent, none dead" ||
    kit_fail "burst not fully sent: $(kit_outbox)"
kit_check_deliveries
kit_finish
