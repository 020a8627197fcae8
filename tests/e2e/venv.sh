# Sourced by run.sh and test_samples.sh: the venvs the end-to-end suites run in.
#
# ensure_venv DIR CHECK PIP-ARGS...: create DIR with $PYTHON (default python3) and install PIP-ARGS
# unless DIR's python can already run CHECK.
ensure_venv() {
    local venv="$1" check="$2"
    shift 2
    if [ -x "$venv/bin/python" ] && "$venv/bin/python" -c "$check" 2>/dev/null; then
        return 0
    fi
    echo "== creating $venv ($*)"
    "${PYTHON:-python3}" -m venv "$venv" &&
        "$venv/bin/python" -m pip install --quiet --upgrade pip &&
        "$venv/bin/python" -m pip install --quiet "$@" &&
        "$venv/bin/python" -c "$check"
}
