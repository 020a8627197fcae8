#!/usr/bin/env bash
# schemathesis against the built `orch serve` and the OpenAPI document it serves (test_openapi.py).
#
#   tests/e2e/test_openapi.sh                      # uses .build/debug/orch
#   ORCH_BIN=/path/to/orch tests/e2e/test_openapi.sh
#
# schemathesis is installed with pip into .venv-schemathesis at the repository root (override with
# SCHEMATHESIS_VENV) when missing, as run.sh sets up its venvs. ORCH_OPENAPI_MAX_EXAMPLES (default
# 50) bounds the test cases per operation; ORCH_OPENAPI_SEED replays a run; ORCH_OPENAPI_KEEP=1
# keeps the folder with orch.json and the cassettes.
set -u

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
PYTHON="${PYTHON:-python3}"
export ORCH_BIN="${ORCH_BIN:-$ROOT/.build/debug/orch}"
SCHEMATHESIS_VENV="${SCHEMATHESIS_VENV:-$ROOT/.venv-schemathesis}"
# The check names and report options used are schemathesis 4's.
SCHEMATHESIS_REQUIREMENT='schemathesis>=4.32,<5'
CHECK='import schemathesis, yaml; from importlib.metadata import version; assert version("schemathesis").split(".")[0] == "4"'

if [ ! -x "$ORCH_BIN" ]; then
    echo "test_openapi.sh: no orch binary at $ORCH_BIN (build it with 'swift build', or set ORCH_BIN)" >&2
    exit 2
fi

. "$HERE/venv.sh"
ensure_venv "$SCHEMATHESIS_VENV" "$CHECK" "$SCHEMATHESIS_REQUIREMENT" || {
    echo "test_openapi.sh: could not set up $SCHEMATHESIS_VENV" >&2
    exit 1
}

cd "$HERE" && exec "$SCHEMATHESIS_VENV/bin/python" test_openapi.py
