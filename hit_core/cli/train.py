"""``hit train CONFIG [key=value ...]``: train or fine-tune HiT from a recipe in training/.

Multi-GPU / multi-node: start the same command under PyTorch's launcher, e.g.
``torchrun --nproc_per_node=8 -m hit_core train training/hit_base.yaml`` (see docs/training.md).
"""

from __future__ import annotations

import argparse
import os

NAME = "train"
HELP = "train or fine-tune HiT from a YAML recipe (key=value overrides; torchrun for several GPUs/nodes)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("config", metavar="CONFIG", help="recipe YAML, e.g. training/hit_tiny.yaml")
    parser.add_argument(
        "overrides", metavar="KEY=VALUE", nargs="*",
        help="override recipe values, e.g. train.batch_size=16 data.train.lasot.root=/data/LaSOT "
             "(dataset roots may also come from HIT_<LOADER>_ROOT, e.g. HIT_LASOT_ROOT)",
    )
    resume = parser.add_mutually_exclusive_group()
    resume.add_argument(
        "--resume", action="store_const", const="auto",
        help="continue the run from <run>/checkpoints/last.pth (a new run if there is none)",
    )
    resume.add_argument("--resume-from", dest="resume", metavar="CHECKPOINT", help="continue a run from CHECKPOINT")
    parser.add_argument(
        "--benchmark", type=int, metavar="STEPS",
        help="measure training throughput (pairs/s) over STEPS steps instead of training; saves nothing",
    )
    parser.add_argument("--warmup", type=int, default=10, metavar="STEPS", help="benchmark warm-up steps (default 10)")
    parser.add_argument("--print-config", action="store_true", help="print the resolved recipe and exit")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar (for log files)")


def run(args: argparse.Namespace) -> int:
    import yaml

    from hit_core.train.config import load_config
    from hit_core.train.distributed import DistributedContext

    overrides = list(args.overrides)
    if args.benchmark is not None:
        # speed does not depend on the initial weights: no ImageNet file needed to benchmark
        overrides.insert(0, "model.backbone_init=scratch")
    config = load_config(args.config, overrides, environ=dict(os.environ))
    if args.print_config:
        print(yaml.safe_dump(config.to_dict(), sort_keys=False), end="")
        return 0
    context = DistributedContext.from_environment(os.environ)

    from hit_core.train.trainer import measure_throughput, train

    if args.benchmark is not None:
        result = measure_throughput(config, context, steps=args.benchmark, warmup=args.warmup)
        if context.is_main:
            print(
                f"HiT-{result['variant']} training on {result['device']} x{result['processes']}, "
                f"batch {result['batch_size']}/process, precision {result['precision']}: "
                f"{result['pairs_per_s']:.1f} pairs/s with data loading, "
                f"{result['compute_pairs_per_s']:.1f} pairs/s compute only ({result['step_ms']:.1f} ms/step)"
            )
        return 0
    result = train(config, context, resume=args.resume, progress=not args.no_progress)
    if context.is_main:
        where = result.last_checkpoint or "no new checkpoint (the run had already reached train.epochs)"
        print(f"trained to epoch {result.epoch} ({result.step} steps); checkpoint: {where}; "
              f"logs: {result.run_dir / 'metrics.csv'}")
    return 0
