"""``hit eval``: run trackers over a benchmark, score them, write results.json, tables and plots.

Raw results go to ``OUTPUT/<tracker>/<sequence>.txt`` (+ ``_time.txt``); finished sequences are
skipped on the next run. Every tracker folder in OUTPUT with complete results on the same
dataset is scored, so trackers run one after another end up in one table.
"""

from __future__ import annotations

import argparse
import difflib
import os
import sys
from pathlib import Path

from hit_core.cli._arguments import DEVICE_HELP
from hit_core.errors import ConfigError
from hit_core.eval.metrics import OPE_MODES
from hit_core.eval.scoring import BENCHMARKS
from hit_core.eval.trackers import TRACKER_KINDS
from hit_core.models import list_variants
from hit_core.tracking.backends import BACKEND_NAMES, PRECISIONS

NAME = "eval"
HELP = "evaluate trackers on a benchmark (OTB, LaSOT, GOT-10k, TrackingNet, UAV123, NfS, folders)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--dataset", required=True, choices=sorted(BENCHMARKS), help="benchmark to evaluate on")
    parser.add_argument(
        "--root",
        type=Path,
        help="dataset folder (default: $HIT_DATASET_<NAME>, e.g. HIT_DATASET_LASOT, or the --datasets-file entry)",
    )
    parser.add_argument(
        "--datasets-file", type=Path, help="YAML mapping dataset names to folders (default: $HIT_DATASETS_FILE)"
    )
    parser.add_argument(
        "--tracker", nargs="+", default=["hit"], choices=TRACKER_KINDS, help="trackers to run (default: hit)"
    )
    parser.add_argument("--output", type=Path, required=True, help="folder for raw results, results.json, reports")
    parser.add_argument("--name", help="result folder name of the tracker (default: hit_<variant>, csrt, ...)")
    parser.add_argument("--variant", default="tiny", choices=list_variants(), help="HiT variant")
    parser.add_argument("--checkpoint", type=Path, help="HiT weights (default: the bundled demo weights)")
    parser.add_argument("--backend", default="auto", choices=BACKEND_NAMES, help="HiT runtime (default: auto)")
    parser.add_argument("--device", default="cpu", help=DEVICE_HELP)
    parser.add_argument("--precision", default="fp32", choices=PRECISIONS, help="HiT precision (default: fp32)")
    parser.add_argument("--workers", type=int, default=1, help="worker processes (default: 1)")
    parser.add_argument(
        "--threads", type=int, help="CPU threads per worker (default: CPU cores // workers, at least 1)"
    )
    parser.add_argument(
        "--metric-mode",
        default="stark",
        choices=OPE_MODES,
        help="OPE rules: stark (pytracking as in HiT's own analysis, default), pytracking (2022+ validity rule), "
        "lasot (LaSOT MATLAB toolkit), got10k (got10k Python toolkit)",
    )
    parser.add_argument("--sequences", nargs="+", help="evaluate only these sequences (names as in results.json)")
    parser.add_argument("--report-only", action="store_true", help="do not track; score the results already there")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def _select(sequences: list, names: list[str] | None) -> list:
    if not names:
        return sequences
    by_name = {s.name: s for s in sequences}
    unknown = [n for n in names if n not in by_name]
    if unknown:
        close = difflib.get_close_matches(unknown[0], list(by_name), n=1)
        hint = f" (did you mean {close[0]}?)" if close else ""
        raise ConfigError(f"no sequence named {unknown[0]!r} in this dataset{hint}")
    return [by_name[n] for n in names]


def _scorable_trackers(output: Path, dataset: str, sequences: list) -> tuple[list[tuple[Path, dict]], list[str]]:
    import json

    from hit_core.eval.runner import RUN_INFO
    from hit_core.eval.scoring import missing_sequences

    complete, incomplete = [], []
    for info_path in sorted(output.glob(f"*/{RUN_INFO}")):
        info = json.loads(info_path.read_text(encoding="utf-8"))
        if info.get("identity", {}).get("dataset") != dataset:
            continue
        missing = missing_sequences(sequences, info_path.parent)
        if missing:
            incomplete.append(f"{info_path.parent.name} ({len(missing)} sequences unfinished)")
        else:
            complete.append((info_path.parent, info))
    return complete, incomplete


def run(args: argparse.Namespace) -> int:
    from hit_core.data import load_dataset
    from hit_core.eval.report import summary_rows, write_report
    from hit_core.eval.roots import resolve_dataset_root
    from hit_core.eval.runner import run_tracker
    from hit_core.eval.scoring import score_tracker
    from hit_core.eval.submission import package_submission
    from hit_core.eval.trackers import TrackerSpec

    if args.workers < 1:
        raise ConfigError(f"--workers must be at least 1, got {args.workers}")
    if args.name and len(args.tracker) > 1:
        raise ConfigError("--name names one tracker's folder; run one --tracker at a time to use it")
    benchmark = BENCHMARKS[args.dataset]
    root = resolve_dataset_root(benchmark.reader, args.root, os.environ, args.datasets_file)
    sequences = _select(load_dataset(benchmark.reader, root, benchmark.split), args.sequences)
    output: Path = args.output.expanduser()
    if not args.report_only:
        for kind in args.tracker:
            spec = TrackerSpec(
                kind=kind,
                variant=args.variant,
                checkpoint=str(args.checkpoint) if args.checkpoint else None,
                backend=args.backend,
                device=args.device,
                precision=args.precision,
                threads=args.threads,
                label=args.name,
            )
            summary = run_tracker(
                spec, sequences, output, dataset=args.dataset, workers=args.workers, progress=not args.no_progress
            )
            print(f"{spec.name}: tracked {len(summary.tracked)}, already finished {len(summary.skipped)}")
    complete, incomplete = _scorable_trackers(output, args.dataset, sequences)
    for entry in incomplete:
        print(f"hit eval: not scored, results incomplete: {entry}", file=sys.stderr)
    if not complete:
        raise ConfigError(f"no complete results for {args.dataset} in {output}; run without --report-only first")
    scores = [
        score_tracker(sequences, folder, benchmark, mode=args.metric_mode, info=info) for folder, info in complete
    ]
    written = write_report(output, args.dataset, str(root), args.metric_mode, scores, sequences)
    if benchmark.submission:
        for folder, _ in complete:
            archive = output / "submissions" / f"{folder.name}_{benchmark.submission}.zip"
            package_submission(benchmark.submission, sequences, folder, archive)
            print(f"{folder.name}: {benchmark.submission} submission {archive}")
    for row in summary_rows(scores):
        values = ", ".join(
            f"{key} {row[key]:.1f}" for key in ("auc", "precision", "norm_precision", "fps") if row[key] is not None
        )
        print(f"{row['tracker']}: {values}, {row['frames']} frames")
    print(f"results: {written['results']}\nreport: {written['markdown']}")
    return 0
