"""``results.json``, a markdown and CSV table, and success / precision plots comparing trackers."""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

from hit_core.data.sequence import Sequence
from hit_core.eval.metrics import (
    CENTER_THRESHOLDS_PX,
    IOU_THRESHOLDS,
    NORM_CENTER_THRESHOLDS,
    DatasetCurves,
)
from hit_core.eval.results import atomic_write_text, write_json
from hit_core.eval.scoring import TrackerScores, attribute_curves

RESULTS_FORMAT = "hit_ros.eval/1"
_HEADERS = {
    "auc": "AUC",
    "precision": "P@20px",
    "norm_precision": "Pnorm@0.2",
    "op50": "OP50",
    "op75": "OP75",
    "fps": "FPS",
    "frames": "frames",
}


def _round(value: Any) -> Any:
    return round(value, 4) if isinstance(value, float) else value


def results_payload(dataset: str, root: str, mode: str, trackers: list[TrackerScores]) -> dict[str, Any]:
    """The ``results.json`` document (metrics in percent, fps in frames per second)."""
    payload: dict[str, Any] = {
        "format": RESULTS_FORMAT,
        "dataset": dataset,
        "root": root,
        "metric_mode": mode,
        "units": {
            "auc": "percent: mean of the success curve over IoU thresholds 0:0.05:1 (IoU > t)",
            "precision": "percent of frames with centre error <= 20 px",
            "norm_precision": "percent of frames with normalised centre error <= 0.20",
            "op50": "percent of frames with IoU > 0.50",
            "op75": "percent of frames with IoU > 0.75",
            "fps": "frames per second of tracker time (initialisation included, image decoding excluded); "
            "mean: all frames / all seconds",
            "frames": "frames in the sequence; mean: all frames",
            "means": "unweighted means over sequences (as the OPE toolkits)",
        },
        "trackers": {},
    }
    for scores in trackers:
        entry: dict[str, Any] = {
            "info": scores.info,
            "mean": {key: _round(value) for key, value in scores.mean.items()},
            "sequences": {
                name: {key: _round(value) for key, value in values.items()} for name, values in scores.sequences.items()
            },
        }
        if scores.got10k is not None:
            entry["got10k"] = {
                "ao": _round(scores.got10k["ao"]),
                "sr50": _round(scores.got10k["sr50"]),
                "sr75": _round(scores.got10k["sr75"]),
                "note": "GOT-10k protocol: first frame and absent frames dropped, boxes clipped to the image, "
                "frames of all sequences pooled; percent",
            }
        payload["trackers"][scores.name] = entry
    return payload


def _format(value: Any, key: str) -> str:
    if value is None:
        return "-"
    if key == "frames":
        return str(value)
    return f"{value:.1f}"


def summary_rows(trackers: list[TrackerScores]) -> list[dict[str, Any]]:
    """One row per tracker with its dataset means, best AUC first."""
    rows = [{"tracker": s.name, **{k: s.mean.get(k) for k in _HEADERS}} for s in trackers]
    return sorted(rows, key=lambda row: -(row["auc"] if row["auc"] is not None else -1.0))


