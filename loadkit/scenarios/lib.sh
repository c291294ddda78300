# shellcheck shell=bash
# Shared by the load/fault scenarios: build the binaries, start a throwaway PostgreSQL (never
# the machine's shared server: scenarios restart and kill it), start/stop `skygeni serve`
# replicas, and clean everything up on exit. Sourced; expects `set -euo pipefail`.

REPO_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
# shellcheck source=../../scripts/lib/pg.sh
source "$REPO_ROOT/scripts/lib/pg.sh"
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-/var/tmp/skygeni-target}
KIT_DIR=$(mktemp -d /tmp/skygeni-kit.XXXXXX)
KIT_PIDS=()
SKYGENI=$CARGO_TARGET_DIR/release/skygeni
LOADKIT=$CARGO_TARGET_DIR/release/skygeni-loadkit
FAKES=$CARGO_TARGET_DIR/release/skygeni-fakes
# Secrets shared by the replicas and the traffic generator (test values, loopback only).
export SKYGENI_JWT_SECRET=loadkit-jwt-secret-0123456789abcdef0123
export SLACK_SIGNING_SECRET=loadkit-slack-signing-secret-0123456789abcdef
export SKYGENI_ENCRYPTION_KEY=MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=
export RUST_LOG=${RUST_LOG:-warn}
# The kit measures the service, not the per-user quota: lift the API rate limits.
export SKYGENI_RATE_LIMIT_USER_PER_MIN=10000000
export SKYGENI_RATE_LIMIT_TENANT_PER_MIN=10000000

kit_log() { printf '==> [kit] %s\n' "$*" >&2; }
kit_pass() { printf 'PASS %s\n' "$*"; }
kit_fail() {
    printf 'FAIL %s\n' "$*"
    KIT_FAILED=1
}
KIT_FAILED=0

kit_cleanup() {
    local p
    for p in "${KIT_PIDS[@]}"; do
        kill "$p" 2>/dev/null || true
    done
    sleep 0.5
    for p in "${KIT_PIDS[@]}"; do
        kill -9 "$p" 2>/dev/null || true
    done
    pg_stop_throwaway
    rm -rf "$KIT_DIR"
}
trap kit_cleanup EXIT

kit_build() {
    kit_log "building release binaries (target dir $CARGO_TARGET_DIR)"
    (cd "$REPO_ROOT" && cargo build --release --quiet -p skygeni -p skygeni-loadkit -p skygeni-fakes)
}

