"""``hit bag make|info|eval|replay``: rosbags of tracking sequences, offline and live evaluation.

- ``make SEQUENCE_DIR OUT``: a sequence (``img/`` + ``groundtruth.txt``) as a rosbag2.
- ``info BAG``: topics and what ``eval``/``replay`` would use.
- ``eval BAG``: deterministic offline evaluation (the evaluation toolkit on the bag's frames).
- ``replay BAG``: play the bag into a running tracker node (or one started here) at the recorded
  rate and score what a robot listening to it experiences, beside the offline score.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

from hit_core.cli._arguments import DEVICE_HELP, parse_box
from hit_core.errors import ConfigError
from hit_core.eval.metrics import OPE_MODES
from hit_core.eval.trackers import TRACKER_KINDS
from hit_core.models import list_variants
from hit_core.tracking.backends import BACKEND_NAMES

NAME = "bag"
HELP = "rosbags: make one from a sequence, evaluate a tracker on one offline, replay one into the tracker node"

_UNTRAINED_SEED = 0


def _positive(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be positive, got {text}")
    return value


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {text}")
    return value


def _topics(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--image-topic", help="image topic (Image or CompressedImage; default: the bag's only one)")
    parser.add_argument(
        "--gt-topic", help="ground-truth topic (Detection2DArray or Detection2D; default: the only one)"
    )


def _model(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--variant", default="tiny", choices=list_variants(), help="HiT variant (default: tiny)")
    parser.add_argument("--checkpoint", type=Path, help="HiT weights (default: the bundled demo weights)")
    parser.add_argument("--backend", default="auto", choices=BACKEND_NAMES, help="runtime (default: auto)")
    parser.add_argument("--device", default="cpu", help=DEVICE_HELP)
    parser.add_argument(
        "--threads", type=_positive_int, help="CPU threads for inference (default: the runtime's choice)"
    )
    parser.add_argument("--metric-mode", default="stark", choices=OPE_MODES, help="OPE rules, as hit eval")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    actions = parser.add_subparsers(dest="bag_action", metavar="ACTION", parser_class=type(parser))

    make = actions.add_parser(
        "make",
        help="write a sequence as a rosbag2",
        description="Write a sequence (img/ + groundtruth.txt) as a rosbag2: images, camera_info and the "
        "ground truth as vision_msgs/Detection2DArray, stamped at --rate.",
    )
    make.add_argument("sequence", type=Path, help="sequence folder with img/ and groundtruth.txt")
    make.add_argument("output", type=Path, help="bag folder to create")
    make.add_argument("--rate", type=_positive, default=30.0, help="frames per second of the stamps (default: 30)")
    make.add_argument("--storage", default="mcap", choices=("mcap", "sqlite3"), help="storage format (default: mcap)")
    make.add_argument(
        "--compressed", action="store_true", help="store the image files' bytes as CompressedImage (no re-encoding)"
    )
    make.add_argument("--encoding", default="bgr8", choices=("bgr8", "rgb8"), help="raw image encoding (default: bgr8)")
    make.add_argument("--frame-id", default="camera", help="header.frame_id of every message (default: camera)")
    make.add_argument("--image-topic", default="/camera/image_raw", help="image topic (default: /camera/image_raw)")
    make.add_argument("--camera-info-topic", default="/camera/camera_info", help="default: /camera/camera_info")
    make.add_argument("--gt-topic", default="/ground_truth", help="ground-truth topic (default: /ground_truth)")
    make.add_argument(
        "--start-time", type=float, help="stamp of the first frame, seconds since 1970 (default: 2024-01-01)"
    )
    make.add_argument("--overwrite", action="store_true", help="replace OUTPUT if it is a bag")

    info = actions.add_parser(
        "info",
        help="list a bag's topics and what eval/replay would use",
        description="List a bag's topics, the image and ground-truth topics eval/replay would use, and the rate.",
    )
    info.add_argument("bag", type=Path, help="rosbag2 folder or ROS 1 .bag")
    _topics(info)

    evaluate = actions.add_parser(
        "eval",
        help="offline evaluation of trackers on a bag",
        description="Deterministic offline evaluation: every image of the bag is tracked and scored with the "
        "evaluation toolkit (results.json, report.md, plots), exactly as hit eval on the same sequence.",
    )
    evaluate.add_argument("bag", type=Path, help="rosbag2 folder or ROS 1 .bag")
    _topics(evaluate)
    evaluate.add_argument("--gt", type=Path, help="ground-truth file instead of the topic (x,y,w,h per image)")
    evaluate.add_argument("--box", type=parse_box, help="initial box x,y,w,h (default: the first ground-truth box)")
    evaluate.add_argument("--output", type=Path, required=True, help="folder for raw results, results.json, reports")
    evaluate.add_argument(
        "--tracker", nargs="+", default=["hit"], choices=TRACKER_KINDS, help="trackers to run (default: hit)"
    )
    evaluate.add_argument("--precision", default="fp32", choices=("fp32", "fp16", "int8"), help="HiT precision")
    evaluate.add_argument("--no-progress", action="store_true", help="no progress bar")
    _model(evaluate)

    replay = actions.add_parser(
        "replay",
        help="live replay into the tracker node, scored",
        description="Play the bag into a running tracker node (or one started with --start-node) at the recorded "
        "rate, set the target through ~/set_target, record ~/detections and /diagnostics, and score what a "
        "robot listening to the node experiences (latency, drops, accuracy) beside the offline score.",
    )
    replay.add_argument("bag", type=Path, help="rosbag2 folder (MCAP or SQLite3)")
    _topics(replay)
    replay.add_argument("--box", type=parse_box, help="initial box x,y,w,h (default: the first ground-truth box)")
    replay.add_argument("--output", type=Path, required=True, help="folder for the video, reports, diagnostics")
    replay.add_argument(
        "--start-node", action="store_true", help="start the tracker node here (else use a running one)"
    )
    replay.add_argument("--node", default="/hit_tracker", help="fully qualified node name (default: /hit_tracker)")
    replay.add_argument(
        "--node-param", action="append", default=[], metavar="NAME:=VALUE", help="extra parameter of the started node"
    )
    replay.add_argument("--params-file", type=Path, help="parameters YAML for the started node")
    replay.add_argument(
        "--player", default="builtin", choices=("builtin", "ros2"), help="builtin player or 'ros2 bag play'"
    )
    replay.add_argument("--rate", type=_positive, default=1.0, help="playback speed factor (default: 1 = recorded)")
    replay.add_argument("--wait", type=_positive, default=300.0, help="seconds to wait for the node (default: 300)")
    replay.add_argument("--no-offline", action="store_true", help="skip the offline evaluation of the same bag")
    replay.add_argument("--no-video", action="store_true", help="do not write the annotated video")
    replay.add_argument(
        "--ros-python", default=sys.executable, help="Python with rclpy and hit_ros (default: this one)"
    )
    _model(replay)


def run(args: argparse.Namespace) -> int:
    action = getattr(args, "bag_action", None)
    if action is None:
        raise ConfigError("choose an action: hit bag make|info|eval|replay (see hit bag --help)")
    return {"make": _make, "info": _info, "eval": _eval, "replay": _replay}[action](args)


# ----------------------------------------------------------------------------- make / info


def _make(args: argparse.Namespace) -> int:
    from hit_core.data.folder import load_folder
    from hit_core.eval.rosbag import DEFAULT_START_NS, BagTopics, write_sequence_bag

    sequences = load_folder(args.sequence)
    if len(sequences) != 1:
        names = ", ".join(s.name for s in sequences[:5])
        raise ConfigError(f"{args.sequence} holds {len(sequences)} sequences ({names}, ...); give one sequence folder")
    start_ns = DEFAULT_START_NS if args.start_time is None else round(args.start_time * 1e9)
    if start_ns < 0:
        raise ConfigError(f"--start-time must not be negative, got {args.start_time}")
    path = write_sequence_bag(
        sequences[0],
        args.output,
        rate_hz=args.rate,
        storage=args.storage,
        compressed=args.compressed,
        encoding=args.encoding,
        frame_id=args.frame_id,
        start_ns=start_ns,
        topics=BagTopics(args.image_topic, args.camera_info_topic, args.gt_topic),
        overwrite=args.overwrite,
        progress=True,
    )
    print(f"bag: {path} ({len(sequences[0])} frames at {args.rate:g} Hz, {args.storage})")
    return 0


def _info(args: argparse.Namespace) -> int:
    import numpy as np

    from hit_core.eval.rosbag import open_tracking_bag

    with open_tracking_bag(args.bag, image_topic=args.image_topic, ground_truth_topic=args.gt_topic) as bag:
        print(f"bag: {bag.path} (sequence {bag.name})")
        for topic in bag.topics:
            print(f"  {topic.name}  {topic.msgtype}  {topic.count} messages")
        rate = f"{bag.rate_hz:.3f} Hz" if bag.rate_hz else "unknown rate"
        print(f"images: {bag.image_topic} ({len(bag)} frames, {rate})")
        boxes = int(np.isfinite(bag.ground_truth).all(axis=1).sum())
        print(f"ground truth: {bag.ground_truth_topic or 'none'} ({boxes} of {len(bag)} frames have a box)")
        if bag.unmatched_ground_truth:
            print(f"  {bag.unmatched_ground_truth} ground-truth messages match no image stamp and are ignored")
    return 0


# ----------------------------------------------------------------------------- eval


def _eval(args: argparse.Namespace) -> int:
    from hit_core.eval.rosbag_eval import evaluate_bag
    from hit_core.eval.trackers import TrackerSpec

    checkpoint = _checkpoint_or_warn(args, "hit" in args.tracker)
    specs = [
        TrackerSpec(
            kind=kind,
            variant=args.variant,
            checkpoint=str(checkpoint) if checkpoint else None,
            backend=args.backend,
            device=args.device,
            precision=args.precision,
            threads=args.threads,
        )
        for kind in args.tracker
    ]
    result = evaluate_bag(
        args.bag,
        args.output,
        specs,
        image_topic=args.image_topic,
        ground_truth_topic=args.gt_topic,
        ground_truth_file=args.gt,
        init_box=args.box,
        mode=args.metric_mode,
        progress=not args.no_progress,
    )
    for scores in result.scores:
        print(f"{scores.name}: {_means(scores.mean)}")
    print(f"results: {result.written['results']}\nreport: {result.written['markdown']}")
    return 0


def _means(mean: dict[str, Any]) -> str:
    parts = [f"{key} {mean[key]:.1f}" for key in ("auc", "precision", "norm_precision") if mean.get(key) is not None]
    if mean.get("fps"):
        parts.append(f"{mean['fps']:.1f} fps")
    return ", ".join(parts) or "no ground truth to score against"


def _checkpoint_or_warn(args: argparse.Namespace, needed: bool) -> Path | None:
    """The given checkpoint, else the bundled demo weights, else None with a loud warning."""
    if not needed:
        return None
    from hit_core.models.checkpoint import resolve_checkpoint

    resolved = resolve_checkpoint(args.checkpoint, args.variant)
    if resolved is None:
        _shout(_untrained_warning(args.variant, "a freshly initialised network"))
    return resolved


def _untrained_warning(variant: str, what: str) -> str:
    return (
        f"NO WEIGHTS: no --checkpoint given and no bundled demo weights for HiT-{variant}.\n"
        f"The boxes come from an UNTRAINED network ({what}): they are meaningless.\n"
        f"Pass --checkpoint (e.g. the authors' released HiT weights) for real tracking; "
        f"for the demo: HIT_CHECKPOINT=/path/to/weights make demo."
    )


def _shout(text: str) -> None:
    rule = "!" * 78
    print(f"\n{rule}\n{text}\n{rule}\n", file=sys.stderr)


# ----------------------------------------------------------------------------- replay


def _replay(args: argparse.Namespace) -> int:
    from hit_core.eval.rosbag_eval import evaluate_bag
    from hit_core.eval.trackers import TrackerSpec

    output: Path = args.output.expanduser()
    output.mkdir(parents=True, exist_ok=True)
    _check_ros(args.ros_python)
    checkpoint, warning = _replay_checkpoint(args, output)
    if warning:
        _shout(warning)
    record_path = output / "replay.json"
    record_path.unlink(missing_ok=True)
    command = [args.ros_python, "-m", "hit_ros.bag_replay", str(args.bag), "--output", str(record_path)]
    command += ["--node", args.node, "--player", args.player, "--rate", repr(args.rate), "--wait", repr(args.wait)]
    for option, value in (("--image-topic", args.image_topic), ("--gt-topic", args.gt_topic)):
        if value:
            command += [option, value]
    if args.box:
        command += ["--box", ",".join(repr(v) for v in args.box)]
    if args.start_node:
        command += ["--start-node", "--node-log", str(output / "node.log")]
        if args.params_file:
            command += ["--params-file", str(args.params_file)]
        parameters = {"variant": args.variant, "backend": args.backend, "device": args.device}
        if checkpoint is not None:
            parameters["checkpoint"] = str(checkpoint.resolve())
        if args.threads:
            parameters["threads"] = str(args.threads)
        for key, value in parameters.items():
            command += ["--node-param", f"{key}:={value}"]
        for item in args.node_param:
            command += ["--node-param", item]
    print(f"replaying {args.bag} into {args.node} ({'started here' if args.start_node else 'running node'}) ...")
    finished = subprocess.run(command, stderr=subprocess.PIPE, text=True)
    if finished.returncode != 0:
        lines = [line for line in finished.stderr.strip().splitlines() if line.strip()]
        reason = lines[-1] if lines else f"exit status {finished.returncode}"
        log = f" (node output: {output / 'node.log'})" if args.start_node else ""
        raise ConfigError(f"the live replay failed: {reason.removeprefix('bag_replay: ')}{log}")

    offline = None
    if not args.no_offline:
        # Always a fresh offline run: the result folder is this command's own.
        shutil.rmtree(output / "offline", ignore_errors=True)
        spec = TrackerSpec(
            kind="hit",
            variant=args.variant,
            checkpoint=str(checkpoint) if checkpoint else None,
            backend=args.backend,
            device=args.device,
            threads=args.threads,
            label="offline",
        )
        offline = evaluate_bag(
            args.bag,
            output,
            [spec],
            image_topic=args.image_topic,
            ground_truth_topic=args.gt_topic,
            init_box=args.box,
            mode=args.metric_mode,
        )
    from hit_core.eval.rosbag_replay import write_replay_report

    written = write_replay_report(
        args.bag,
        output,
        record_path,
        offline,
        image_topic=args.image_topic,
        ground_truth_topic=args.gt_topic,
        mode=args.metric_mode,
        video=not args.no_video,
        warning=warning,
    )
    summary = json.loads(written["summary"].read_text(encoding="utf-8"))
    live = summary["live"]
    print(
        f"live: latency p50 {live['latency_p50_ms']:.1f} ms, p95 {live['latency_p95_ms']:.1f} ms, "
        f"dropped {live['drop_rate']:.1f}%, late {live['late_rate']:.1f}%, AUC {live['auc']:.1f}"
        + (f" (offline AUC {summary['offline']['auc']:.1f})" if summary.get("offline") else "")
    )
    if warning:
        _shout(warning)
    print(f"outputs in {output}:")
    for name, path in written.items():
        print(f"  {name:12s} {path}")
    return 0


def _check_ros(python: str) -> None:
    probe = "import rclpy, vision_msgs.msg, hit_ros.srv, hit_ros.bag_replay"
    result = subprocess.run([python, "-c", probe], capture_output=True, text=True)
    if result.returncode != 0:
        last = (result.stderr.strip().splitlines() or ["unknown error"])[-1]
        raise ConfigError(
            f"the live replay needs ROS 2 with this package built ({last}); run 'make setup' and "
            f"'source scripts/ros_env.sh' (or source your ROS 2 install and install/setup.bash) first"
        )


def _replay_checkpoint(args: argparse.Namespace, output: Path) -> tuple[Path | None, str]:
    """Weights for the node and the offline run. Without a checkpoint or bundled weights, one set
    of untrained weights (fixed seed) is written to the output so that both use the same network."""
    from hit_core.models.checkpoint import resolve_checkpoint

    resolved = resolve_checkpoint(args.checkpoint, args.variant)
    if resolved is not None:
        return resolved, ""
    if not args.start_node and args.no_offline:
        return None, _untrained_warning(args.variant, "whatever the running node initialised")
    import torch

    from hit_core.models import create_model
    from hit_core.models.checkpoint import save_checkpoint

    torch.manual_seed(_UNTRAINED_SEED)
    path = save_checkpoint(
        output / f"untrained_hit_{args.variant}.pth",
        create_model(args.variant).state_dict(),
        variant=args.variant,
        extra={"untrained_seed": _UNTRAINED_SEED},
    )
    what = f"random weights, seed {_UNTRAINED_SEED}, saved to {path}"
    if not args.start_node:
        what += "; the running node has random weights of its own, so live and offline boxes differ"
    return path, _untrained_warning(args.variant, what)
