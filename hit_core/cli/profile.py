"""``hit profile``: parameters, MACs (two protocols) and network latency of each HiT variant.

Latency is the network alone (fused backbone, eval, batch 1, random inputs, no_grad), median and 95th
percentile of ``--runs`` timed calls after ``--warmup`` untimed ones. Weights do not change the cost, so
the networks are freshly initialised.
"""

from __future__ import annotations

import argparse

from hit_core.errors import ConfigError
from hit_core.models.registry import list_variants

NAME = "profile"
HELP = "print parameters, MACs (official thop protocol and complete count) and latency per HiT variant"

# (header, width, format) of each output column
COLUMNS = (
    ("variant", 10, "<"),
    ("params", 12, ">,"),
    ("params fused", 13, ">,"),
    ("GMACs thop", 11, ">.3f"),
    ("GMACs complete", 15, ">.3f"),
    ("median ms", 10, ">.2f"),
    ("p95 ms", 8, ">.2f"),
    ("FPS", 7, ">.1f"),
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--variant", nargs="+", choices=list_variants(), default=list_variants(),
                        help="variants to profile (default: all)")
    parser.add_argument("--threads", type=int, help="torch CPU threads while timing (default: torch's choice)")
    parser.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N (default: cpu)")
    parser.add_argument("--runs", type=int, default=100, help="timed forward passes per variant (default: 100)")
    parser.add_argument("--warmup", type=int, default=20, help="untimed passes before timing (default: 20)")
    parser.add_argument("--no-latency", action="store_true", help="only count parameters and MACs")


def _line(columns: tuple, values: list) -> str:
    return "  ".join(format(value, f"{fmt[0]}{width}{fmt[1:]}") for (_, width, fmt), value in zip(columns, values))


def run(args: argparse.Namespace) -> int:
    import torch
    from tqdm import tqdm

    from hit_core.models import count_macs, count_parameters, create_model, measure_latency

    if args.threads is not None and args.threads < 1:
        raise ConfigError(f"--threads must be >= 1, got {args.threads}")
    if args.runs < 1 or args.warmup < 0:
        raise ConfigError(f"--runs must be >= 1 and --warmup >= 0, got {args.runs} and {args.warmup}")
    rows = []
    for variant in tqdm(list(dict.fromkeys(args.variant)), desc="profiling", unit="variant", leave=False):
        model = create_model(variant, device=args.device)
        params = count_parameters(model)
        model.fuse()
        row = [f"HiT-{variant}", params, count_parameters(model), count_macs(model, "thop") / 1e9,
               count_macs(model, "complete") / 1e9]
        if not args.no_latency:
            stats = measure_latency(model, threads=args.threads, runs=args.runs, warmup=args.warmup)
            row += [stats.median_ms, stats.p95_ms, 1000.0 / stats.median_ms]
        rows.append(row)
        del model
    columns = COLUMNS if not args.no_latency else COLUMNS[:5]
    print("  ".join(format(name, f"{fmt[0]}{width}") for name, width, fmt in columns))
    for row in rows:
        print(_line(columns, row))
    threads = args.threads if args.threads is not None else torch.get_num_threads()
    timing = "" if args.no_latency else (f"; latency: network only, batch 1, fused, no_grad, {args.device}, "
                                         f"{threads} thread(s), median/p95 of {args.runs} runs after {args.warmup}")
    print(f"params: all nn.Parameters (training graph) and after BN fusion; MACs of one step, fused{timing}")
    return 0
