#!/usr/bin/env bash
# Scenario: the nightly run at scale. NIGHTLY_TENANTS tenants (default 20), each connected to
# its own org in the multi-org fake Salesforce holding NIGHTLY_DEALS generated Opportunities
# (default 1,000; ~60 % open), and two `skygeni serve` replicas on one throwaway PostgreSQL.
# The nightly cron is set to the minute that just passed, so both replicas' schedulers claim
# tenants from their first pass: Salesforce sync (first night: Bulk API 2.0 full load) →
# score → write-back of changed scores → Tasks → App Home hook, and each manager's digest
# when its 08:00 falls within the catch-up window. Night 2 (NIGHTLY_SECOND=1, default): the
# fake changes NIGHTLY_CHANGES open Opportunities per org (default 50), the replicas restart
# with the next minute as the cron, and the incremental sync must pull exactly those.
# Figures: total and per-tenant time (job_runs), runs per replica, Salesforce API calls and
# writes (counted in the fake), rows written. Pass when every run finished once, none
# failed, 0 duplicate writes/Tasks/DMs/emails, the outbox drained, and night 2 pulled the
# changed Opportunities.
#
#   loadkit/scenarios/nightly.sh                                        # 20 × 1,000, ~2 min
#   NIGHTLY_TENANTS=1000 NIGHTLY_DEALS=1000 loadkit/scenarios/nightly.sh
#   NIGHTLY_TENANTS=10 NIGHTLY_DEALS=100000 loadkit/scenarios/nightly.sh
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
source "$(dirname "${BASH_SOURCE[0]}")/nightly_lib.sh"
SECOND=${NIGHTLY_SECOND:-1}
CHANGES=${NIGHTLY_CHANGES:-50}

nightly_setup
nightly_fire_now
echo "== night 1: first load"
kit_serve a
kit_serve b
DONE=1
nightly_wait "$NIGHTLY_LIMIT_SECS" || DONE=0
nightly_report
nightly_checks
((DONE)) && kit_pass "night 1 finished within ${NIGHTLY_LIMIT_SECS}s" || kit_fail "night 1 not finished"
kit_drain 300 && kit_pass "outbox drained (digests and alerts sent)" || kit_fail "outbox not drained"

if ((SECOND)); then
    echo "== night 2: incremental, $CHANGES changed Opportunities per org"
    kill "$KIT_PID_a" "$KIT_PID_b"
    wait "$KIT_PID_a" "$KIT_PID_b" 2>/dev/null || true
    for ((k = 0; k < NIGHTLY_TENANTS; k++)); do
        curl -fsS -X POST -H 'content-type: application/json' -d "{\"changes\": $CHANGES}" \
            "$FAKE_SF_ORGS/_control/orgs/$k/edit" >/dev/null
    done
    # The cron must name a new minute, or night 2 would be night 1's (finished) run.
    while [[ $(date -u -d '1 min ago' +%Y-%m-%dT%H:%M:00) == "$NIGHTLY_FOR" ]]; do sleep 2; done
    nightly_fire_now
    # Count night 2 on its own: a record written on both nights is not a duplicate.
    curl -fsS -X DELETE "$FAKE_SF_ORGS/_control/calls" >/dev/null
    kit_serve a
    kit_serve b
    DONE=1
    nightly_wait "$NIGHTLY_LIMIT_SECS" || DONE=0
    nightly_report
    nightly_checks
    PULLED_OK=$(kit_sql "SELECT count(*) FROM job_runs WHERE job = 'nightly_score' AND scheduled_for LIKE '$NIGHTLY_FOR%' \
        AND tenant_id LIKE 'n%' AND substring(detail from 'pulled ([0-9]+),')::int >= $CHANGES")
    ((PULLED_OK == NIGHTLY_TENANTS)) && kit_pass "night 2 pulled the $CHANGES changed Opportunities of every org" ||
        kit_fail "night 2: only $PULLED_OK of $NIGHTLY_TENANTS tenants pulled >= $CHANGES changes"
    ((DONE)) && kit_pass "night 2 finished within ${NIGHTLY_LIMIT_SECS}s" || kit_fail "night 2 not finished"
    kit_drain 300 && kit_pass "outbox drained after night 2" || kit_fail "outbox not drained after night 2"
fi
kit_finish
