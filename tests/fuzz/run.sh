#!/usr/bin/env bash
# Builds the fuzz targets with libFuzzer and sanitizer coverage on the stable toolchain,
# replays each target's committed corpus and regressions, then fuzzes each for a bounded
# time. Exits non-zero if any input crashes, times out or runs out of memory.
#
#   bash tests/fuzz/run.sh                      # every target, 30 s each
#   FUZZ_SECONDS=600 bash tests/fuzz/run.sh otp_code destination
#   bash tests/fuzz/run.sh --capture-seeds     # re-capture the WebAuthn seeds and fixtures
#
# Environment: FUZZ_SECONDS (per target, default 30), FUZZ_JOBS (cargo build jobs),
# CARGO_TARGET_DIR (default <repo>/target/fuzz). New corpus entries go to a scratch copy
# under the target dir, never into tests/fuzz/corpus.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$root/target/fuzz}"
export CARGO_TERM_COLOR=never
seconds=${FUZZ_SECONDS:-30}
all_targets=(otp_code destination webauthn_response ids_labels store_records sql_rows)
if [ "$#" -gt 0 ]; then targets=("$@"); else targets=("${all_targets[@]}"); fi

# libFuzzer options: a crash, a single input running over 10 s, or 2 GiB of memory fails.
libfuzzer_opts=(-rss_limit_mb=2048 -malloc_limit_mb=2048 -timeout=10 -print_final_stats=1)

# What `cargo fuzz build --sanitizer none --debug-assertions` passes, all of it stable:
# coverage counters, PC tables and comparison tracing for libFuzzer, and `--cfg fuzzing`.
# An explicit --target keeps these flags off build scripts and proc macros.
host=$(rustc -vV | sed -n 's/^host: //p')
export RUSTFLAGS="-Cpasses=sancov-module \
-Cllvm-args=-sanitizer-coverage-level=4 \
-Cllvm-args=-sanitizer-coverage-inline-8bit-counters \
-Cllvm-args=-sanitizer-coverage-pc-table \
-Cllvm-args=-sanitizer-coverage-trace-compares \
--cfg fuzzing -Cdebug-assertions -Coverflow-checks"

if [ "${1:-}" = "--capture-seeds" ]; then
  # examples/seeds.rs shares the targets' build flags, so their compiled dependencies.
  cargo run --manifest-path "$here/Cargo.toml" --release --locked --target "$host" --example seeds -- "$here"
  exit 0
fi

echo "=== build fuzz targets (release, debug assertions, $host) ==="
build_start=$(date +%s)
cargo build --manifest-path "$here/Cargo.toml" --release --locked --target "$host" --bins \
  ${FUZZ_JOBS:+--jobs "$FUZZ_JOBS"}
echo "build: $(( $(date +%s) - build_start )) s"
bin_dir="$CARGO_TARGET_DIR/$host/release"
scratch="$CARGO_TARGET_DIR/runs"

failed=()
summary=()
for t in "${targets[@]}"; do
  bin="$bin_dir/$t"
  [ -x "$bin" ] || { echo "no such fuzz target: $t" >&2; exit 2; }
  work="$scratch/$t"
  rm -rf "$work"
  mkdir -p "$work/corpus" "$work/artifacts"

  # 1. Regression: every committed input, run once each.
  mapfile -t inputs < <(find "$here/corpus/$t" "$here/regressions/$t" -type f 2>/dev/null | sort)
  echo "=== $t: replay ${#inputs[@]} committed inputs ==="
  if [ "${#inputs[@]}" -gt 0 ]; then
    if ! "$bin" "${libfuzzer_opts[@]}" -artifact_prefix="$work/artifacts/" "${inputs[@]}" >"$work/replay.log" 2>&1; then
      tail -n 40 "$work/replay.log"
      summary+=("fuzz $t: replay of the committed corpus FAILED (log: $work/replay.log)")
      failed+=("$t")
      continue
    fi
  fi

  # 2. Fuzz: new inputs go to the scratch corpus (the first directory); the committed one is
  # only read.
  echo "=== $t: fuzz for $seconds s ==="
  status=0
  "$bin" "${libfuzzer_opts[@]}" -max_total_time="$seconds" -artifact_prefix="$work/artifacts/" \
    "$work/corpus" "$here/corpus/$t" >"$work/fuzz.log" 2>&1 || status=$?
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$work/fuzz.log" | tail -n 1)
  took=$(sed -n 's/^Done [0-9]* runs in \([0-9]*\) second.*/\1/p' "$work/fuzz.log" | tail -n 1)
  corpus=$(grep -o 'corp: [0-9]*' "$work/fuzz.log" | tail -n 1 | grep -o '[0-9]*' || true)
  crashes=$(find "$work/artifacts" -type f | wc -l)
  if [ "$status" -ne 0 ] || [ "$crashes" -ne 0 ]; then
    tail -n 60 "$work/fuzz.log"
    summary+=("fuzz $t: ${execs:-?} executions, $crashes crashes, exit $status; inputs in $work/artifacts/ (log: $work/fuzz.log)")
    failed+=("$t")
  else
    summary+=("fuzz $t: ${execs:-?} executions in ${took:-$seconds} s, corpus ${corpus:-?} inputs, 0 crashes")
  fi
done

echo
echo "=== fuzz summary ==="
printf '%s\n' "${summary[@]}"
if [ "${#failed[@]}" -gt 0 ]; then
  echo "failing targets: ${failed[*]} (a new crashing input belongs in tests/fuzz/regressions/<target>/)" >&2
  exit 1
fi
