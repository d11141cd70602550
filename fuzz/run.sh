#!/usr/bin/env bash
# Build the fuzz targets (nightly, cargo-fuzz) and run each for SECS seconds,
# one after the other, from the seed corpus kept in fuzz/corpus/TARGET (what
# libFuzzer adds goes to target/fuzz-corpus/TARGET, not into the repository).
# A crash fails the run; its input is left in fuzz/artifacts/TARGET/.
#
#   fuzz/run.sh 30                      every target, 30 s each (tests/run.sh)
#   fuzz/run.sh 600 layer_unpack        one target, 10 minutes
#   FUZZ_NO_BUILD=1 fuzz/run.sh ...     use the binaries already built
#   FUZZ_OPT_LEVEL=1 fuzz/run.sh 30     a quicker build for short runs (tests/run.sh)
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
secs=${1:-30}
shift || true
targets=("$@")
all=(request_path request_environ layer_unpack image_reference www_authenticate app_config lock_files)
[ ${#targets[@]} -gt 0 ] || targets=("${all[@]}")
# warp's build.rs would build the server extension again with the fuzzing
# flags: give it the one already built (tests/run.sh builds it first).
export WARP_SERVER_EXT="${WARP_SERVER_EXT:-$root/target/warpserver/release/lib_core.so}"
if [ -z "${FUZZ_NO_BUILD:-}" ]; then
  [ -f "$WARP_SERVER_EXT" ] || cargo build -q
  # One cargo build for all targets (cargo fuzz build takes one target or none).
  if [ $# -eq 1 ]; then one=("${targets[0]}"); else one=(); fi
  # FUZZ_OPT_LEVEL=1 (tests/run.sh's 30-second runs): LLVM's level 1 — 6.0 min
  # to build every target on 2 CPUs against 8.5 at level 3, for fewer runs a
  # second. The long runs leave it unset. (cargo-fuzz adds debuginfo itself.)
  if [ -n "${FUZZ_OPT_LEVEL:-}" ]; then
    export CARGO_PROFILE_RELEASE_OPT_LEVEL=$FUZZ_OPT_LEVEL
  fi
  cargo +nightly fuzz build -O --fuzz-dir fuzz "${one[@]}" 2>&1 | grep -v '^\s*Compiling' || true
  for t in "${targets[@]}"; do
    [ -x "fuzz/target/x86_64-unknown-linux-gnu/release/$t" ] || { echo "fuzz: $t did not build" >&2; exit 1; }
  done
fi
# request_environ embeds CPython, never finalized: what the interpreter
# allocated lives until exit, which LeakSanitizer would report then.
export LSAN_OPTIONS="suppressions=$root/fuzz/lsan-python.supp${LSAN_OPTIONS:+:$LSAN_OPTIONS}"
for t in "${targets[@]}"; do
  mkdir -p "target/fuzz-corpus/$t" "fuzz/artifacts/$t"
  echo "### fuzz $t for $secs s"
  "fuzz/target/x86_64-unknown-linux-gnu/release/$t" -max_total_time="$secs" -timeout=10 \
    -rss_limit_mb=2048 -print_final_stats=1 -artifact_prefix="fuzz/artifacts/$t/" \
    "target/fuzz-corpus/$t" "fuzz/corpus/$t" 2>&1 | grep -E '^(#[0-9]+ +DONE|Done|stat::number_of_executed_units|==[0-9]+==|SUMMARY|thread .* panicked|.*Test unit written)' || true
  # libFuzzer exits non-zero on a crash; the pipe hides it: check the artifacts.
  if ls "fuzz/artifacts/$t/" | grep -q .; then
    echo "fuzz: $t crashed; inputs in fuzz/artifacts/$t/" >&2
    exit 1
  fi
done
