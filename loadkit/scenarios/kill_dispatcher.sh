#!/usr/bin/env bash
# Scenario: kill -9 of one outbox dispatcher replica in the middle of an alert burst.
# Two `skygeni serve --no-http --no-scheduler` replicas drain a burst of critical crossings
# (BURST_TENANTS × BURST_DEALS, default 20 × 100 = 2,000 crossings; owner + manager, Slack +
# email each = 8,000 outbox rows) to skygeni-fakes; replica a is killed with SIGKILL once
# ~25 % is sent. The fakes add LATENCY_MS (100) per call. The survivor takes over a's claimed rows when their lease expires
# (SKYGENI_OUTBOX_LEASE_SECS=15 here; 120 s in production).
# Pass when (counting in the fakes and the database): the outbox drains (bounded wait); no row
# lost (pending+sending+sent+dead == created, created == 4 × crossings); fake Slack delivered
# exactly the Slack rows marked sent with 0 duplicate messages; fake SendGrid accepted exactly
# the email rows marked sent with 0 duplicate idempotency keys; no row dead.
# Rows taken over from the killed replica are looked up first (Slack DM history by metadata,
# SendGrid Email Activity by custom_args) and only sent if absent. The Email Activity API allows
# 6 requests/min; here the fake allows SG_ACTIVITY_PER_MIN (default 60) so recovering the ~50
# in-flight email rows takes seconds rather than ~8 minutes (same code path, shorter wait).
#
#   loadkit/scenarios/kill_dispatcher.sh          # ~1-2 minutes after the build
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
TENANTS=${BURST_TENANTS:-20}
DEALS=${BURST_DEALS:-100}
export SKYGENI_OUTBOX_LEASE_SECS=${SKYGENI_OUTBOX_LEASE_SECS:-15}
export SKYGENI_OUTBOX_BASE_BACKOFF_SECS=${SKYGENI_OUTBOX_BASE_BACKOFF_SECS:-2}

export KIT_FAKES_ARGS="--sendgrid-activity-per-minute ${SG_ACTIVITY_PER_MIN:-60}"
kit_build
kit_start_pg
"$SKYGENI" migrate >/dev/null
kit_fakes
# Provider latency like the real APIs', so the drain takes long enough to be interrupted.
LATENCY_MS=${LATENCY_MS:-100}
kit_fault "$FAKE_SLACK" "{\"latency_ms\": $LATENCY_MS}"
kit_fault "$FAKE_SENDGRID" "{\"latency_ms\": $LATENCY_MS}"
echo "fakes: ${LATENCY_MS} ms added latency per call"
# A few calls whose work is done but whose answer never comes back (the client times out
# without knowing): those rows must be looked up, not blindly re-sent, too.
LOST=${LOST_RESPONSES:-3}
if ((LOST > 0)); then
    kit_fault "$FAKE_SLACK" "{\"next\": $LOST, \"fault\": \"lose_response\"}"
    kit_fault "$FAKE_SENDGRID" "{\"next\": $LOST, \"fault\": \"lose_response\"}"
    echo "fakes: the next $LOST calls to Slack and to SendGrid lose their response"
fi
T0=$(date +%s.%N)
"$LOADKIT" seed-burst --tenants "$TENANTS" --deals "$DEALS"
T1=$(date +%s.%N)
read -r CREATED _ <<<"$(kit_outbox)"
printf 'seeded %d crossings in %.1f s -> %d outbox rows\n' $((TENANTS * DEALS)) "$(echo "$T1 - $T0" | bc)" "$CREATED"

# The dispatcher's info lines say when a look-up found a message already delivered.
export SKYGENI_LOG=${SKYGENI_LOG:-warn,skygeni::notify::dispatcher=info}
kit_worker a --no-scheduler
kit_worker b --no-scheduler
T2=$(date +%s.%N)
KILLED_AT=""
for _ in $(seq 1 600); do
    read -r _ _ _ SENT _ <<<"$(kit_outbox)"
    if ((SENT * 4 >= CREATED)); then
        kill -9 "$KIT_PID_a"
        KILLED_AT=$SENT
        break
    fi
    sleep 0.1
done
if [[ -n $KILLED_AT ]]; then
    kit_log "killed replica a (pid $KIT_PID_a) with SIGKILL at $KILLED_AT/$CREATED sent; in flight: $(kit_outbox)"
else
    kit_fail "burst did not reach 25 % sent within 60 s; replica a not killed"
fi
DRAINED=1
kit_drain "${DRAIN_SECS:-240}" || DRAINED=0
T3=$(date +%s.%N)
read -r CREATED PENDING SENDING SENT DEAD <<<"$(kit_outbox)"
printf 'drain: %.1f s for %d rows (%.0f rows/s) with one replica killed\n' \
    "$(echo "$T3 - $T2" | bc)" "$SENT" "$(echo "$SENT / ($T3 - $T2)" | bc -l)"
printf 'outbox: created %d pending %d sending %d sent %d dead %d\n' "$CREATED" "$PENDING" "$SENDING" "$SENT" "$DEAD"
kit_deliveries
TAKEN=$(kit_sql "SELECT count(*) FROM outbox WHERE attempts > 1")
RECOVERED=$(grep -c 'earlier attempt had arrived' "$KIT_DIR/b.log" || true)
printf 'found already delivered by the look-up, marked sent without a second send: %s (survivor log, for information)\n' "$RECOVERED"
printf 'taken over / retried rows: %s; look-ups: Slack conversations.history %s, SendGrid Email Activity %s\n' \
    "$TAKEN" "$(jq '[.methods["conversations.history"] // {} | .[]] | add // 0' <<<"$SC")" "$(jq .activity_requests <<<"$GC")"

[[ -n $KILLED_AT ]] && kit_pass "replica a killed with SIGKILL mid-drain ($KILLED_AT/$CREATED sent)"
kill -0 "$KIT_PID_b" 2>/dev/null && kit_pass "replica b survived" || kit_fail "replica b died"
((DRAINED)) && kit_pass "outbox drained by the survivor" || kit_fail "outbox not drained in ${DRAIN_SECS:-240} s"
((CREATED == TENANTS * DEALS * 4)) && kit_pass "outbox rows created = 4 x crossings ($CREATED)" ||
    kit_fail "outbox rows created $CREATED, want $((TENANTS * DEALS * 4))"
((PENDING + SENDING + SENT + DEAD == CREATED)) && kit_pass "no outbox row lost" || kit_fail "outbox rows lost"
((DEAD == 0)) && kit_pass "no dead rows" || kit_fail "$DEAD dead rows"
kit_check_deliveries
kit_finish
