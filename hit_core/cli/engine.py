"""``hit engine``: build (or check) the cached TensorRT engine ahead of time."""

from __future__ import annotations

import argparse

from hit_core.models import list_variants

NAME = "engine"
HELP = "pre-build the TensorRT engine for a variant and checkpoint (needs an NVIDIA GPU)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--variant", required=True, choices=list_variants(), help="HiT variant")
    parser.add_argument("--checkpoint", default=None,
                        help="PyTorch checkpoint or an ONNX file from `hit export` (default: bundled demo weights)")
    parser.add_argument("--precision", choices=("fp16", "fp32"), default="fp16", help="engine precision (default fp16)")
    parser.add_argument("--device", default="cuda", help="GPU to build for: cuda or cuda:N (default cuda)")
    parser.add_argument("--cache-dir", default=None, help="engine cache folder (default ~/.cache/hit_ros)")
    parser.add_argument("--force", action="store_true", help="rebuild even when a valid cached engine exists")


def run(args: argparse.Namespace) -> int:
    from hit_core.errors import BackendError
    from hit_core.tracking.backends import tensorrt_backend

    available, reason = tensorrt_backend.is_available()
    if not available:
        raise BackendError(f"cannot build a TensorRT engine here: {reason}")
    backend = tensorrt_backend.TensorRTBackend(
        variant=args.variant,
        checkpoint=args.checkpoint,
        device=args.device,
        engine_cache_dir=args.cache_dir,
        precision=args.precision,
        force_rebuild=args.force,
    )
    loaded = backend.engine_load
    backend.close()
    if loaded.built:
        print(f"built {loaded.path} in {loaded.build_seconds:.1f} s ({loaded.reason or 'first build'})")
    else:
        print(f"valid cached engine: {loaded.path}")
    return 0
