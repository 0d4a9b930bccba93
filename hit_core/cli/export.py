"""``hit export``: PyTorch checkpoint -> official-compatible ONNX (checked), plus INT8 and TensorRT options."""

from __future__ import annotations

import argparse

from hit_core.models import list_variants

NAME = "export"
HELP = "export a checkpoint to ONNX (checked against PyTorch on real crops); optional INT8 graph and TensorRT engine"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--variant", required=True, choices=list_variants(), help="HiT variant")
    parser.add_argument("--checkpoint", default=None,
                        help="PyTorch checkpoint (default: the bundled demo weights, else an untrained network)")
    parser.add_argument("--output", required=True, help="the .onnx file to write")
    parser.add_argument("--check-images", nargs="+", default=None, metavar="DIR",
                        help="sequence folders (img/ + groundtruth.txt) or image folders whose crops check the "
                             "export against PyTorch (default: the bundled demo sequence)")
    parser.add_argument("--check-pairs", type=int, default=4,
                        help="crop pairs per sequence/folder for the check (default 4)")
    parser.add_argument("--opset", type=int, default=17, help="ONNX opset (default 17)")
    parser.add_argument("--int8", action="store_true",
                        help="also build the INT8 CPU graph (ONNX Runtime static quantisation) and report how far "
                             "its boxes move from FP32")
    parser.add_argument("--calibration", nargs="+", default=None, metavar="DIR",
                        help="folders with real frames for INT8 calibration (default: the --check-images folders)")
    parser.add_argument("--int8-report", nargs="+", default=None, metavar="DIR",
                        help="sequence folders to compare INT8 with FP32 tracking on (default: the calibration ones)")
    parser.add_argument("--int8-frames", type=int, default=None, help="at most this many frames per report sequence")
    parser.add_argument("--engine", action="store_true", help="also build the TensorRT engine (needs an NVIDIA GPU)")
    parser.add_argument("--precision", choices=("fp16", "fp32"), default="fp16", help="TensorRT precision (default fp16)")
    parser.add_argument("--device", default="cuda", help="GPU for --engine: cuda or cuda:N")
    parser.add_argument("--cache-dir", default=None,
                        help="where INT8 graphs and engines are cached (default ~/.cache/hit_ros)")


def run(args: argparse.Namespace) -> int:
    from hit_core.errors import ConfigError
    from hit_core.export.onnx_export import export_onnx

    if args.check_pairs < 1:
        raise ConfigError("--check-pairs must be at least 1")
    report = export_onnx(
        args.variant,
        args.checkpoint,
        args.output,
        check_sources=args.check_images,
        pairs_per_source=args.check_pairs,
        opset=args.opset,
    )
    print(f"wrote {args.output}: {report.summary()}")
    if args.int8:
        _int8(args)
    if args.engine:
        from hit_core.cli import engine

        engine.run(argparse.Namespace(variant=args.variant, checkpoint=args.output, precision=args.precision,
                                      device=args.device, cache_dir=args.cache_dir, force=False))
    return 0


def _int8(args: argparse.Namespace) -> None:
    from hit_core.export.crops import default_image_sources
    from hit_core.export.int8 import DEVIATION_HEADER, compare_int8_to_fp32
    from hit_core.export.model_cache import runtime_graph_files, weights_source

    calibration = args.calibration or args.check_images or default_image_sources()
    files = runtime_graph_files(
        weights_source(args.variant, args.output), precision="int8", cache_dir=args.cache_dir,
        calibration_sources=calibration,
    )
    print(f"INT8 search graph: {files.search} (calibrated on {', '.join(map(str, calibration))})")
    deviations = compare_int8_to_fp32(
        args.variant, args.output, args.int8_report or calibration, cache_dir=args.cache_dir,
        max_frames=args.int8_frames,
    )
    print("INT8 vs FP32, box-centre distance in image pixels: 'same' = both networks on identical crops (around the "
          "previous ground truth); 'free' = two trackers running on their own (includes drift):")
    print(DEVIATION_HEADER)
    for deviation in deviations:
        print(deviation.row())
