#!/usr/bin/env bash
# The demo (`make demo` sets everything up first, then runs this):
#   1. the bundled OTB-100 "Crossing" sequence (hit_core/assets/sequences/Crossing) becomes a rosbag2 (MCAP);
#   2. the HiT tracker node starts on ONNX Runtime (CPU) and the bag is replayed into it at its recorded
#      30 Hz; the target is set through the node's ~/set_target service with the first ground-truth box;
#   3. what a robot listening to ~/detections saw is scored beside an offline run of the same bag, and
#      the annotated video, metrics table, latency report and diagnostics are written to the output folder.
#
# Usage: bash scripts/demo.sh [CHECKPOINT]      or      HIT_CHECKPOINT=/path/to/weights.pth make demo
# Weights: CHECKPOINT, else $HIT_CHECKPOINT, else the bundled demo weights; with none of them the network is
# untrained and the demo says so loudly. Output folder: $HIT_DEMO_OUTPUT (default: out/demo).
# Variant: $HIT_VARIANT (tiny, small or base; default tiny).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
CHECKPOINT="${1:-${HIT_CHECKPOINT:-}}"
OUTPUT="${HIT_DEMO_OUTPUT:-out/demo}"
VARIANT="${HIT_VARIANT:-tiny}"
SEQUENCE="hit_core/assets/sequences/Crossing"

if [ -n "$CHECKPOINT" ] && [ ! -f "$CHECKPOINT" ]; then
    echo "demo: checkpoint '$CHECKPOINT' is not a file; pass the path of HiT weights (or nothing for the bundled ones)" >&2
    exit 1
fi

# shellcheck disable=SC1091
source scripts/ros_env.sh
# Keep the demo's nodes on this machine unless the user chose otherwise (Humble knows only ROS_LOCALHOST_ONLY).
if [ "${ROS_DISTRO:-}" = "humble" ]; then
    export ROS_LOCALHOST_ONLY="${ROS_LOCALHOST_ONLY:-1}"
else
    export ROS_AUTOMATIC_DISCOVERY_RANGE="${ROS_AUTOMATIC_DISCOVERY_RANGE:-LOCALHOST}"
fi

mkdir -p "$OUTPUT"
echo "demo: writing $SEQUENCE as a rosbag ..."
hit bag make "$SEQUENCE" "$OUTPUT/crossing_bag" --overwrite

replay=(hit bag replay "$OUTPUT/crossing_bag" --output "$OUTPUT" --start-node
        --backend onnxruntime --device cpu --variant "$VARIANT")
if [ -n "$CHECKPOINT" ]; then
    replay+=(--checkpoint "$CHECKPOINT")
fi
echo "demo: starting the tracker node (ONNX Runtime, CPU) and replaying the bag into it ..."
"${replay[@]}"

cat <<EOF

demo: done. Open these:
  annotated video   $OUTPUT/replay.mp4   (green: ground truth, orange: what the robot received, blue: offline)
  metrics table     $OUTPUT/report.md
  latency report    $OUTPUT/latency.md
  diagnostics       $OUTPUT/diagnostics.json
  node log          $OUTPUT/node.log
EOF
