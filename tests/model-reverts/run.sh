#!/usr/bin/env bash
# With each fix for the outside attack's findings reverted in turn (the patches beside this
# script), the lifecycle model must find the finding by itself. Prints, for each, the shrunk
# sequence with what the service answered at each step, and what broke; exits 1 if any
# revert goes unnoticed.
#
#   bash tests/model-reverts/run.sh              # the invariants alone (no model answers)
#   bash tests/model-reverts/run.sh full         # the model's answers and the invariants
#   bash tests/model-reverts/run.sh invariants 6 9   # only the patches numbered 6 and 9
#
# MFA_MODEL_SECONDS (default 300) bounds each search. Builds the committed HEAD with each
# patch in a git worktree, into its own target directory (target/model-reverts/target):
# worktrees of one workspace build artifacts of the same names, so sharing the checkout's
# target directory while anything else builds or tests in it would mix reverted code into
# that run. MFA_REVERTS_TARGET names another directory (tests/run-all.sh, which runs this
# last and alone, passes the checkout's own to save a build). MFA_REVERTS_BASE=worktree
# builds the checkout as it stands instead of HEAD (its uncommitted changes and new files
# too), for reverts of work not committed yet.
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$PWD
case "${1:-invariants}" in
  full) check=full ;;
  invariants) check=invariants ;;
  *) echo "usage: $0 [invariants|full] [patch number ...]" >&2; exit 2 ;;
esac
selected=" ${*:2} "
base="${MFA_REVERTS_BASE:-head}"
case "$base" in
  head | worktree) ;;
  *) echo "MFA_REVERTS_BASE is head or worktree, not $base" >&2; exit 2 ;;
esac
work="$root/target/model-reverts"
mkdir -p "$work"
export CARGO_TARGET_DIR="${MFA_REVERTS_TARGET:-$work/target}"
# The reverted builds leave artifacts under the workspace's own names, which a later build
# of the checkout may take as fresh: when the target directory is shared, the workspace's
# packages are cleaned from it on the way out, so the next build of the checkout rebuilds
# them from its own sources.
forget_reverted() {
  local packages
  packages=$(cargo metadata --no-deps --format-version 1 --offline 2>/dev/null |
    python3 -c 'import json, sys; print(" ".join("-p " + p["name"] for p in json.load(sys.stdin)["packages"]))')
  # shellcheck disable=SC2086 # one word per package
  [ -n "$packages" ] && cargo clean -q $packages
}
if [ -n "${MFA_REVERTS_TARGET:-}" ]; then
  trap forget_reverted EXIT
fi
missed=0
for patch in tests/model-reverts/*.patch; do
  name=$(basename "$patch" .patch)
  if [ "$selected" != "  " ] && [[ "$selected" != *" ${name%%-*} "* ]]; then
    continue
  fi
  dir="$work/$name"
  git worktree remove --force "$dir" 2>/dev/null || rm -rf "$dir"
  git worktree add --detach -q "$dir" HEAD
  if [ "$base" = worktree ]; then
    if ! git diff --quiet HEAD; then
      git diff --binary HEAD | (cd "$dir" && git apply)
    fi
    git ls-files --others --exclude-standard -z | while IFS= read -r -d '' file; do
      mkdir -p "$dir/$(dirname "$file")"
      cp "$file" "$dir/$file"
    done
  fi
  if ! (cd "$dir" && git apply "$root/$patch"); then
    echo "=== $name: the patch does not apply to the $base build (MFA_REVERTS_BASE=worktree for uncommitted work)"
    missed=1
    git worktree remove --force "$dir"
    continue
  fi
  log="$work/$name.$check.log"
  echo "=== $name ($check checks): $(head -n 1 "$patch")"
  started=$(date +%s)
  if (cd "$dir" && MFA_MODEL_CHECK=$check MFA_MODEL_SECONDS="${MFA_MODEL_SECONDS:-300}" \
      cargo test -q -p mfa-tests --test lifecycle the_lifecycle_holds_on_the_memory_store -- --nocapture) \
      >"$log" 2>&1; then
    echo "MISSED: the search passed with the fix reverted ($(grep -o '[0-9]* sequences.*passed in [0-9.]* s' "$log"))"
    missed=1
  else
    echo "FOUND in $(( $(date +%s) - started )) s (build included):"
    grep -m 1 -o 'seed [0-9a-f]*: a sequence of [0-9]* steps[^:]*' "$log" || true
    sed -n '/^with its trace:$/,/^\(stack backtrace\|note: \)/p' "$log" | sed '1d;$d'
  fi
  # The sequences kept as regression tests must fail too with the fix reverted.
  if (cd "$dir" && cargo test -q -p mfa-tests --test lifecycle the_sequences_found_so_far_hold_on_the_memory_store) \
      >"$log.kept" 2>&1; then
    echo "MISSED: the kept regression sequences pass with the fix reverted"
    missed=1
  else
    echo "the kept regression sequences fail too, first: $(grep -m 1 -A 1 'panicked at' "$log.kept" | sed -n 2p)"
  fi
  git worktree remove --force "$dir"
done
exit "$missed"
