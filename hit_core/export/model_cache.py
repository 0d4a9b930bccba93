"""On-disk cache of the graphs a backend runs, keyed by the weights they come from.

Exporting from PyTorch and rewriting the graph takes seconds (tens of seconds for an
INT8 calibration), so every derived graph is built once and kept under
``<cache_dir>/onnx/``, named ``hit_<variant>_<weights key>_<role>.onnx``. The weights key
is the first 16 hex digits of the checkpoint file's sha256 (or of an exported ONNX file's,
or "untrained" for the seeded untrained network) together with the runtime-graph format
version, so a new checkpoint or a new graph layout never reuses stale files. Files are
written atomically under a lock, so concurrent trackers build each graph only once.

Sources, in order: an ONNX file written by ``hit export`` (passed as the checkpoint; no
PyTorch needed), else a PyTorch checkpoint (or the bundled demo weights) exported here.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from hit_core.errors import ConfigError, ExportError
from hit_core.export.files import atomic_write_bytes, exclusive_lock, resolve_cache_dir, sha256_file

LOGGER = logging.getLogger("hit_core.export")

GRAPH_VERSION = "r5"
CACHE_SUBDIR = "onnx"


@dataclass(frozen=True)
class WeightsSource:
    """Where a network's weights come from and the cache key they give."""

    variant: str
    checkpoint: Path | None
    is_onnx: bool
    key: str


def weights_source(variant: str, checkpoint: str | Path | None) -> WeightsSource:
    """Resolve ``checkpoint`` (PyTorch weights, a ``hit export`` ONNX file, or None) for ``variant``."""
    from hit_core.models.checkpoint import resolve_checkpoint
    from hit_core.models.registry import canonical_variant

    variant = canonical_variant(variant)
    if checkpoint is not None and Path(checkpoint).suffix.lower() == ".onnx":
        path = Path(checkpoint).expanduser()
        if not path.is_file():
            raise ConfigError(f"ONNX file {path} does not exist")
        return WeightsSource(variant, path, True, f"{sha256_file(path)[:16]}{GRAPH_VERSION}")
    path = resolve_checkpoint(checkpoint, variant)
    if path is None:
        return WeightsSource(variant, None, False, f"untrained{GRAPH_VERSION}")
    return WeightsSource(variant, Path(path), False, f"{sha256_file(path)[:16]}{GRAPH_VERSION}")


def _load_network_graph(source: WeightsSource):
    import onnx

    from hit_core.export.onnx_format import network_graph_from_file, read_metadata

    if source.is_onnx:
        graph = onnx.load(str(source.checkpoint))
        found = read_metadata(graph).get("hit_ros.variant")
        if found and found != source.variant:
            raise ConfigError(f"{source.checkpoint} holds HiT-{found}, but variant {source.variant!r} was asked for")
        return network_graph_from_file(graph)
    from hit_core.export.onnx_export import export_network_graph, load_model_for_export

    model, checkpoint_sha256 = load_model_for_export(source.variant, source.checkpoint)
    return export_network_graph(model, checkpoint_sha256=checkpoint_sha256)


def _cached(path: Path, build) -> Path:
    """Return ``path``, building its bytes with ``build()`` under a lock if it is missing."""
    if path.is_file():
        return path
    with exclusive_lock(path):
        if not path.is_file():
            LOGGER.info("building %s (first use of these weights; cached afterwards)", path.name)
            atomic_write_bytes(path, build())
    return path


def network_graph_file(source: WeightsSource, cache_dir: str | Path | None = None) -> Path:
    """The cached network graph (float inputs; outputs box, score, score_tl, score_br)."""
    folder = resolve_cache_dir(cache_dir, CACHE_SUBDIR)
    path = folder / f"hit_{source.variant}_{source.key}_network.onnx"
    return _cached(path, lambda: _load_network_graph(source).SerializeToString())


@dataclass(frozen=True)
class RuntimeGraphFiles:
    """Paths of the template graph and the search graph (see :mod:`hit_core.export.runtime_graph`)."""

    template: Path
    search: Path


def runtime_graph_files(
    source: WeightsSource,
    *,
    precision: str = "fp32",
    cache_dir: str | Path | None = None,
    calibration_sources: Sequence[str | Path] | None = None,
) -> RuntimeGraphFiles:
    """The cached runtime graphs for ``source``; ``precision`` "fp32" or "int8".

    INT8 graphs are calibrated on real crops from ``calibration_sources`` (default: the
    bundled demo sequence); the calibration only happens when the file is not cached.
    """
    if precision not in ("fp32", "int8"):
        raise ConfigError(f"ONNX Runtime graphs come in fp32 or int8, not {precision!r}")
    folder = resolve_cache_dir(cache_dir, CACHE_SUBDIR)
    stem = folder / f"hit_{source.variant}_{source.key}"
    template_path = Path(f"{stem}_template.onnx")
    search_fp32 = Path(f"{stem}_search_fp32.onnx")
    if not (template_path.is_file() and search_fp32.is_file()):
        import onnx

        from hit_core.export.runtime_graph import build_runtime_graphs

        with exclusive_lock(search_fp32):
            if not (template_path.is_file() and search_fp32.is_file()):
                network = onnx.load(str(network_graph_file(source, cache_dir)))
                LOGGER.info("building the runtime graphs for HiT-%s (cached afterwards)", source.variant)
                graphs = build_runtime_graphs(network)
                atomic_write_bytes(template_path, graphs.template)
                atomic_write_bytes(search_fp32, graphs.search)
    if precision == "fp32":
        return RuntimeGraphFiles(template_path, search_fp32)

    from hit_core.export.int8 import quantize_search_graph

    def build_int8() -> bytes:
        from hit_core.export.crops import default_image_sources, real_crop_pairs

        sources = list(calibration_sources) if calibration_sources else default_image_sources()
        return quantize_search_graph(template_path, search_fp32, real_crop_pairs(sources))

    search_int8 = _cached(Path(f"{stem}_search_int8.onnx"), build_int8)
    return RuntimeGraphFiles(template_path, search_int8)


def remove_cached(paths: Sequence[Path]) -> None:
    """Delete cached files (e.g. after they failed to load) so the next use rebuilds them."""
    for path in paths:
        try:
            path.unlink()
        except FileNotFoundError:
            continue
        except OSError as error:
            raise ExportError(f"cannot remove the damaged cache file {path} ({error}); delete it by hand") from error
