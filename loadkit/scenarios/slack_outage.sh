#!/usr/bin/env bash
# Scenario: Slack answers 503 (FAULT=503, default) or 429 + Retry-After (FAULT=429) for
# OUTAGE_SECS (default 30; the issue's 5 minutes is OUTAGE_SECS=300) while one dispatcher
# (`skygeni serve --no-http --no-scheduler`) drains an alert burst (BURST_TENANTS × BURST_DEALS,
# default 10 × 100 = 1,000 crossings → 4,000 outbox rows: owner + manager, Slack + email).
# Retries: SKYGENI_OUTBOX_BASE_BACKOFF_SECS=2, SKYGENI_OUTBOX_MAX_ATTEMPTS=12 (production keeps
# 30 s / 6; the scenario shortens the clock, not the logic).
# Pass when: during the outage every email row is delivered (email does not wait for Slack) and
# no Slack DM gets through; after healing, Slack catches up within CATCHUP_SECS (default 180);
# final delivery (sent rows / created rows, per channel and overall) >= 99.9 %, with 0
# duplicate DMs and 0 duplicate emails counted in the fakes, and fakes == DB sent counts.
# SLACK_ONLY_REPS (default 2) of each tenant's 10 reps take alerts in Slack only: during the
# outage each of their alerts must reach them as an email fallback (one per Slack row), and
# the DM itself still arrives once Slack is back.
#
#   loadkit/scenarios/slack_outage.sh             # ~1-2 minutes after the build
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
TENANTS=${BURST_TENANTS:-10}
DEALS=${BURST_DEALS:-100}
OUTAGE=${OUTAGE_SECS:-30}
CATCHUP=${CATCHUP_SECS:-180}
FAULT=${FAULT:-503}
SLACK_ONLY=${SLACK_ONLY_REPS:-2}
export SKYGENI_OUTBOX_BASE_BACKOFF_SECS=${SKYGENI_OUTBOX_BASE_BACKOFF_SECS:-2}
export SKYGENI_OUTBOX_MAX_ATTEMPTS=${SKYGENI_OUTBOX_MAX_ATTEMPTS:-12}

kit_build
kit_start_pg
"$SKYGENI" migrate >/dev/null
kit_fakes
case $FAULT in
429) kit_fault "$FAKE_SLACK" '{"always":{"rate_limited":5}}' ;;
*) kit_fault "$FAKE_SLACK" '{"always":{"server_error":503}}' ;;
esac
echo "Slack outage: every call answers $FAULT for ${OUTAGE}s"
"$LOADKIT" seed-burst --tenants "$TENANTS" --deals "$DEALS" --slack-only-reps "$SLACK_ONLY"
# Rows addressed to the Slack-only reps (t<N>_rep0 … rep<K-1>).
SO_RE="_rep[0-$((SLACK_ONLY > 0 ? SLACK_ONLY - 1 : 0))]\$"
so_rows() { kit_sql "SELECT count(*) FROM outbox WHERE channel='$1' AND recipient ~ '$SO_RE' ${2:-}"; }
T0=$(date +%s)
kit_worker a --no-scheduler
sent_on() { kit_sql "SELECT count(*) FROM outbox WHERE status='sent' AND channel='$1'"; }
rows_on() { kit_sql "SELECT count(*) FROM outbox WHERE channel='$1'"; }
sleep $((OUTAGE - 2))
# Measured while Slack is still down.
EMAIL_ROWS_OUT=$(rows_on email)
EMAIL_SENT_OUT=$(sent_on email)
SLACK_SENT_OUT=$(sent_on slack)
SO_SLACK_ROWS=$(so_rows slack)
SO_FALLBACK_SENT_OUT=$(so_rows email "AND status='sent'")
SC=$(kit_calls "$FAKE_SLACK")
FAILED_CALLS=$(jq '[.methods[] | to_entries[] | select(.key != "ok") | .value] | add // 0' <<<"$SC")
OK_DURING=$(jq .messages_delivered <<<"$SC")
printf 'during outage (t=%ss): email sent %s/%s, Slack rows sent %s, Slack DMs delivered %s, failed Slack calls %s\n' \
    $(($(date +%s) - T0)) "$EMAIL_SENT_OUT" "$EMAIL_ROWS_OUT" "$SLACK_SENT_OUT" "$OK_DURING" "$FAILED_CALLS"
