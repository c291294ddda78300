#!/usr/bin/env bash
# Scenario: kill -9 of one replica in the middle of the nightly run. Same set-up as
# nightly.sh (NIGHTLY_TENANTS × NIGHTLY_DEALS, default 40 × 1,000; two `skygeni serve`
# replicas on one throwaway PostgreSQL, each tenant on its own fake org). Replica a gets
# SIGKILL once KILL_AT_PCT (default 30) % of the tenants finished; it is in the middle of
# some tenants' runs then. The survivor must take those runs over when their lease expires
# (SKYGENI_SCHEDULER_LEASE_SECS=15 here, 300 s in production) and finish every tenant.
# Pass when, counted in the database and the fakes: every tenant's nightly finished exactly
# once (one job_runs row each, none running or failed; taken-over runs show attempts > 1),
# every changed score was written to the fake Salesforce once per record (0 duplicate writes,
# records written = write-backs recorded), 0 duplicate Tasks, every manager's digest queued
# once (one outbox row per manager and channel) and sent once (0 duplicates in the fakes),
# and the outbox drained.
#
#   loadkit/scenarios/nightly_kill.sh
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
NIGHTLY_TENANTS=${NIGHTLY_TENANTS:-40}
source "$(dirname "${BASH_SOURCE[0]}")/nightly_lib.sh"
KILL_AT_PCT=${KILL_AT_PCT:-30}
export SKYGENI_SCHEDULER_LEASE_SECS=${SKYGENI_SCHEDULER_LEASE_SECS:-15}
export SKYGENI_OUTBOX_LEASE_SECS=${SKYGENI_OUTBOX_LEASE_SECS:-15}

nightly_setup
nightly_fire_now
kit_serve a
kit_serve b
KILLED=""
for _ in $(seq 1 1200); do
    read -r finished running _ _ <<<"$(nightly_counts)"
    if ((finished * 100 >= NIGHTLY_ALL * KILL_AT_PCT)); then
        A_RUNNING=$(kit_sql "SELECT count(*) FROM job_runs WHERE status = 'running' AND split_part(claimed_by, '-', 2) = '$KIT_PID_a'")
        kill -9 "$KIT_PID_a"
        KILLED="$finished/$NIGHTLY_ALL finished, $running running ($A_RUNNING of them on a)"
        break
    fi
    sleep 0.5
done
if [[ -n $KILLED ]]; then
    kit_log "killed replica a (pid $KIT_PID_a) with SIGKILL at $KILLED"
    kit_pass "replica a killed with SIGKILL mid-run ($KILLED)"
else
    kit_fail "nightly did not reach ${KILL_AT_PCT} % within 600 s; replica a not killed"
fi
DONE=1
nightly_wait "$NIGHTLY_LIMIT_SECS" || DONE=0
nightly_report
kill -0 "$KIT_PID_b" 2>/dev/null && kit_pass "replica b survived" || kit_fail "replica b died"
((DONE)) && kit_pass "the survivor finished every tenant" || kit_fail "nightly not finished"
TAKEN=$(kit_sql "SELECT count(*) FROM job_runs WHERE attempts > 1")
TAKEN_LIST=$(kit_sql "SELECT string_agg(tenant_id || ' ' || job || ' attempt ' || attempts, ', ') FROM job_runs WHERE attempts > 1")
echo "runs taken over from the killed replica: $TAKEN ($TAKEN_LIST)"
((TAKEN >= A_RUNNING)) && kit_pass "every run replica a held was taken over ($TAKEN >= $A_RUNNING)" ||
    kit_fail "$A_RUNNING runs were on a, only $TAKEN taken over"
nightly_checks
kit_drain 300 && kit_pass "outbox drained" || kit_fail "outbox not drained"
MANAGERS=$(kit_sql "SELECT count(*) FROM job_runs WHERE job LIKE 'digest:%' AND status = 'ok'")
DIGEST_ROWS=$(kit_sql "SELECT count(*) FROM outbox WHERE kind = 'digest'")
DIGEST_TO=$(kit_sql "SELECT count(DISTINCT tenant_id || ' ' || recipient) FROM outbox WHERE kind = 'digest'")
DIGEST_SENT=$(kit_sql "SELECT count(*) FROM outbox WHERE kind = 'digest' AND status = 'sent'")
echo "digests: $MANAGERS digest runs, $DIGEST_ROWS outbox rows for $DIGEST_TO managers, $DIGEST_SENT sent"
((MANAGERS > 0 && DIGEST_TO == MANAGERS && DIGEST_SENT == DIGEST_ROWS)) &&
    kit_pass "every digest queued once and sent once ($DIGEST_SENT)" ||
    kit_fail "digests: runs $MANAGERS rows $DIGEST_ROWS managers $DIGEST_TO sent $DIGEST_SENT"
kit_finish
