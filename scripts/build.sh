#!/usr/bin/env bash
# Build the ROS 2 package at the root with colcon into build/ and install/ (incremental; a few seconds
# when nothing changed). Where no real vision_msgs is installed, first builds the test-only package
# test/interfaces/vision_msgs (generated from the definitions in hit_core/interfaces/vision_msgs/msg/)
# into build/test_interfaces/, a prefix no normal workspace looks into; where
# a real one is found, that copy is removed so it can never shadow it.
#
# Usage: bash scripts/build.sh [extra colcon build arguments]   (scripts/setup_env.sh runs it)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
TEST_IFACES="$ROOT/build/test_interfaces"

log() { printf '[build] %s\n' "$*" >&2; }
die() { printf '[build] error: %s\n' "$*" >&2; exit 1; }

exec 9>"${TMPDIR:-/tmp}/hit_ros-build-$(printf '%s' "$ROOT" | sha256sum | cut -c1-16).lock"
flock 9

# shellcheck source=scripts/ros_env.sh
source "$ROOT/scripts/ros_env.sh"
command -v colcon >/dev/null || die "colcon not found; run 'bash scripts/setup_env.sh' first"

real_vision_msgs() {
    local prefix
    local IFS=:
    for prefix in ${AMENT_PREFIX_PATH:-}; do
        case "$prefix" in "$TEST_IFACES"/*) continue ;; esac
        [ -e "$prefix/share/ament_index/resource_index/packages/vision_msgs" ] && return 0
    done
    return 1
}

cd "$ROOT"
if real_vision_msgs; then
    if [ -d "$TEST_IFACES" ]; then
        log "a real vision_msgs is installed: removing the test-only copy in $TEST_IFACES"
        rm -rf "$TEST_IFACES"
    fi
else
    stamp="$(cat test/interfaces/vision_msgs/package.xml test/interfaces/vision_msgs/CMakeLists.txt \
        hit_core/interfaces/vision_msgs/msg/*.msg | sha256sum | cut -d' ' -f1)"
    if [ "$(cat "$TEST_IFACES/stamp" 2>/dev/null)" != "$stamp" ]; then
        log "no vision_msgs installed: building the test-only copy into $TEST_IFACES"
        colcon --log-base "$TEST_IFACES/log" build --base-paths test/interfaces/vision_msgs \
            --build-base "$TEST_IFACES/build" --install-base "$TEST_IFACES/install" \
            --cmake-args -DBUILD_TESTING=OFF
        printf '%s\n' "$stamp" > "$TEST_IFACES/stamp"
        source "$ROOT/scripts/ros_env.sh"
    fi
fi

log "colcon build of hit_ros"
colcon build "$@"
