#!/usr/bin/env bash
# make soak: builds the release orch (unless ORCH_BIN names a binary), installs wrk with apt-get
# when missing, and runs bench/soak/soak.py. Exits non-zero on any violation.
#
#   bench/soak/run.sh                                   # release build in .build, SOAK_SECONDS=180
#   SOAK_SECONDS=600 bench/soak/run.sh                  # longer
#   SOAK_BUILD_PATH=.build-soak bench/soak/run.sh       # build elsewhere
#   ORCH_BIN=.build/debug/orch SOAK_SECONDS=20 bench/soak/run.sh   # the smoke step of make test
#   SOAK_RECORD=RELIABILITY.md bench/soak/run.sh        # write the figures there when it passes
set -euo pipefail
cd "$(dirname "$0")/../.."

command -v wrk >/dev/null || { echo "installing wrk"; sudo=""; [ "$(id -u)" = 0 ] || sudo=sudo; $sudo apt-get update -qq; $sudo apt-get install -y -qq wrk; }

if [ -z "${ORCH_BIN:-}" ]; then
  build_path=${SOAK_BUILD_PATH:-.build}
  swift build -c release --product orch --build-path "$build_path" >/dev/null
  ORCH_BIN="$PWD/$build_path/release/orch"
fi
export ORCH_BIN

record=()
[ -n "${SOAK_RECORD:-}" ] && record=(--record "$SOAK_RECORD")
exec python3 bench/soak/soak.py "${record[@]}"