printf 'outbox during outage (created pending sending sent dead): %s\n' "$(kit_outbox)"
sleep 2
kit_heal "$FAKE_SLACK"
T1=$(date +%s)
kit_log "Slack healed after $((T1 - T0))s"
DRAINED=1
kit_drain "$CATCHUP" || DRAINED=0
T2=$(date +%s)
read -r CREATED PENDING SENDING SENT DEAD <<<"$(kit_outbox)"
SLACK_ROWS=$(rows_on slack)
EMAIL_ROWS=$(rows_on email)
SO_FALLBACKS=$(so_rows email)
SO_SLACK_SENT=$(so_rows slack "AND status='sent'")
kit_deliveries
pct() { echo "scale=3; 100 * $1 / $2" | bc; }
printf 'catch-up after healing: %ss\n' $((T2 - T1))
printf 'outbox: created %d pending %d sending %d sent %d dead %d\n' "$CREATED" "$PENDING" "$SENDING" "$SENT" "$DEAD"
printf 'delivery: Slack %s/%s (%s %%), email %s/%s (%s %%), overall %s %%\n' "$SLACK_SENT" "$SLACK_ROWS" \
    "$(pct "$SLACK_SENT" "$SLACK_ROWS")" "$EMAIL_SENT" "$EMAIL_ROWS" "$(pct "$EMAIL_SENT" "$EMAIL_ROWS")" "$(pct "$SENT" "$CREATED")"

((FAILED_CALLS > 0 && OK_DURING == 0 && SLACK_SENT_OUT == 0)) &&
    kit_pass "Slack was down: $FAILED_CALLS failed calls, 0 DMs delivered during the outage" ||
    kit_fail "outage not effective (failed calls $FAILED_CALLS, delivered $OK_DURING)"
((EMAIL_ROWS_OUT > 0 && EMAIL_SENT_OUT == EMAIL_ROWS_OUT)) &&
    kit_pass "email kept flowing during the Slack outage ($EMAIL_SENT_OUT/$EMAIL_ROWS_OUT sent)" ||
    kit_fail "email during the outage: $EMAIL_SENT_OUT/$EMAIL_ROWS_OUT sent"
printf 'Slack-only reps (%s per tenant): %s Slack rows; email fallbacks sent during the outage %s, in all %s; their DMs sent after healing %s\n' \
    "$SLACK_ONLY" "$SO_SLACK_ROWS" "$SO_FALLBACK_SENT_OUT" "$SO_FALLBACKS" "$SO_SLACK_SENT"
if ((SLACK_ONLY > 0)); then
    ((SO_SLACK_ROWS > 0 && SO_FALLBACK_SENT_OUT == SO_SLACK_ROWS)) &&
        kit_pass "Slack-only users reached by email during the outage ($SO_FALLBACK_SENT_OUT/$SO_SLACK_ROWS fallbacks sent)" ||
        kit_fail "Slack-only users: $SO_FALLBACK_SENT_OUT of $SO_SLACK_ROWS fallback emails sent during the outage"
    ((SO_FALLBACKS == SO_SLACK_ROWS && SO_SLACK_SENT == SO_SLACK_ROWS)) &&
        kit_pass "one fallback per Slack-only alert, and every Slack-only DM delivered after healing" ||
        kit_fail "Slack-only: $SO_FALLBACKS fallbacks, $SO_SLACK_SENT/$SO_SLACK_ROWS DMs sent"
fi
((DRAINED)) && kit_pass "Slack caught up in $((T2 - T1))s after healing" || kit_fail "outbox not drained ${CATCHUP}s after healing"
((SENT * 1000 >= CREATED * 999)) && kit_pass "final delivery >= 99.9 % ($(pct "$SENT" "$CREATED") %)" ||
    kit_fail "final delivery $(pct "$SENT" "$CREATED") % < 99.9 %"
((PENDING + SENDING + SENT + DEAD == CREATED)) && kit_pass "no outbox row lost" || kit_fail "outbox rows lost"
kit_check_deliveries
kit_finish
