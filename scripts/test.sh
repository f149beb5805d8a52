#!/usr/bin/env bash
# The project's test command (the README's, and what CI runs).
# 1. Builds everything in Release and runs the whole suite with the widest vector path this CPU has.
# 2. Re-runs the kernel and model-conformance suites with the vector path forced to 256-bit, 128-bit and scalar.
# Conformance tests read ../shared; where it is missing they say so in one line and count as skipped.
set -uo pipefail
cd "$(dirname "$0")/.."

bash scripts/install-deps.sh || exit 1
dotnet build Frugal.slnx -c Release -v q --nologo || exit 1

log=$(mktemp)
status=0
run_tests() { # simd-setting filter project...
  local simd=$1 filter=$2; shift 2
  for project in "$@"; do
    echo "== $project (FRUGAL_SIMD=${simd:-native}${filter:+, $filter})"
    FRUGAL_SIMD=$simd dotnet test "$project" -c Release --no-build --nologo -v q ${filter:+--filter "$filter"} 2>&1 | tee -a "$log"
    [ "${PIPESTATUS[0]}" -eq 0 ] || status=1
  done
}

run_tests "" "" Frugal.slnx
for width in 256 128 scalar; do
  run_tests "$width" "" tests/Frugal.Numerics.Tests tests/Frugal.Quants.Tests
  run_tests "$width" "FullyQualifiedName~Conformance|FullyQualifiedName~Sessions|FullyQualifiedName~Batching|FullyQualifiedName~Kernels" tests/Frugal.Models.Tests
done

sum() { grep -oE "$1: +[0-9]+" "$log" | awk '{s+=$2} END {print s+0}'; }
echo "tests: $(sum Passed) passed, $(sum Failed) failed, $(sum Skipped) skipped"
rm -f "$log"
exit $status
