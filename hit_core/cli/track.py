"""``hit track SOURCE``: run the tracker on a video file, an image folder or a camera.

Writes ``<name>.mp4`` (frames with the box and its confidence drawn) and
``<name>_boxes.txt`` (one ``x,y,w,h,score`` line per frame, image pixels; the first line is
the initial box with score 1) into ``--output``.
"""

from __future__ import annotations

import argparse
import itertools
from collections.abc import Iterator
from pathlib import Path

from hit_core.cli._arguments import DEVICE_HELP, parse_box
from hit_core.errors import ConfigError, DatasetError
from hit_core.models import list_variants
from hit_core.tracking.backends import BACKEND_NAMES

NAME = "track"
HELP = "track an object through a video file, image folder or camera; write an annotated video and a boxes file"

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp")
GROUND_TRUTH_NAMES = ("groundtruth.txt", "groundtruth_rect.txt")
# Below this confidence the box is drawn in red instead of green (display only).
LOW_CONFIDENCE = 0.25


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("source", help="video file, folder of images (sorted by name), or camera index such as 0")
    start = parser.add_mutually_exclusive_group()
    start.add_argument("--box", type=parse_box, metavar="X,Y,W,H", help="initial box in pixels of the first frame")
    start.add_argument(
        "--gt",
        type=Path,
        metavar="FILE",
        help="ground-truth file whose first line is the initial box (default for a folder: "
        "groundtruth.txt or groundtruth_rect.txt in the folder or its parent)",
    )
    parser.add_argument("--variant", default="tiny", choices=list_variants(), help="HiT variant")
    parser.add_argument("--checkpoint", type=Path, help="weights file (default: the bundled demo weights)")
    parser.add_argument("--backend", default="auto", choices=BACKEND_NAMES, help="runtime (default: auto)")
    parser.add_argument(
        "--precision",
        choices=("fp32", "fp16", "int8"),
        help="numeric precision (default: the backend's own: fp32, TensorRT fp16); int8 = ONNX Runtime on CPU",
    )
    parser.add_argument("--device", default="cpu", help=DEVICE_HELP)
    parser.add_argument("--threads", type=int, help="CPU threads for inference (default: the runtime's choice)")
    parser.add_argument(
        "--engine-cache",
        type=Path,
        metavar="DIR",
        help="cache of derived ONNX graphs and TensorRT engines (default: ~/.cache/hit_ros)",
    )
    parser.add_argument("--output", type=Path, metavar="DIR", default=Path("hit_track"), help="output folder (default: ./hit_track)")
    parser.add_argument("--max-frames", type=int, help="stop after this many frames (needed to end a camera run)")
    parser.add_argument("--fps", type=float, default=30.0, help="frame rate of the written video for image folders")
    parser.add_argument("--no-video", action="store_true", help="write only the boxes file")


