"""``hit bench``: per-stage latency and memory of the tracker, per variant, backend and precision."""

from __future__ import annotations

import argparse
import json
from dataclasses import asdict

from hit_core.models import list_variants

NAME = "bench"
HELP = "measure track() latency per stage (median, p95) and tracker memory on real frames"

BACKENDS = ("onnxruntime", "torch", "tensorrt", "official-onnx")
PRECISIONS = ("fp32", "int8", "fp16")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--variants", nargs="+", choices=list_variants(), default=list_variants(), metavar="VARIANT",
                        help=f"variants to measure ({', '.join(list_variants())}; default: all)")
    parser.add_argument("--backends", nargs="+", choices=BACKENDS, default=["onnxruntime", "official-onnx"],
                        metavar="BACKEND",
                        help="backends (onnxruntime, torch, tensorrt, and official-onnx = the official ONNX "
                             "network-only protocol as the reference; default: onnxruntime official-onnx)")
    parser.add_argument("--precisions", nargs="+", choices=PRECISIONS, default=["fp32", "int8"], metavar="PRECISION",
                        help="precisions (each backend runs the ones it supports; default: fp32 int8)")
    parser.add_argument("--devices", nargs="+", default=["cpu"], metavar="DEVICE",
                        help="devices for the backends (default: cpu; see hit track --help; "
                             "compare cpu:openvino cpu:onnxruntime for ONNX Runtime's two CPU runtimes). "
                             "official-onnx always runs on ONNX Runtime's own CPU kernels, as the official "
                             "protocol did")
    parser.add_argument("--threads", type=int, default=2, help="intra-op CPU threads (default 2)")
    parser.add_argument("--frames", type=int, default=200, help="timed frames per configuration (default 200)")
    parser.add_argument("--warmup", type=int, default=20, help="untimed frames first (default 20)")
    parser.add_argument("--rounds", type=int, default=1,
                        help="run every configuration this many times, round-robin, each in a fresh process, and "
                             "report the median of the per-round figures (default 1; use 5+ on a busy machine)")
    parser.add_argument("--sequence", default=None,
                        help="sequence folder (img/ + groundtruth.txt); default: the bundled demo sequence")
    parser.add_argument("--checkpoint", default=None,
                        help="weights (only with one variant); default: bundled demo weights or an untrained net")
    parser.add_argument("--cache-dir", default=None, help="graph/engine cache folder (default ~/.cache/hit_ros)")
    parser.add_argument("--json", action="store_true", help="print the results as JSON instead of a table")


def _default_sequence() -> str:
    from hit_core.data.folder import is_sequence_dir
    from hit_core.export.crops import default_image_sources

    root = default_image_sources()[0]
    found = [root] if is_sequence_dir(root) else sorted(p for p in root.iterdir() if is_sequence_dir(p))
    return str(found[0]) if found else str(root)


def run(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from hit_core.errors import ConfigError
    from hit_core.export.benchmark import (
        REFERENCE_BACKEND,
        SUPPORTED_PRECISIONS,
        BenchConfig,
        check_configs,
        combine_rounds,
        format_table,
        run_in_subprocess,
    )

    if args.threads < 1 or args.frames < 1 or args.warmup < 0 or args.rounds < 1:
        raise ConfigError("--threads, --frames and --rounds must be at least 1 and --warmup at least 0")
    if args.checkpoint and len(args.variants) != 1:
        raise ConfigError("--checkpoint needs exactly one --variants entry (a checkpoint holds one variant)")
    check_configs(args.variants, args.backends, args.precisions)
    sequence = args.sequence or _default_sequence()
    configs = [
        BenchConfig(variant, backend, precision, args.threads, sequence, args.frames, args.warmup,
                    args.checkpoint, args.cache_dir, device)
        for variant in args.variants
        for backend in args.backends
        for precision in args.precisions
        for device in (["cpu"] if backend == REFERENCE_BACKEND else dict.fromkeys(args.devices))
        if precision in SUPPORTED_PRECISIONS[backend]
    ]
    runs: dict[BenchConfig, list] = {config: [] for config in configs}
    jobs = [config for _ in range(args.rounds) for config in configs]
    for config in tqdm(jobs, desc="bench", unit="run", disable=args.json):
        runs[config].append(run_in_subprocess(config))
    results = [combine_rounds(runs[config]) for config in configs]
    if args.json:
        print(json.dumps([asdict(result) for result in results], indent=2))
    else:
        print(f"sequence {sequence}; {args.frames} timed frames after {args.warmup} warm-up, {args.threads} thread(s), "
              f"median of {args.rounds} round(s)")
        print(format_table(results))
    return 1 if any(result.error for result in results) else 0
