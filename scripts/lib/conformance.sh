# shellcheck shell=bash
# Helpers for scripts/conformance and its witnesses in scripts/conformance.d/.
#
# Sourced, not executed. Every witness gets these variables:
#   REPO_ROOT      the clone
#   CONF_HOME      where installed tools live between runs (venv, npm prefix);
#                  a fresh machine starts empty and everything is installed here
#   CONF_OUT       artefacts a person may want to look at (screenshots, corpora):
#                  $REPO_ROOT/target/conformance/<witness>
#   CARGO_TARGET_DIR  shared with scripts/test
# and these functions:
#   conf_log MSG            progress line
#   conf_fail MSG           print and exit 1 (the witness failed)
#   conf_apt PKG...         Debian packages, installed only when missing
#   conf_pip SPEC...        packages in the shared venv ($CONF_HOME/venv); prints nothing on a hit
#   conf_python             path of the venv's python (after conf_pip)
#   conf_npm SPEC...        npm packages in $CONF_HOME/npm (bin dir put on PATH)
#   conf_bin NAME           builds a workspace binary (skygeni, skygeni-fakes, ...) once, prints its path
#   conf_free_port          an unused loopback TCP port
#   conf_wait_http URL [S]  waits up to S seconds (default 60) for a 2xx/4xx answer
#   conf_on_exit CMD        runs CMD when the witness exits (stop servers, ...)

conf_log() { printf '    [%s] %s\n' "${CONF_NAME:-conformance}" "$*" >&2; }
conf_fail() {
    printf '    [%s] FAIL: %s\n' "${CONF_NAME:-conformance}" "$*" >&2
    exit 1
}

_CONF_EXIT_CMDS=()
conf_on_exit() { _CONF_EXIT_CMDS+=("$*"); }
_conf_run_exit() {
    local c
    for c in "${_CONF_EXIT_CMDS[@]}"; do eval "$c" || true; done
}
trap _conf_run_exit EXIT

conf_apt() {
    local missing=() p
    for p in "$@"; do
        dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
    done
    [[ ${#missing[@]} -eq 0 ]] && return 0
    if [[ $(id -u) -ne 0 ]]; then
        conf_fail "needs Debian packages ${missing[*]} (run as root, or: sudo apt-get install ${missing[*]})"
    fi
    conf_log "apt-get install ${missing[*]}"
    # One update per run; a lock held by another apt is waited for, not fought.
    if [[ ! -f $CONF_HOME/.apt-updated-$$ ]]; then
        DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=300 update -qq >&2
        : >"$CONF_HOME/.apt-updated-$$"
    fi
    DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=300 install -y -qq --no-install-recommends "${missing[@]}" >&2
}

conf_python() { printf '%s\n' "$CONF_HOME/venv/bin/python"; }

conf_pip() {
    if [[ ! -x $CONF_HOME/venv/bin/python ]]; then
        conf_log "creating venv in $CONF_HOME/venv"
        python3 -m venv "$CONF_HOME/venv" >&2
        "$CONF_HOME/venv/bin/python" -m pip install -q --upgrade pip >&2
    fi
    # pip's own resolver says whether anything is missing; -q keeps a warm run silent.
    "$CONF_HOME/venv/bin/python" -m pip install -q --disable-pip-version-check "$@" >&2
}

conf_npm() {
    mkdir -p "$CONF_HOME/npm"
    local missing=() spec name
    for spec in "$@"; do
        name=${spec%@*}
        [[ -z $name ]] && name=$spec # a scoped name without version: @scope/pkg
        [[ -d $CONF_HOME/npm/node_modules/$name ]] || missing+=("$spec")
    done
    if [[ ${#missing[@]} -gt 0 ]]; then
        conf_log "npm install ${missing[*]}"
        npm install --prefix "$CONF_HOME/npm" --no-audit --no-fund --loglevel=error "${missing[@]}" >&2
    fi
    export PATH="$CONF_HOME/npm/node_modules/.bin:$PATH"
}

conf_bin() {
    local name=$1
    [[ $name == fakes ]] && name=skygeni-fakes
    # The same build as scripts/test (`cargo test --workspace --no-run` builds every binary
    # for the integration tests): a `-p` build would unify features differently and compile
    # the dependencies a second time (about 15 minutes on a cold 2-core machine).
    if [[ -z ${_CONF_BUILT:-} ]]; then
        (cd "$REPO_ROOT" && cargo test --workspace --no-run -q >&2) || conf_fail "cargo test --workspace --no-run failed"
        _CONF_BUILT=1
    fi
    [[ -x $CARGO_TARGET_DIR/debug/$name ]] || conf_fail "no binary $name in $CARGO_TARGET_DIR/debug"
    printf '%s\n' "$CARGO_TARGET_DIR/debug/$name"
}

conf_free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

conf_wait_http() {
    local url=$1 secs=${2:-60} i
    for ((i = 0; i < secs * 4; i++)); do
        if curl -s -o /dev/null -m 2 -w '%{http_code}' "$url" 2>/dev/null | grep -q '^[234]'; then
            return 0
        fi
        sleep 0.25
    done
    conf_fail "nothing answered at $url within ${secs}s"
}