# A throwaway cluster and one database in it; sets KIT_DB_URL.
kit_start_pg() {
    pg_start_throwaway || {
        kit_log "could not start a throwaway PostgreSQL"
        exit 2
    }
    local base=${PG_ADMIN_URL%/*}
    pg_psql "$PG_ADMIN_URL" -c "CREATE DATABASE skygeni_kit" >/dev/null
    KIT_DB_URL="$base/skygeni_kit"
    export SKYGENI_DATABASE_URL=$KIT_DB_URL
}

kit_pg_restart() {
    local down_secs=${1:-5}
    kit_log "stopping PostgreSQL for ${down_secs}s"
    pg_as_owner "$PG_THROWAWAY_BIN/pg_ctl" -D "$PG_THROWAWAY_DATA" -m fast -w stop >/dev/null
    sleep "$down_secs"
    pg_as_owner "$PG_THROWAWAY_BIN/pg_ctl" -D "$PG_THROWAWAY_DATA" -l "$PG_THROWAWAY_DIR/server.log" -w start >/dev/null
    kit_log "PostgreSQL is back"
}

kit_sql() { pg_psql "$KIT_DB_URL" -tA -c "$1"; }

# kit_serve NAME [serve flags...]: start a replica on a free port; sets KIT_PORT_<NAME>,
# KIT_PID_<NAME>; waits until /readyz answers 200 (at most 60 s).
kit_serve() {
    local name=$1
    shift
    local port
    port=$(pg_free_port)
    SKYGENI_BIND=127.0.0.1:$port "$SKYGENI" serve "$@" >"$KIT_DIR/$name.log" 2>&1 &
    local pid=$!
    KIT_PIDS+=("$pid")
    printf -v "KIT_PORT_$name" '%s' "$port"
    printf -v "KIT_PID_$name" '%s' "$pid"
    local i
    for i in $(seq 1 600); do
        if curl -fsS "http://127.0.0.1:$port/readyz" >/dev/null 2>&1; then
            kit_log "replica $name up on port $port (pid $pid)"
            return 0
        fi
        kill -0 "$pid" 2>/dev/null || {
            tail -20 "$KIT_DIR/$name.log" >&2
            kit_log "replica $name exited"
            exit 2
        }
        sleep 0.1
    done
    : "$i"
    kit_log "replica $name not ready after 60 s"
    exit 2
}

# kit_seed TENANT ROWS: a synthetic CRM export (one deal in five open) imported into the kit
# database for TENANT (created when missing), and the tenant's model trained on it.
kit_seed() {
    local tenant=${1:-default} rows=${2:-5000}
    [[ $tenant == default ]] || "$SKYGENI" tenant add "$tenant" >/dev/null 2>&1 || true
    "$LOADKIT" gen-csv --rows "$rows" --prefix "$tenant-" >"$KIT_DIR/$tenant.csv"
    "$SKYGENI" --tenant "$tenant" import --csv "$KIT_DIR/$tenant.csv" --as-of 2024-06-01 >/dev/null
    "$SKYGENI" --tenant "$tenant" train >/dev/null
}

kit_finish() {
    if [[ $KIT_FAILED -eq 0 ]]; then
        printf 'RESULT: PASS\n'
    else
        printf 'RESULT: FAIL\n'
    fi
    exit "$KIT_FAILED"
}

# Start skygeni-fakes (Slack, SendGrid, Salesforce on loopback) and point the replicas at it:
# sets FAKE_SLACK, FAKE_SENDGRID, FAKE_SALESFORCE (base URLs) and the SLACK_*/SENDGRID_* env.
# Extra arguments go to skygeni-fakes (e.g. --sf-opportunities 200), after KIT_FAKES_ARGS
# (e.g. --sendgrid-activity-per-minute 60).
kit_fakes() {
    # shellcheck disable=SC2086 # KIT_FAKES_ARGS is meant to split
    "$FAKES" ${KIT_FAKES_ARGS:-} "$@" >"$KIT_DIR/fakes.json" 2>"$KIT_DIR/fakes.log" &
    KIT_PIDS+=("$!")
    local i
    for i in $(seq 1 100); do
        [[ -s $KIT_DIR/fakes.json ]] && break
        sleep 0.1
    done
    : "$i"
    [[ -s $KIT_DIR/fakes.json ]] || {
        kit_log "skygeni-fakes did not start"
        exit 2
    }
    FAKE_SLACK=$(jq -r .slack_url "$KIT_DIR/fakes.json")
    FAKE_SENDGRID=$(jq -r .sendgrid_api_url "$KIT_DIR/fakes.json")
    FAKE_SALESFORCE=$(jq -r .salesforce_url "$KIT_DIR/fakes.json")
    export SLACK_API_URL
    SLACK_API_URL=$(jq -r .slack_api_url "$KIT_DIR/fakes.json")
    # A sender on a real-looking domain: `serve` refuses email from the skygeni@localhost default.
    export SLACK_BOT_TOKEN=xoxb-loadkit SENDGRID_API_URL=$FAKE_SENDGRID SENDGRID_API_KEY=SG.loadkit \
        SKYGENI_EMAIL_FROM=deals@loadkit.example
    kit_log "fakes: slack $FAKE_SLACK sendgrid $FAKE_SENDGRID salesforce $FAKE_SALESFORCE"
}

# kit_fault URL JSON: set a fault switch on a fake; kit_heal URL: clear it.
kit_fault() { curl -fsS -X POST -H 'content-type: application/json' -d "$2" "$1/_control/faults" >/dev/null; }
kit_heal() { curl -fsS -X DELETE "$1/_control/faults" >/dev/null; }
kit_calls() { curl -fsS "$1/_control/calls"; }

# kit_worker NAME [serve flags...]: a replica without HTTP (dispatcher/scheduler only); sets
# KIT_PID_<NAME>; checks it is still alive after a second.
kit_worker() {
    local name=$1
    shift
    "$SKYGENI" serve --no-http "$@" >"$KIT_DIR/$name.log" 2>&1 &
    local pid=$!
    KIT_PIDS+=("$pid")
    printf -v "KIT_PID_$name" '%s' "$pid"
    sleep 1
    kill -0 "$pid" 2>/dev/null || {
        tail -20 "$KIT_DIR/$name.log" >&2
        kit_log "worker $name exited"
        exit 2
    }
    kit_log "worker $name started (pid $pid)"
}

# Outbox rows per status as "created pending sending sent dead".
kit_outbox() {
    kit_sql "SELECT count(*) || ' ' || count(*) FILTER (WHERE status='pending') || ' ' || \
        count(*) FILTER (WHERE status='sending') || ' ' || count(*) FILTER (WHERE status='sent') \
        || ' ' || count(*) FILTER (WHERE status='dead') FROM outbox"
}

# kit_deliveries: what the fakes delivered and what the outbox marked sent. Sets SC / GC (the
# fakes' /_control/calls JSON), S_DELIVERED S_DUP (Slack DMs, repeats), G_ACCEPTED G_DUP
# (SendGrid emails, repeated keys), SLACK_SENT EMAIL_SENT (outbox rows sent) and prints them.
kit_deliveries() {
    SLACK_SENT=$(kit_sql "SELECT count(*) FROM outbox WHERE status='sent' AND channel='slack'")
    EMAIL_SENT=$(kit_sql "SELECT count(*) FROM outbox WHERE status='sent' AND channel='email'")
    SC=$(kit_calls "$FAKE_SLACK")
    GC=$(kit_calls "$FAKE_SENDGRID")
    S_DELIVERED=$(jq .messages_delivered <<<"$SC")
    S_DUP=$(jq .duplicate_messages <<<"$SC")
    G_ACCEPTED=$(jq .accepted <<<"$GC")
    G_DUP=$(jq .duplicates <<<"$GC")
    printf 'fake Slack: %s delivered, %s duplicate; fake SendGrid: %s accepted, %s duplicate; outbox sent: Slack %s, email %s\n' \
        "$S_DELIVERED" "$S_DUP" "$G_ACCEPTED" "$G_DUP" "$SLACK_SENT" "$EMAIL_SENT"
}

# kit_check_deliveries: after kit_deliveries, PASS/FAIL for "nothing sent twice" (0 repeats in
# either fake) and "the fakes agree with the database" (distinct deliveries = rows sent).
kit_check_deliveries() {
    ((S_DUP == 0 && G_DUP == 0)) && kit_pass "0 duplicate DMs, 0 duplicate emails" ||
        kit_fail "duplicates: Slack $S_DUP, SendGrid $G_DUP"
    ((S_DELIVERED - S_DUP == SLACK_SENT && G_ACCEPTED - G_DUP == EMAIL_SENT)) &&
        kit_pass "fakes' distinct deliveries = rows marked sent (Slack $SLACK_SENT, email $EMAIL_SENT)" ||
        kit_fail "fakes vs DB: Slack $((S_DELIVERED - S_DUP)) vs $SLACK_SENT, email $((G_ACCEPTED - G_DUP)) vs $EMAIL_SENT"
}

# kit_drain SECS: wait (at most SECS) until no outbox row is pending or sending.
kit_drain() {
    local limit=$1 i c
    for ((i = 0; i < limit; i++)); do
        c=$(kit_outbox)
        read -r _ p s _ _ <<<"$c"
        if [[ $p -eq 0 && $s -eq 0 ]]; then
            kit_log "outbox drained after ${i}s: $c"
            return 0
        fi
        ((i % 10 == 0)) && kit_log "outbox (created pending sending sent dead): $c"
        sleep 1
    done
    kit_log "outbox not drained after ${limit}s: $(kit_outbox)"
    return 1
}

# kit_slack_user TENANT SLACK_ID: an admin SkyGeni user already mapped to that Slack user, so
# signed slash commands and clicks from it get scored answers, not the how-to-link note.
kit_slack_user() {
    kit_sql "INSERT INTO users (tenant_id, user_id, email, name, role, slack_user_id, created_at) \
        VALUES ('$1', 'kit-admin', 'kit-admin@loadkit.test', 'Kit Admin', 'admin', '$2', '2024-06-01T00:00:00Z') \
        ON CONFLICT DO NOTHING" >/dev/null
}

# kit_slack_command URL TEXT: `/deal-risk TEXT` from U0LOADKIT in the fake's workspace (T0FAKE,
# what its auth.test reports), signed like Slack signs it; prints the JSON answer.
kit_slack_command() {
    local body ts sig
    body="team_id=T0FAKE&channel_id=C0LOADKIT&user_id=U0LOADKIT&command=%2Fdeal-risk&text=$(jq -rn --arg t "$2" '$t|@uri')&response_url=$(jq -rn --arg t "$FAKE_SLACK/response/kit" '$t|@uri')&trigger_id=1.2.3"
    ts=$(date +%s)
    sig=$(printf 'v0:%s:%s' "$ts" "$body" | openssl dgst -sha256 -hmac "$SLACK_SIGNING_SECRET" | sed 's/^.* //')
    curl -sS -H "x-slack-request-timestamp: $ts" -H "x-slack-signature: v0=$sig" \
        -H 'content-type: application/x-www-form-urlencoded' --data-binary "$body" "$1/slack/commands"
}

# kit_salesforce TENANT: connect the fake Salesforce org to TENANT with the JWT bearer flow (a
# throwaway RSA key; the fake checks the assertion's claims, not its signature) and run one
# sync, so signed webhooks for the fake org route to TENANT, signed with the secret the connect
# wrote into the org (exported as SALESFORCE_WEBHOOK_SECRET). Needs kit_fakes first.
kit_salesforce() {
    local tenant=$1
    openssl genrsa -out "$KIT_DIR/sf_jwt.pem" 2048 2>/dev/null
    export SALESFORCE_LOGIN_URL=$FAKE_SALESFORCE SALESFORCE_CLIENT_ID=fake-consumer-key \
        SALESFORCE_CLIENT_SECRET=fake-consumer-secret SALESFORCE_JWT_PRIVATE_KEY=$KIT_DIR/sf_jwt.pem
    "$SKYGENI" tenant add "$tenant" >/dev/null 2>&1 || true
    "$SKYGENI" --tenant "$tenant" sync --jwt-username kit@loadkit.test >"$KIT_DIR/sf_sync.txt" 2>&1 || {
        tail -20 "$KIT_DIR/sf_sync.txt" >&2
        kit_log "Salesforce connect/sync failed"
        exit 2
    }
    # Connecting wrote a secret for this org into its SkyGeni Settings; sign as its Apex would.
    SALESFORCE_WEBHOOK_SECRET=$(curl -fsS "$FAKE_SALESFORCE/_control/webhook_secret")
    [[ -n $SALESFORCE_WEBHOOK_SECRET ]] || {
        kit_log "the fake org holds no webhook secret after connecting"
        exit 2
    }
    export SALESFORCE_WEBHOOK_SECRET
}
