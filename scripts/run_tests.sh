#!/usr/bin/env bash
# Run the test suite under the ROS 2 environment (scripts/ros_env.sh). Arguments go to pytest; without any,
# pytest runs every test under test/. ROS tests must run here (HIT_REQUIRE_ROS=1 turns their skips into
# failures), and a run that collects no test fails: pytest's exit status 5 is not a success.
#
# Usage: bash scripts/run_tests.sh [pytest arguments]   (`make test` sets up first, then runs this)
set -uo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
# shellcheck source=scripts/ros_env.sh
source "$ROOT/scripts/ros_env.sh"
export HIT_REQUIRE_ROS=1

python -m pytest "$@"
status=$?
if [ "$status" -eq 5 ]; then
    echo "error: pytest collected no tests (exit status 5); a test run that runs nothing is a failure" >&2
    exit 1
fi
exit "$status"
