"""Latency and memory of the tracker per variant, backend and precision (``hit bench``).

Every configuration runs in its own fresh Python process, so thread pools of other
runtimes do not compete for the cores and the resident memory (RSS) belongs to one
tracker. A worker decodes the frames first (decoding is not timed), initialises the
tracker on the first frame's ground truth, tracks ``warmup`` frames untimed and then
``frames`` frames, cycling through the sequence if it is shorter. Per stage it reports
the median and 95th percentile of the tracker's own timings (``TrackResult.timings_ms``:
crop + preprocess, inference, postprocess, whole ``track()``), the thread count, and
the RSS after the run (``VmRSS``) and its peak (``VmHWM``) from ``/proc/self/status``.

The reference configuration ``official-onnx`` times what the official code's ONNX
profiling measured (spec section 14): the network alone, exported the official way
(opset 11, float NCHW inputs, box output only), ONNX Runtime with default session
options and the same thread count, on normalised real crops of the same frames.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from hit_core.errors import ConfigError, ExportError

STAGES = ("preprocess", "inference", "postprocess", "total")
REFERENCE_BACKEND = "official-onnx"
SUPPORTED_PRECISIONS: dict[str, tuple[str, ...]] = {
    "onnxruntime": ("fp32", "int8"),
    "torch": ("fp32",),
    "tensorrt": ("fp32", "fp16"),
    REFERENCE_BACKEND: ("fp32",),
}


@dataclass(frozen=True)
class BenchConfig:
    """One configuration to measure (plain values, passed to the worker process as JSON)."""

    variant: str
    backend: str
    precision: str
    threads: int
    sequence: str
    frames: int
    warmup: int
    checkpoint: str | None = None
    cache_dir: str | None = None
    device: str = "cpu"


@dataclass
class BenchResult:
    """Medians and 95th percentiles in milliseconds per stage, memory in MiB."""

    config: BenchConfig
    median_ms: dict[str, float] = field(default_factory=dict)
    p95_ms: dict[str, float] = field(default_factory=dict)
    rss_mib: float = 0.0
    peak_rss_mib: float = 0.0
    setup_s: float = 0.0
    runtime: str = ""  # what ran the network: an ONNX Runtime execution provider, or the backend's name
    error: str = ""


def _memory_mib() -> tuple[float, float]:
    values = {}
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith(("VmRSS:", "VmHWM:")):
                key, amount, _ = line.split()
                values[key] = int(amount) / 1024
    return values.get("VmRSS:", 0.0), values.get("VmHWM:", 0.0)


def _load_frames(sequence_dir: str, count: int) -> tuple[list[np.ndarray], np.ndarray]:
    from hit_core.data.folder import load_folder

    sequence = load_folder(sequence_dir)[0]
    needed = min(len(sequence), count + 1)
    return [sequence.frame(index) for index in range(needed)], sequence.ground_truth


def _frame_order(available: int, count: int) -> list[int]:
    cycle = list(range(1, available)) or [0]
    return [cycle[index % len(cycle)] for index in range(count)]


def _summarise(config: BenchConfig, samples: dict[str, list[float]], setup_s: float, runtime: str) -> BenchResult:
    result = BenchResult(config=config, setup_s=setup_s, runtime=runtime)
    for stage, values in samples.items():
        result.median_ms[stage] = float(np.median(values))
        result.p95_ms[stage] = float(np.percentile(values, 95))
    result.rss_mib, result.peak_rss_mib = _memory_mib()
    return result


def _run_tracker(config: BenchConfig) -> BenchResult:
    from hit_core.tracking import Tracker

    frames, ground_truth = _load_frames(config.sequence, config.warmup + config.frames)
    start = time.perf_counter()
    tracker = Tracker.from_options(
        config.variant,
        config.checkpoint,
        backend=config.backend,
        threads=config.threads,
        device=config.device,
        engine_cache_dir=config.cache_dir,
        precision=config.precision,
    )
    runtime = tracker.backend.runtime
    tracker.initialize(frames[0], ground_truth[0])
    setup_s = time.perf_counter() - start
    samples: dict[str, list[float]] = {stage: [] for stage in STAGES}
    order = _frame_order(len(frames), config.warmup + config.frames)
    for position, index in enumerate(order):
        result = tracker.track(frames[index])
        if position >= config.warmup:
            for stage in STAGES:
                samples[stage].append(result.timings_ms[stage])
    tracker.close()
    return _summarise(config, samples, setup_s, runtime)


def official_protocol_graph(variant: str, checkpoint: str | None) -> bytes:
    """The network as the official scripts export it: opset 11, float inputs, the box as the only output."""
    from onnx.utils import Extractor

    from hit_core.export.onnx_export import export_network_graph, load_model_for_export

    model, _ = load_model_for_export(variant, checkpoint)
    network = export_network_graph(model, opset=11)
    return Extractor(network).extract_model(["search", "template"], ["box"]).SerializeToString()


def _run_reference(config: BenchConfig) -> BenchResult:
    import onnxruntime as ort

    from hit_core.tracking.backends import normalize_crop
    from hit_core.tracking.backends.onnxruntime_backend import provider_label
    from hit_core.tracking.crop import sample_target

    frames, ground_truth = _load_frames(config.sequence, config.warmup + config.frames)
    start = time.perf_counter()
    options = ort.SessionOptions()
    options.intra_op_num_threads = config.threads
    session = ort.InferenceSession(
        official_protocol_graph(config.variant, config.checkpoint), options, providers=["CPUExecutionProvider"]
    )
    template = normalize_crop(sample_target(frames[0], ground_truth[0], 2.0, 128)[0])
    setup_s = time.perf_counter() - start
    searches = {}
    for index in set(_frame_order(len(frames), config.warmup + config.frames)):
        box = ground_truth[index - 1] if index > 0 else ground_truth[0]
        searches[index] = normalize_crop(sample_target(frames[index], box, 4.0, 256)[0])
    samples: dict[str, list[float]] = {"inference": []}
    for position, index in enumerate(_frame_order(len(frames), config.warmup + config.frames)):
        begin = time.perf_counter()
        session.run(None, {"search": searches[index], "template": template})
        elapsed = (time.perf_counter() - begin) * 1000
        if position >= config.warmup:
            samples["inference"].append(elapsed)
    return _summarise(config, samples, setup_s, provider_label(session.get_providers()[0]))


def run_worker(config: BenchConfig) -> BenchResult:
    """Measure one configuration in this process (``hit bench`` calls it in a fresh one)."""
    if config.backend == REFERENCE_BACKEND:
        return _run_reference(config)
    return _run_tracker(config)


def run_in_subprocess(config: BenchConfig, timeout_s: float = 1800.0) -> BenchResult:
    """Run :func:`run_worker` in a fresh interpreter and return its result (errors are captured)."""
    command = [sys.executable, "-m", "hit_core.export.benchmark", json.dumps(asdict(config))]
    try:
        completed = subprocess.run(command, capture_output=True, text=True, timeout=timeout_s, check=False)
    except subprocess.TimeoutExpired:
        return BenchResult(config=config, error=f"timed out after {timeout_s:.0f} s")
    lines = [line for line in completed.stdout.splitlines() if line.startswith("{")]
    if completed.returncode != 0 or not lines:
        tail = (completed.stderr.strip().splitlines() or ["no output"])[-1]
        return BenchResult(config=config, error=tail)
    data = json.loads(lines[-1])
    data["config"] = config
    return BenchResult(**data)


def combine_rounds(rounds: Sequence[BenchResult]) -> BenchResult:
    """One result from several rounds of the same configuration: the median of the per-round figures.

    This is the "median of per-process medians" protocol of the official measurements
    (spec section 14): each round ran in a fresh process, so a noisy neighbour that slowed
    one round does not decide the figure.
    """
    good = [result for result in rounds if not result.error]
    if not good:
        return rounds[0]
    combined = BenchResult(config=good[0].config, runtime=good[0].runtime)
    for stage in good[0].median_ms:
        combined.median_ms[stage] = float(np.median([result.median_ms[stage] for result in good]))
        combined.p95_ms[stage] = float(np.median([result.p95_ms[stage] for result in good]))
    combined.rss_mib = float(np.median([result.rss_mib for result in good]))
    combined.peak_rss_mib = float(np.median([result.peak_rss_mib for result in good]))
    combined.setup_s = float(np.median([result.setup_s for result in good]))
    return combined


def check_configs(variants: Sequence[str], backends: Sequence[str], precisions: Sequence[str]) -> None:
    """Refuse combinations no backend runs (before spending minutes on the others)."""
    for backend in backends:
        if backend not in SUPPORTED_PRECISIONS:
            raise ConfigError(f"unknown backend {backend!r}; choose from {', '.join(SUPPORTED_PRECISIONS)}")
        if not any(precision in SUPPORTED_PRECISIONS[backend] for precision in precisions):
            raise ConfigError(f"backend {backend} runs none of the precisions {list(precisions)}")
    if not variants:
        raise ConfigError("give at least one variant")


def format_table(results: Sequence[BenchResult]) -> str:
    """A plain-text table: one row per configuration, median / p95 per stage, memory."""
    header = (
        f"{'variant':8} {'backend':14} {'runtime':9} {'prec':5} {'thr':>3} | {'crop+pre':>13} | {'inference':>13} | "
        f"{'post':>11} | {'track() total':>13} | {'RSS MiB':>7}"
    )
    lines = [header, "-" * len(header)]
    for result in results:
        config = result.config
        if result.error:
            lines.append(
                f"{config.variant:8} {config.backend:14} {config.device:9} {config.precision:5} {config.threads:>3} | "
                f"ERROR: {result.error}"
            )
            continue

        def cell(stage: str, width: int) -> str:
            if stage not in result.median_ms:
                return f"{'-':>{width}}"
            return f"{result.median_ms[stage]:.2f}/{result.p95_ms[stage]:.2f}".rjust(width)

        lines.append(
            f"{config.variant:8} {config.backend:14} {result.runtime:9} {config.precision:5} {config.threads:>3} | "
            f"{cell('preprocess', 13)} | "
            f"{cell('inference', 13)} | {cell('postprocess', 11)} | {cell('total', 13)} | {result.rss_mib:7.0f}"
        )
    lines.append(
        "cells: median/p95 in ms; official-onnx = the official ONNX profiling protocol (network only); "
        "runtime: what ran the network (ONNX Runtime's execution provider, else the backend)"
    )
    return "\n".join(lines)


def _main(argv: Sequence[str]) -> int:
    if len(argv) != 1:
        raise SystemExit("usage: python -m hit_core.export.benchmark '<BenchConfig JSON>'")
    config = BenchConfig(**json.loads(argv[0]))
    if not Path(config.sequence).is_dir():
        raise ExportError(f"benchmark sequence {config.sequence} is not a folder")
    result = run_worker(config)
    data = asdict(result)
    del data["config"]
    print(json.dumps(data))
    return 0


if __name__ == "__main__":
    sys.exit(_main(sys.argv[1:]))
