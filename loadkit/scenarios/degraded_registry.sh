#!/usr/bin/env bash
# Scenario: the model registry is corrupt. A replica with HTTP scores deals; then every model
# artifact in the `models` table is overwritten with garbage (what a bad write or a manual
# edit would leave). Scoring must continue in degraded mode and say so.
# Pass when: /readyz stays 200 and reports `model.degraded=true` with the reason; a replica
# started after the corruption answers POST /v1/deals/score with 200 and `degraded: true` for
# every deal asked (a batch of 200 requests, zero 5xx); the replica that was already running
# keeps answering 200 (it serves its cached scorer until the cache TTL, 5 min, expires);
# on the new replica a signed `/deal-risk top` answer leads with the "Scores are running in
# degraded mode" notice (none before the corruption) and /metrics has
# skygeni_model_degraded{tenant="default"} 1 (0 on the healthy replica before).
#
#   loadkit/scenarios/degraded_registry.sh        # ~1 minute after the build
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

kit_build
kit_start_pg
"$SKYGENI" migrate >/dev/null
kit_fakes
kit_seed default 5000
kit_slack_user default U0LOADKIT
kit_serve a
TOKEN=$("$SKYGENI" token --sub loadkit-admin --role admin)
DEAL=$(kit_sql "SELECT deal_id FROM deals WHERE outcome IS NULL ORDER BY deal_id LIMIT 1")
DEALS=$(kit_sql "SELECT string_agg(deal_id, ',') FROM (SELECT deal_id FROM deals WHERE outcome IS NULL ORDER BY deal_id LIMIT 50) d")
score() { curl -sS -o "$KIT_DIR/score.json" -w '%{http_code}' -H "authorization: Bearer $TOKEN" \
    -H 'content-type: application/json' -d "{\"deal_id\":\"$DEAL\"}" "$1/v1/deals/score"; }
A=http://127.0.0.1:$KIT_PORT_a
BEFORE=$(score "$A")
echo "before: score HTTP $BEFORE degraded=$(jq -c .degraded "$KIT_DIR/score.json") model=$(jq -c .model_version "$KIT_DIR/score.json")"
echo "before: readyz model $(curl -sS "$A/readyz" | jq -c .model)"
echo "models in the registry: $(kit_sql "SELECT count(*) FROM models")"
gauge() { curl -sS "$1/metrics" | sed -n 's/^skygeni_model_degraded{tenant="default"} //p'; }
notices() { kit_slack_command "$1" top | jq '[.blocks[]? | select(.type == "context") | tostring | select(test("degraded mode"))] | length'; }
SLACK_BEFORE=$(notices "$A")
GAUGE_BEFORE=$(gauge "$A")
echo "before: /deal-risk top degraded notices=$SLACK_BEFORE; skygeni_model_degraded{tenant=\"default\"}=${GAUGE_BEFORE:-absent}"
kit_sql "UPDATE models SET artifact = '{\"weights\": [1, 2, garbage' " >/dev/null
kit_log "every model artifact overwritten with garbage"

RZ_CODE=$(curl -sS -o "$KIT_DIR/readyz.json" -w '%{http_code}' "$A/readyz")
echo "after: readyz HTTP $RZ_CODE model $(jq -c .model "$KIT_DIR/readyz.json")"
AFTER_A=$(score "$A")
echo "after, running replica a: score HTTP $AFTER_A degraded=$(jq -c .degraded "$KIT_DIR/score.json")"
kit_serve b
B=http://127.0.0.1:$KIT_PORT_b
AFTER_B=$(score "$B")
cp "$KIT_DIR/score.json" "$KIT_DIR/score_b.json"
echo "after, new replica b: score HTTP $AFTER_B degraded=$(jq -c .degraded "$KIT_DIR/score_b.json") model=$(jq -c .model_version "$KIT_DIR/score_b.json")"
jq -c '{risk_score, risk_category, win_probability, degraded, model_version}' "$KIT_DIR/score_b.json"
kit_slack_command "$B" top >"$KIT_DIR/slack_b.json"
SLACK_AFTER=$(jq '[.blocks[]? | select(.type == "context") | tostring | select(test("degraded mode"))] | length' "$KIT_DIR/slack_b.json")
GAUGE_AFTER=$(gauge "$B")
echo "after, new replica b: /deal-risk top notice: $(jq -r '.blocks[0].elements[0].text' "$KIT_DIR/slack_b.json" | cut -c1-160)…"
echo "after, new replica b: degraded notices=$SLACK_AFTER; skygeni_model_degraded{tenant=\"default\"}=${GAUGE_AFTER:-absent}"
# A batch on the degraded replica: 200 requests over 50 deals, no 5xx allowed.
LOAD_OK=1
"$LOADKIT" load --url "$B" --token "$TOKEN" --deals "$DEALS" --mix 1,0,0,0 --rate 40 \
    --duration 5 --window 5 --fail-on-5xx >"$KIT_DIR/load.txt" 2>&1 || LOAD_OK=0
grep -E "summary|statuses" "$KIT_DIR/load.txt" || true
DEGRADED_N=0
for d in $(tr , ' ' <<<"$DEALS"); do
    out=$(curl -sS -H "authorization: Bearer $TOKEN" -H 'content-type: application/json' \
        -d "{\"deal_id\":\"$d\"}" "$B/v1/deals/score")
    [[ $(jq -r .degraded <<<"$out") == true ]] && DEGRADED_N=$((DEGRADED_N + 1))
done
echo "deals scored degraded on b: $DEGRADED_N/50"

[[ $BEFORE == 200 ]] && kit_pass "healthy registry: score 200" || kit_fail "score before corruption: HTTP $BEFORE"
[[ $RZ_CODE == 200 && $(jq -r .model.degraded "$KIT_DIR/readyz.json") == true ]] &&
    kit_pass "/readyz stays 200 and reports model.degraded=true" ||
    kit_fail "/readyz HTTP $RZ_CODE model $(jq -c .model "$KIT_DIR/readyz.json")"
[[ $AFTER_A == 200 ]] && kit_pass "running replica keeps scoring (HTTP 200)" || kit_fail "running replica: HTTP $AFTER_A"
[[ $AFTER_B == 200 && $(jq -r .degraded "$KIT_DIR/score_b.json") == true ]] &&
    kit_pass "new replica scores with the corrupt registry: HTTP 200, degraded=true" ||
    kit_fail "new replica: HTTP $AFTER_B degraded=$(jq -c .degraded "$KIT_DIR/score_b.json")"
((LOAD_OK)) && kit_pass "no 5xx in a 200-request batch on the degraded replica" || kit_fail "5xx while degraded"
((DEGRADED_N == 50)) && kit_pass "all 50 deals flagged degraded" || kit_fail "$DEGRADED_N/50 deals flagged degraded"
[[ $SLACK_BEFORE == 0 && $SLACK_AFTER == 1 ]] &&
    kit_pass "Slack: /deal-risk top shows the degraded-mode notice once, and only after the corruption" ||
    kit_fail "Slack degraded notices before=$SLACK_BEFORE after=$SLACK_AFTER: $(head -c 300 "$KIT_DIR/slack_b.json")"
[[ $GAUGE_BEFORE == 0 && $GAUGE_AFTER == 1 ]] &&
    kit_pass "metrics: skygeni_model_degraded{tenant=\"default\"} 0 before, 1 after" ||
    kit_fail "skygeni_model_degraded before=${GAUGE_BEFORE:-absent} after=${GAUGE_AFTER:-absent}"
kit_finish
