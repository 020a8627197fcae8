#!/usr/bin/env bash
# End-to-end tests of the built `orch`: the stdlib HTTP and fault-injection tests with the system
# python3, then the official MCP Python SDK tests, 1.x (mcp<2) and 2.x (mcp>=2), each in its own venv,
# then schemathesis against the served OpenAPI document (test_openapi.sh, venv .venv-schemathesis).
#
#   tests/e2e/run.sh                      # uses .build/debug/orch
#   ORCH_BIN=/path/to/orch tests/e2e/run.sh
#
# The venvs are .venv-mcp1 and .venv-mcp2 at the repository root (override with MCP1_VENV /
# MCP2_VENV); missing ones are created with `python3 -m venv` and pip. The remote-upstream tests
# run their FastMCP server with the 1.x venv's python. Exits non-zero if any suite fails.
set -u

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
PYTHON="${PYTHON:-python3}"
export ORCH_BIN="${ORCH_BIN:-$ROOT/.build/debug/orch}"
MCP1_VENV="${MCP1_VENV:-$ROOT/.venv-mcp1}"
MCP2_VENV="${MCP2_VENV:-$ROOT/.venv-mcp2}"

if [ ! -x "$ORCH_BIN" ]; then
    echo "run.sh: no orch binary at $ORCH_BIN (build it with 'swift build', or set ORCH_BIN)" >&2
    exit 2
fi

# ensure_venv DIR CHECK PIP-ARGS... (venv.sh)
. "$HERE/venv.sh"

# ensure_package PACKAGE FILE: Debian's PACKAGE, installed with apt-get when FILE is missing (with
# sudo unless root, as the Makefile's deps target does): nginx and wrk for the replica tests,
# chromium and chromium-driver for the dashboard tests (headless, through selenium).
ensure_package() {
    [ -x "$2" ] && return 0
    if ! command -v apt-get >/dev/null 2>&1; then
        echo "run.sh: the tests need $2 (Debian: $1)" >&2
        return 1
    fi
    echo "== installing $1"
    local sudo=""
    [ "$(id -u)" = 0 ] || sudo=sudo
    $sudo apt-get update -qq && $sudo apt-get install -y -qq "$1" && [ -x "$2" ]
}

ensure_chromium() {
    ensure_package chromium /usr/bin/chromium && ensure_package chromium-driver /usr/bin/chromedriver
}

failed=()

run_suite() {
    local name="$1"
    shift
    echo
    echo "== $name: $*"
    if (cd "$HERE" && "$@"); then
        echo "== $name: passed"
    else
        echo "== $name: FAILED"
        failed+=("$name")
    fi
}

run_suite "gateway (stdlib)" "$PYTHON" test_gateway.py
run_suite "faults (stdlib)" "$PYTHON" test_faults.py
run_suite "fast path (stdlib)" "$PYTHON" test_fast_path.py
run_suite "JSON relayed as it came (stdlib)" "$PYTHON" test_json_passthrough.py
run_suite "slow clients (stdlib)" "$PYTHON" test_slow_clients.py

# oidc-provider-mock: the OpenID Connect provider of the single sign-on tests (0.3.4: the last for
# Python 3.11; oidc_provider.py relies on its internals, so it is pinned).
# selenium: drives Chromium in the dashboard tests. authlib and flask (which oidc-provider-mock brings)
# make the connected-accounts tests' authorization server (oauth_server.py); PyJWT comes with mcp.
# The 2.x venv first: its python also runs the 2026-07-28 upstream (modern_upstream.py) of the 1.x suite.
mcp2_ready=false
if ensure_venv "$MCP2_VENV" "from mcp import Client; import uvicorn, httpx2" 'mcp>=2' uvicorn; then
    mcp2_ready=true
    export ORCH_MCP2_PYTHON="$MCP2_VENV/bin/python"
fi