def markdown_table(trackers: list[TrackerScores], attributes: dict[str, dict[str, DatasetCurves]]) -> str:
    """The summary table, then (if any) AUC per attribute."""
    columns = list(_HEADERS)
    lines = [
        "| tracker | " + " | ".join(_HEADERS[c] for c in columns) + " |",
        "|---|" + "---:|" * len(columns),
    ]
    for row in summary_rows(trackers):
        lines.append(f"| {row['tracker']} | " + " | ".join(_format(row[c], c) for c in columns) + " |")
    names = sorted({a for per_tracker in attributes.values() for a in per_tracker})
    if names:
        lines += ["", "AUC (%) per attribute:", ""]
        lines.append("| tracker | " + " | ".join(names) + " |")
        lines.append("|---|" + "---:|" * len(names))
        for scores in trackers:
            own = attributes.get(scores.name, {})
            cells = [f"{own[a].scores['auc']:.1f}" if a in own else "-" for a in names]
            lines.append(f"| {scores.name} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def csv_table(trackers: list[TrackerScores]) -> str:
    """Per-sequence and mean rows: tracker, sequence, metrics (percent), fps, frames."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["tracker", "sequence", *_HEADERS])
    for scores in trackers:
        for name, values in scores.sequences.items():
            writer.writerow([scores.name, name, *(_csv(values.get(k)) for k in _HEADERS)])
        writer.writerow([scores.name, "MEAN", *(_csv(scores.mean.get(k)) for k in _HEADERS)])
    return buffer.getvalue()


def _csv(value: Any) -> str:
    if value is None:
        return ""
    return f"{value:.4f}" if isinstance(value, float) else str(value)


def plot_curves(curves: dict[str, DatasetCurves], path: Path, title: str, kind: str) -> None:
    """Success (``kind="success"``), precision or normalised-precision plot of several trackers,
    legend sorted by the score the toolkits print (AUC, P@20, Pnorm@0.2)."""
    from matplotlib.figure import Figure

    axis, label, score_key = {
        "success": (IOU_THRESHOLDS, "overlap threshold (IoU)", "auc"),
        "precision": (CENTER_THRESHOLDS_PX, "location error threshold (px)", "precision"),
        "norm_precision": (NORM_CENTER_THRESHOLDS, "normalised location error threshold", "norm_precision"),
    }[kind]
    figure = Figure(figsize=(6, 4.5), dpi=100)
    figure.subplots_adjust(left=0.11, right=0.97, bottom=0.11, top=0.93)
    axes = figure.add_subplot()
    ranked = sorted(curves.items(), key=lambda item: -item[1].scores[score_key])
    for name, dataset_curves in ranked:
        values = getattr(dataset_curves, kind)
        axes.plot(axis, values * 100.0, linewidth=2, label=f"{name} [{dataset_curves.scores[score_key]:.1f}]")
    axes.set_xlabel(label)
    axes.set_ylabel("success rate (%)" if kind == "success" else "precision (%)")
    axes.set_xlim(axis[0], axis[-1])
    axes.set_ylim(0, 102)
    axes.grid(True, alpha=0.3)
    axes.set_title(title)
    axes.legend(loc="lower left" if kind == "success" else "lower right", fontsize=8)
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path)


def write_report(
    output_dir: str | Path,
    dataset: str,
    root: str,
    mode: str,
    trackers: list[TrackerScores],
    sequences: list[Sequence],
) -> dict[str, Path]:
    """Write ``results.json``, ``report.md``, ``report.csv`` and (where there is ground truth)
    ``plots/{success,precision,norm_precision}.png`` plus ``plots/attributes/<attr>_success.png``.
    Returns the written paths by name."""
    output_dir = Path(output_dir)
    written = {
        "results": output_dir / "results.json",
        "markdown": output_dir / "report.md",
        "csv": output_dir / "report.csv",
    }
    write_json(written["results"], results_payload(dataset, root, mode, trackers))
    scored = [s for s in trackers if s.dataset_curves is not None]
    attributes = {s.name: attribute_curves(s, sequences) for s in scored}
    header = (
        f"# {dataset}: {len(sequences)} sequences, metric mode {mode}\n\n"
        f"Metrics in percent (OPE, first frame = ground truth); FPS = frames / tracker seconds.\n\n"
    )
    got10k = [s for s in trackers if s.got10k is not None]
    footer = ""
    if got10k:
        footer = (
            "\nGOT-10k protocol (pooled frames, first and absent frames dropped):\n\n"
            "| tracker | AO | SR0.50 | SR0.75 |\n|---|---:|---:|---:|\n"
        )
        footer += "".join(
            f"| {s.name} | {s.got10k['ao']:.1f} | {s.got10k['sr50']:.1f} | {s.got10k['sr75']:.1f} |\n" for s in got10k
        )
    atomic_write_text(written["markdown"], header + markdown_table(trackers, attributes) + footer)
    atomic_write_text(written["csv"], csv_table(trackers))
    if scored:
        plots = output_dir / "plots"
        dataset_curves = {s.name: s.dataset_curves for s in scored}
        for kind in ("success", "precision", "norm_precision"):
            written[kind] = plots / f"{kind}.png"
            plot_curves(dataset_curves, written[kind], f"{dataset}: {kind.replace('_', ' ')} (OPE)", kind)
        names = sorted({a for per_tracker in attributes.values() for a in per_tracker})
        for attribute in names:
            per_tracker = {t: curves[attribute] for t, curves in attributes.items() if attribute in curves}
            count = sum(attribute in s.attributes for s in sequences)
            path = plots / "attributes" / f"{attribute}_success.png"
            plot_curves(per_tracker, path, f"{dataset}, {attribute} ({count} sequences): success", "success")
            written[f"attribute:{attribute}"] = path
    return written