def _image_files(folder: Path) -> list[Path]:
    files = sorted(path for path in folder.iterdir() if path.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise DatasetError(f"no images ({', '.join(IMAGE_SUFFIXES)}) in folder {folder}")
    return files


def _first_box(path: Path) -> tuple[float, float, float, float]:
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as error:
        raise DatasetError(f"cannot read ground-truth file {path}: {error}") from error
    first = next((line for line in lines if line.strip()), "")
    try:
        return parse_box(first)
    except argparse.ArgumentTypeError as error:
        raise DatasetError(f"first line of {path} is not a box: {error}") from error


def _find_ground_truth(folder: Path) -> Path | None:
    for directory in (folder, folder.parent):
        for name in GROUND_TRUTH_NAMES:
            if (directory / name).is_file():
                return directory / name
    return None


class FrameSource:
    """BGR frames (as OpenCV decodes them) from an image folder, a video file or a camera."""

    def __init__(self, source: str) -> None:
        import cv2

        path = Path(source)
        self.folder: Path | None = None
        self.capture = None
        self.fps = 0.0
        if path.is_dir():
            self.folder = path
            self.files = _image_files(path)
            self.count: int | None = len(self.files)
            self.name = path.parent.name if path.name == "img" else path.name
            return
        if path.is_file():
            self.capture = cv2.VideoCapture(str(path))
            self.name = path.stem
        elif source.isdigit():
            self.capture = cv2.VideoCapture(int(source))
            self.name = f"camera{source}"
        else:
            raise ConfigError(f"source {source!r} is neither a file, a folder nor a camera index")
        if not self.capture.isOpened():
            raise DatasetError(f"cannot open {source!r} with OpenCV; check the path, the codec or the camera")
        frames = int(self.capture.get(cv2.CAP_PROP_FRAME_COUNT))
        self.count = frames if frames > 0 and path.is_file() else None
        self.fps = float(self.capture.get(cv2.CAP_PROP_FPS) or 0.0)

    def frames(self) -> Iterator:
        import cv2

        if self.folder is not None:
            for file in self.files:
                frame = cv2.imread(str(file), cv2.IMREAD_COLOR)
                if frame is None:
                    raise DatasetError(f"cannot decode image {file}")
                yield frame
            return
        while True:
            ok, frame = self.capture.read()
            if not ok:
                return
            yield frame

    def close(self) -> None:
        if self.capture is not None:
            self.capture.release()


def _draw(frame, box, score: float, milliseconds: float) -> None:
    import cv2

    x, y, w, h = (int(round(value)) for value in box)
    color = (0, 200, 0) if score >= LOW_CONFIDENCE else (0, 0, 230)
    cv2.rectangle(frame, (x, y), (x + w, y + h), color, 2)
    label = f"score {score:.2f}  {milliseconds:.1f} ms"
    cv2.putText(frame, label, (8, 22), cv2.FONT_HERSHEY_SIMPLEX, 0.6, (0, 0, 0), 3, cv2.LINE_AA)
    cv2.putText(frame, label, (8, 22), cv2.FONT_HERSHEY_SIMPLEX, 0.6, color, 1, cv2.LINE_AA)


def _initial_box(args: argparse.Namespace, source: FrameSource) -> tuple[float, float, float, float]:
    if args.box is not None:
        return args.box
    ground_truth = args.gt or (_find_ground_truth(source.folder) if source.folder else None)
    if ground_truth is None:
        raise ConfigError("no initial box: give --box x,y,w,h or --gt FILE")
    return _first_box(ground_truth)


class _VideoOutput:
    """Annotated frames into an mp4 file, opened on the first frame (its size is known then)."""

    def __init__(self, path: Path, fps: float) -> None:
        self.path = path
        self.fps = fps
        self._writer = None

    def write(self, frame, box, score: float, milliseconds: float) -> None:
        import cv2

        if self._writer is None:
            size = (frame.shape[1], frame.shape[0])
            self._writer = cv2.VideoWriter(str(self.path), cv2.VideoWriter_fourcc(*"mp4v"), self.fps, size)
            if not self._writer.isOpened():
                raise DatasetError(f"OpenCV cannot write {self.path} (mp4v codec missing?)")
        _draw(frame, box, score, milliseconds)
        self._writer.write(frame)

    def close(self) -> None:
        if self._writer is not None:
            self._writer.release()


def run(args: argparse.Namespace) -> int:
    import numpy as np
    from tqdm import tqdm

    from hit_core.tracking import Tracker
    from hit_core.tracking.tracker import check_box

    if args.max_frames is not None and args.max_frames < 1:
        raise ConfigError(f"--max-frames must be at least 1, got {args.max_frames}")
    if args.fps <= 0:
        raise ConfigError(f"--fps must be positive, got {args.fps}")
    source = FrameSource(args.source)
    try:
        box = _initial_box(args, source)
        frames = source.frames()
        first = next(frames, None)
        if first is None:
            raise DatasetError(f"{args.source!r} gave no frames")
        check_box(box, first.shape)
        args.output.mkdir(parents=True, exist_ok=True)
        boxes_path = args.output / f"{source.name}_boxes.txt"
        video = None if args.no_video else _VideoOutput(args.output / f"{source.name}.mp4", source.fps or args.fps)
        total = source.count if args.max_frames is None else min(source.count or args.max_frames, args.max_frames)
        tracker = Tracker.from_options(
            variant=args.variant,
            checkpoint=args.checkpoint,
            backend=args.backend,
            threads=args.threads,
            device=args.device,
            engine_cache_dir=args.engine_cache,
            precision=args.precision,
        )
        lines: list[str] = []
        latencies: list[float] = []
        progress = tqdm(total=total, unit="frame", desc=f"{source.name} ({tracker.backend_name})")
        try:
            for index, frame in enumerate(itertools.chain([first], frames)):
                if args.max_frames is not None and index >= args.max_frames:
                    break
                if index == 0:
                    tracker.initialize(frame, box, color="bgr")
                    current, score, milliseconds = np.asarray(box, dtype=np.float64), 1.0, 0.0
                else:
                    result = tracker.track(frame, color="bgr")
                    current, score, milliseconds = result.box, result.score, result.timings_ms["total"]
                    latencies.append(milliseconds)
                    progress.set_postfix(score=f"{score:.2f}", ms=f"{milliseconds:.1f}", refresh=False)
                lines.append(",".join(f"{value:.3f}" for value in current) + f",{score:.4f}")
                if video is not None:
                    video.write(frame, current, score, milliseconds)
                progress.update()
        except KeyboardInterrupt:
            progress.write("interrupted: writing what was tracked so far")
        finally:
            progress.close()
            if video is not None:
                video.close()
            tracker.close()
        boxes_path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    finally:
        source.close()

    print(f"tracked {len(lines)} frames with HiT-{tracker.variant} on {tracker.backend_name}")
    if latencies:
        print(f"track() latency: median {np.median(latencies):.1f} ms, p95 {np.percentile(latencies, 95):.1f} ms")
    print(f"boxes: {boxes_path}")
    if video is not None:
        print(f"video: {video.path}")
    return 0
