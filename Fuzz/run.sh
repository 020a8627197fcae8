#!/usr/bin/env bash
# Builds the fuzz executables and runs fuzz targets, each for a while; exits non-zero when any
# target finds a crash, a hang or a broken property, and names the file holding that input.
#
#   Fuzz/run.sh                    # every target, FUZZ_SECONDS (default 60) each
#   Fuzz/run.sh json glob          # some targets
#   FUZZ_SECONDS=4 Fuzz/run.sh --core http     # the targets that need only OrchJSON/OrchPolicy, and http
#
# Targets: json compile env glob (orch-fuzz: OrchJSON, OrchPolicy), jsonrpc sse lines bearer
# (orch-fuzz-gateway: OrchGateway and NIO, a longer first build), http (Fuzz/http_fuzz.py against
# a running `orch serve`, ORCH_BIN, default .build/debug/orch).
#
# Each target starts from its seeds in Fuzz/Corpus/TARGET (never written to) and the inputs it
# found before, kept in BUILD/corpus/TARGET. A failing input goes to BUILD/crashes/TARGET/ (crash-…,
# timeout-…, oom-…), its log to BUILD/logs/TARGET.log; replay it with
# `BUILD/release/orch-fuzz[-gateway] TARGET FILE`. BUILD is FUZZ_BUILD_PATH, default .build-fuzz.
set -u

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/.." && pwd)"
cd "$ROOT"
SWIFT="${SWIFT:-swift}"
SECONDS_EACH="${FUZZ_SECONDS:-60}"
BUILD="${FUZZ_BUILD_PATH:-.build-fuzz}"
PYTHON="${PYTHON:-python3}"
export ORCH_BIN="${ORCH_BIN:-$ROOT/.build/debug/orch}"

CORE_TARGETS=(json compile env glob)
GATEWAY_TARGETS=(jsonrpc sse lines bearer)

targets=()
for arg in "$@"; do
    case "$arg" in
        --core) targets+=("${CORE_TARGETS[@]}") ;;
        --gateway) targets+=("${GATEWAY_TARGETS[@]}") ;;
        -*) echo "run.sh: unknown option $arg" >&2; exit 2 ;;
        *) targets+=("$arg") ;;
    esac
done
[ "${#targets[@]}" -gt 0 ] || targets=("${CORE_TARGETS[@]}" "${GATEWAY_TARGETS[@]}" http)

executable_of() {
    case " ${CORE_TARGETS[*]} " in *" $1 "*) echo orch-fuzz; return ;; esac
    case " ${GATEWAY_TARGETS[*]} " in *" $1 "*) echo orch-fuzz-gateway; return ;; esac
    [ "$1" = http ] && { echo python; return; }
    echo "run.sh: unknown target $1 (targets: ${CORE_TARGETS[*]} ${GATEWAY_TARGETS[*]} http)" >&2
    exit 2
}

# libFuzzer without its main (the executables have their own), from the toolchain's clang runtime.
fuzzer_library() {
    local swiftc resource
    swiftc="$(command -v swiftc || true)"
    [ -n "$swiftc" ] || { echo "run.sh: no swiftc on PATH" >&2; return 1; }
    swiftc="$(readlink -f "$swiftc")"
    resource="$(dirname "$(dirname "$swiftc")")/lib"
    find "$resource/clang" "$resource/swift/clang" -name 'libclang_rt.fuzzer_no_main-x86_64.a' -o -name 'libclang_rt.fuzzer_no_main-aarch64.a' 2>/dev/null | head -1
}

products=()
for t in "${targets[@]}"; do
    p="$(executable_of "$t")" || exit 2
    [ "$p" = python ] && continue
    case " ${products[*]-} " in *" $p "*) ;; *) products+=("$p") ;; esac
done

if [ "${#products[@]}" -gt 0 ]; then
    lib="$(fuzzer_library)"
    if [ -z "$lib" ]; then
        echo "run.sh: this toolchain has no libclang_rt.fuzzer_no_main: libFuzzer is not available" >&2
        exit 2
    fi
    # Pin the dependencies to the project's versions when the fuzz package has none of its own yet.
    [ -f Fuzz/Package.resolved ] || [ ! -f Package.resolved ] || cp Package.resolved Fuzz/Package.resolved
    mkdir -p "$BUILD/logs"
    for p in "${products[@]}"; do
        echo "== building $p in $BUILD (log: $BUILD/logs/build-$p.log)"
        if ! "$SWIFT" build -c release --package-path Fuzz --build-path "$BUILD" --product "$p" \
            -Xlinker --whole-archive -Xlinker "$lib" -Xlinker --no-whole-archive -Xlinker -lstdc++ \
            > "$BUILD/logs/build-$p.log" 2>&1; then
            grep -E "error:" "$BUILD/logs/build-$p.log" | head -20
            tail -20 "$BUILD/logs/build-$p.log"
            echo "run.sh: building $p failed"
            exit 1
        fi
    done
fi
BIN="$("$SWIFT" build -c release --package-path Fuzz --build-path "$BUILD" --show-bin-path)"

failed=()
summary=()
for t in "${targets[@]}"; do
    p="$(executable_of "$t")"
    mkdir -p "$BUILD/corpus/$t" "$BUILD/crashes/$t" "$BUILD/logs"
    log="$BUILD/logs/$t.log"
    echo "== fuzz $t for ${SECONDS_EACH}s (log: $log)"
    if [ "$p" = python ]; then
        "$PYTHON" "$HERE/http_fuzz.py" --seconds "$SECONDS_EACH" --orch "$ORCH_BIN" \
            --corpus "$HERE/Corpus/http" --crashes "$BUILD/crashes/$t" > "$log" 2>&1
        status=$?
        runs="$(sed -n 's/^http_fuzz: \([0-9]*\) requests.*/\1/p' "$log" | tail -1)"
        unit=requests
    else
        dict=()
        [ -f "$HERE/Corpus/$t.dict" ] && dict=("-dict=$HERE/Corpus/$t.dict")
        "$BIN/$p" "$t" -max_total_time="$SECONDS_EACH" -timeout=10 -rss_limit_mb=4096 -print_final_stats=1 \
            -artifact_prefix="$BUILD/crashes/$t/" "${dict[@]}" "$BUILD/corpus/$t" "$HERE/Corpus/$t" > "$log" 2>&1
        status=$?
        runs="$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)"
        unit=executions
    fi
    if [ "$status" -eq 0 ]; then
        summary+=("fuzz $t: ${runs:-?} $unit in ${SECONDS_EACH}s, no failure")
    else
        failed+=("$t")
        summary+=("fuzz $t: FAILED (status $status)")
        echo "---- $t failed; the end of $log:"
        tail -40 "$log"
        for f in $(ls -t "$BUILD/crashes/$t" 2>/dev/null | head -1); do
            echo "---- failing input: $BUILD/crashes/$t/$f"
            [ "$p" = python ] || echo "---- replay: $BIN/$p $t $BUILD/crashes/$t/$f"
        done
    fi
done

echo
printf '%s\n' "${summary[@]}"
if [ "${#failed[@]}" -gt 0 ]; then
    echo "== fuzz: failed: ${failed[*]}"
    exit 1
fi
echo "== fuzz: every target passed"
