#!/usr/bin/env bash
# The test command: set up the environment, make Docker usable (when it can be), lint, run every test.
# Prints how long each stage took. Extra arguments go to pytest.
set -uo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
export TF_CPP_MIN_LOG_LEVEL=2
STAGES=()
stage() {  # stage NAME COMMAND...: run, time, remember
    local name="$1"; shift
    local start=$SECONDS
    echo "=== $name"
    "$@"
    local status=$?
    STAGES+=("$(printf '%-14s %5ds  exit %d' "$name" $((SECONDS - start)) "$status")")
    return $status
}
summary() { echo "=== stage times"; printf '%s\n' "${STAGES[@]}"; }
trap summary EXIT

stage setup bash scripts/setup.sh || exit 1
stage docker bash scripts/docker_setup.sh
case $? in
    0) ;;
    3) export KTS_DOCKER_UNAVAILABLE="scripts/docker_setup.sh could not start a Docker daemon" ;;
    *) export KTS_DOCKER_UNAVAILABLE="scripts/docker_setup.sh failed (see its output above)" ;;
esac
# Lint and format (configured in pyproject.toml) before the long test run; a failure is reported and
# fails the script, but the tests still run so one CI run shows both.
stage lint bash -c '.venv/bin/ruff check .; check=$?; .venv/bin/ruff format --check .; exit $((check || $?))'
lint=$?
stage pytest .venv/bin/python -m pytest "$@"
tests=$?
[ "$lint" -eq 0 ] || echo "=== lint failed: .venv/bin/ruff check . / .venv/bin/ruff format --check . (see above)"
[ "$tests" -ne 0 ] && exit "$tests"
exit "$lint"