if ensure_venv "$MCP1_VENV" "import mcp.client.sse, mcp.server.fastmcp, uvicorn, httpx, oidc_provider_mock, selenium, authlib, flask, jwt" 'mcp<2' uvicorn 'oidc-provider-mock==0.3.4' selenium; then
    export ORCH_FASTMCP_PYTHON="$MCP1_VENV/bin/python"
    run_suite "MCP SDK 1.x" "$MCP1_VENV/bin/python" test_mcp_sdk1.py
    run_suite "client configs (MCP SDK 1.x)" "$MCP1_VENV/bin/python" test_client_configs_sdk1.py
    run_suite "interactive (MCP SDK 1.x)" "$MCP1_VENV/bin/python" test_interactive_sdk1.py
    run_suite "authorization (MCP SDK 1.x)" "$MCP1_VENV/bin/python" test_authz_sdk1.py
    run_suite "aggregated endpoints (MCP SDK 1.x)" "$MCP1_VENV/bin/python" test_aggregate_sdk1.py
    run_suite "tool views: overrides, toolsets, search, healing (MCP SDK 1.x)" "$MCP1_VENV/bin/python" test_tool_views_sdk1.py
    run_suite "single sign-on (MCP SDK 1.x, oidc-provider-mock)" "$MCP1_VENV/bin/python" test_sso_sdk1.py
    run_suite "per-user credentials (MCP SDK 1.x)" "$MCP1_VENV/bin/python" test_user_secrets_sdk1.py
    run_suite "a 2026-07-28 server (MCP SDK 1.x client, SDK 2.x server)" "$MCP1_VENV/bin/python" test_modern_upstream_sdk1.py
    if ensure_package nginx /usr/sbin/nginx && ensure_package wrk /usr/bin/wrk; then
        run_suite "replicas behind nginx, round-robin (MCP SDK 1.x)" "$MCP1_VENV/bin/python" test_replicas_sdk1.py
        if $mcp2_ready; then
            run_suite "replicas behind nginx, round-robin (MCP SDK 2.x, 2026-07-28)" "$MCP2_VENV/bin/python" test_replicas_sdk2.py
        fi
    else
        echo "== replicas behind nginx: FAILED (could not install nginx and wrk)"
        failed+=("replicas behind nginx")
    fi
    if ensure_chromium; then
        run_suite "dashboard (Chromium, Selenium)" "$MCP1_VENV/bin/python" test_dashboard.py
        run_suite "connected accounts (MCP SDK 1.x, Authlib, Chromium)" "$MCP1_VENV/bin/python" test_connected_accounts_sdk1.py
        run_suite "approval (MCP SDK 1.x, Chromium)" "$MCP1_VENV/bin/python" test_approval_sdk1.py
    else
        echo "== dashboard (Chromium, Selenium): FAILED (could not install chromium and chromium-driver)"
        failed+=("dashboard (Chromium, Selenium)")
    fi
else
    echo "== MCP SDK 1.x: FAILED (could not set up $MCP1_VENV)"
    failed+=("MCP SDK 1.x (venv)")
fi

if $mcp2_ready; then
    run_suite "MCP SDK 2.x" "$MCP2_VENV/bin/python" test_mcp_sdk2.py
    run_suite "authorization (MCP SDK 2.x)" "$MCP2_VENV/bin/python" test_authz_sdk2.py
    run_suite "aggregated endpoints (MCP SDK 2.x)" "$MCP2_VENV/bin/python" test_aggregate_sdk2.py
    run_suite "tool views: overrides, toolsets, search, healing (MCP SDK 2.x)" "$MCP2_VENV/bin/python" test_tool_views_sdk2.py
    run_suite "a 2026-07-28 server (MCP SDK 2.x)" "$MCP2_VENV/bin/python" test_modern_upstream_sdk2.py
    run_suite "approval (MCP SDK 2.x)" "$MCP2_VENV/bin/python" test_approval_sdk2.py
else
    echo "== MCP SDK 2.x: FAILED (could not set up $MCP2_VENV)"
    failed+=("MCP SDK 2.x (venv)")
fi

# schemathesis against the served OpenAPI document; the script sets up .venv-schemathesis itself.
run_suite "OpenAPI (schemathesis)" bash test_openapi.sh
run_suite "deployment samples (systemd, Kubernetes, Dockerfile, make install)" bash test_samples.sh

echo
if [ "${#failed[@]}" -gt 0 ]; then
    printf '== failed: %s\n' "${failed[@]}"
    exit 1
fi
echo "== all e2e suites passed"
