"""Run a tracker over sequences: worker processes, resume, a progress bar, raw result files.

Each sequence is tracked one-pass (OPE): the tracker is initialised on frame 0 with the first
ground-truth box and then sees every later frame once. Per-frame time is the tracker call alone
(image decoding excluded), as pytracking's runner records it.
"""

from __future__ import annotations

import json
import multiprocessing
import queue as queue_module
import time
from collections.abc import Callable, Iterable
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from hit_core.data.sequence import Sequence
from hit_core.errors import ConfigError, DatasetError, HitError
from hit_core.eval.results import is_finished, write_json, write_sequence_result
from hit_core.eval.trackers import SequenceTracker, TrackerFactory, threads_per_worker

RUN_INFO = "run.json"
_PROGRESS_EVERY = 20


@dataclass(frozen=True)
class RunSummary:
    """What a run did: sequences tracked now, sequences skipped as already finished."""

    tracker_dir: Path
    tracked: tuple[str, ...]
    skipped: tuple[str, ...]


def _read_bgr(path: Path) -> np.ndarray:
    import cv2

    image = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if image is None:
        raise DatasetError(f"cannot read frame {path}: the file is missing or not an image")
    return image


def track_sequence(
    tracker: SequenceTracker, sequence: Sequence, on_frames: Callable[[int], None] | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Track ``sequence`` from its first ground-truth box; returns boxes (N, 4) and seconds (N,).

    Frame 0's box is the initial box and its time the initialisation time. ``on_frames(n)`` is
    called now and then with the number of frames done since the previous call.
    """
    first = sequence.ground_truth[0]
    if not np.isfinite(first).all() or first[2] <= 0 or first[3] <= 0:
        raise DatasetError(f"{sequence.name}: the first ground-truth box {first.tolist()} cannot start a tracker")
    count = len(sequence)
    boxes = np.empty((count, 4), dtype=np.float64)
    times = np.empty(count, dtype=np.float64)
    reported = 0
    for index, frame_path in enumerate(sequence.frames):
        frame = _read_bgr(frame_path)
        start = time.perf_counter()
        try:
            if index == 0:
                tracker.initialize(frame, first)
                box = first
            else:
                box = tracker.track(frame).box
        except HitError as error:
            raise type(error)(f"{sequence.name}, frame {index}: {error}") from error
        times[index] = time.perf_counter() - start
        boxes[index] = box
        if on_frames is not None and (index + 1 - reported >= _PROGRESS_EVERY or index + 1 == count):
            on_frames(index + 1 - reported)
            reported = index + 1
    return boxes, times


_worker_state: dict[str, Any] = {}


def _init_worker(spec: TrackerFactory, threads: int, progress: Any) -> None:
    _worker_state.update(spec=spec, threads=threads, progress=progress)


def _worker_run(sequence: Sequence, tracker_dir: Path) -> str:
    # Built on the first task, not in the initializer, so that a build error reaches the caller
    # as this task's exception instead of a bare BrokenProcessPool.
    if "tracker" not in _worker_state:
        _worker_state["tracker"] = _worker_state["spec"].build(_worker_state["threads"])
    boxes, times = track_sequence(_worker_state["tracker"], sequence, _worker_state["progress"].put)
    write_sequence_result(tracker_dir, sequence.name, boxes, times)
    return sequence.name


def _check_run_info(tracker_dir: Path, spec: TrackerFactory, dataset: str) -> None:
    info_path = tracker_dir / RUN_INFO
    identity = {"dataset": dataset, **spec.identity()}
    if info_path.is_file():
        previous = json.loads(info_path.read_text(encoding="utf-8"))
        if previous.get("identity") != identity:
            raise ConfigError(
                f"{tracker_dir} holds results of another configuration ({previous.get('identity')}); "
                f"resuming would mix them with {identity}. Use another --output or --name"
            )
        return
    write_json(info_path, {"tracker": spec.name, "identity": identity})


def run_tracker(
    spec: TrackerFactory,
    sequences: Iterable[Sequence],
    output_dir: str | Path,
    *,
    dataset: str,
    workers: int = 1,
    progress: bool = True,
) -> RunSummary:
    """Track every sequence not yet finished under ``output_dir/<spec.name>/``.

    ``spec`` is a :class:`~hit_core.eval.trackers.TrackerSpec` or any picklable factory with
    ``name``, ``identity()`` and ``build(threads)``; ``dataset`` is recorded in ``run.json``.

    ``workers`` > 1 starts that many processes (each builds its own tracker with
    ``threads_per_worker(workers)`` CPU threads unless the spec fixes ``threads``).
    Finished sequences (complete box and time files) are skipped, so an interrupted run
    resumes where it stopped. Raises the first sequence's error after stopping the others.
    """
    if not isinstance(workers, int) or workers < 1:
        raise ConfigError(f"workers must be a positive integer, got {workers!r}")
    sequences = list(sequences)
    names = [s.name for s in sequences]
    if len(set(names)) != len(names):
        raise DatasetError("sequence names must be unique: each names its result file")
    tracker_dir = Path(output_dir).expanduser() / spec.name
    tracker_dir.mkdir(parents=True, exist_ok=True)
    _check_run_info(tracker_dir, spec, dataset)
    todo = [s for s in sequences if not is_finished(tracker_dir, s.name, len(s))]
    todo_names = {s.name for s in todo}
    skipped = tuple(name for name in names if name not in todo_names)
    if not todo:
        return RunSummary(tracker_dir, (), skipped)

    from tqdm import tqdm

    threads = threads_per_worker(workers)
    bar = tqdm(
        total=sum(len(s) for s in todo),
        unit="frame",
        desc=f"{spec.name} {len(todo)} seq",
        disable=not progress,
        dynamic_ncols=True,
    )
    with bar:
        if workers == 1:
            tracker = spec.build(threads)
            for sequence in todo:
                boxes, times = track_sequence(tracker, sequence, bar.update)
                write_sequence_result(tracker_dir, sequence.name, boxes, times)
        else:
            _run_in_pool(spec, todo, tracker_dir, workers, threads, bar)
    return RunSummary(tracker_dir, tuple(s.name for s in todo), skipped)


def _run_in_pool(
    spec: TrackerFactory, todo: list[Sequence], tracker_dir: Path, workers: int, threads: int, bar: Any
) -> None:
    context = multiprocessing.get_context("spawn")
    progress = context.Queue()
    pool = ProcessPoolExecutor(
        max_workers=min(workers, len(todo)),
        mp_context=context,
        initializer=_init_worker,
        initargs=(spec, threads, progress),
    )
    try:
        # longest first, so that no worker is left with a long sequence at the end
        ordered = sorted(todo, key=len, reverse=True)
        pending: set[Future] = {pool.submit(_worker_run, sequence, tracker_dir) for sequence in ordered}
        while pending:
            done, pending = wait(pending, timeout=0.25, return_when=FIRST_COMPLETED)
            _drain(progress, bar)
            for future in done:
                future.result()
        _drain(progress, bar)
    except BaseException:
        pool.shutdown(wait=True, cancel_futures=True)
        raise
    pool.shutdown(wait=True)


def _drain(progress: Any, bar: Any) -> None:
    while True:
        try:
            bar.update(progress.get_nowait())
        except queue_module.Empty:
            return
