"""The ONNX Runtime backend against the PyTorch backend on real crops; cache behaviour; errors."""

from __future__ import annotations

import logging

import numpy as np
import pytest

from hit_core.errors import BackendError, ConfigError
from hit_core.export.crops import real_crop_pairs
from hit_core.tracking.backends import create_backend

# FP32: the same float32 network with folded normalisation, fused layers and another
# summation order; the fixtures' float32 noise is <= 2e-6 on boxes and 7e-5 on maps.
FP32_BOX_TOLERANCE = 2e-5
FP32_MAP_TOLERANCE = 1e-3


@pytest.fixture(scope="module")
def crop_pairs(crossing_dir):
    return real_crop_pairs([crossing_dir], pairs_per_source=3)


@pytest.fixture(scope="module")
def ort_backend(tiny_checkpoint, cache_dir):
    backend = create_backend("onnxruntime", variant="tiny", checkpoint=tiny_checkpoint, threads=2,
                             engine_cache_dir=cache_dir)
    yield backend
    backend.close()


def test_onnxruntime_equals_torch_on_real_crops(ort_backend, tiny_checkpoint, crop_pairs):
    torch_backend = create_backend("torch", variant="tiny", checkpoint=tiny_checkpoint)
    for pair in crop_pairs:
        ort_backend.set_template(pair.template)
        torch_backend.set_template(pair.template)
        got, expected = ort_backend.infer(pair.search), torch_backend.infer(pair.search)
        assert got.box.dtype == np.float32 and got.box.shape == (4,)
        assert got.score_tl.shape == got.score_br.shape == (16, 16)
        np.testing.assert_allclose(got.box, expected.box, atol=FP32_BOX_TOLERANCE, rtol=0)
        np.testing.assert_allclose(got.score_tl, expected.score_tl, atol=FP32_MAP_TOLERANCE, rtol=0)
        np.testing.assert_allclose(got.score_br, expected.score_br, atol=FP32_MAP_TOLERANCE, rtol=0)
    torch_backend.close()


def test_results_are_not_overwritten_by_the_next_frame(ort_backend, crop_pairs):
    ort_backend.set_template(crop_pairs[0].template)
    first = ort_backend.infer(crop_pairs[0].search)
    kept = first.box.copy()
    ort_backend.infer(crop_pairs[1].search)
    np.testing.assert_array_equal(first.box, kept)


def test_second_backend_reuses_the_cache(tiny_checkpoint, cache_dir, ort_backend, caplog):
    files = sorted((cache_dir / "onnx").glob("*.onnx"))
    stamps = {path: path.stat().st_mtime_ns for path in files}
    with caplog.at_level(logging.INFO, logger="hit_core.export"):
        backend = create_backend("onnxruntime", variant="tiny", checkpoint=tiny_checkpoint, engine_cache_dir=cache_dir)
    backend.close()
    assert not [r for r in caplog.records if "building" in r.getMessage()]
    assert {path: path.stat().st_mtime_ns for path in files} == stamps


def test_damaged_cache_is_rebuilt(tiny_checkpoint, tmp_path, crop_pairs, ort_backend, cache_dir, caplog):
    for path in (cache_dir / "onnx").glob("*"):
        (tmp_path / "onnx").mkdir(exist_ok=True)
        (tmp_path / "onnx" / path.name).write_bytes(path.read_bytes())
    search = next((tmp_path / "onnx").glob("*_search_fp32.onnx"))
    search.write_bytes(search.read_bytes()[: search.stat().st_size // 3])
    with caplog.at_level(logging.WARNING, logger="hit_core.tracking"):
        backend = create_backend("onnxruntime", variant="tiny", checkpoint=tiny_checkpoint, engine_cache_dir=tmp_path)
    assert any("rebuilding" in r.getMessage() for r in caplog.records)
    backend.set_template(crop_pairs[0].template)
    ort_backend.set_template(crop_pairs[0].template)
    np.testing.assert_allclose(backend.infer(crop_pairs[0].search).box, ort_backend.infer(crop_pairs[0].search).box,
                               atol=1e-6, rtol=0)
    backend.close()


def test_exported_onnx_file_works_as_checkpoint(tiny_network_graph, tmp_path, cache_dir, crop_pairs, ort_backend):
    from hit_core.export.onnx_format import official_graph

    path = tmp_path / "tiny.onnx"
    path.write_bytes(official_graph(tiny_network_graph).SerializeToString())
    backend = create_backend("onnxruntime", variant="tiny", checkpoint=path, engine_cache_dir=cache_dir)
    pair = crop_pairs[1]
    backend.set_template(pair.template)
    ort_backend.set_template(pair.template)
    np.testing.assert_allclose(backend.infer(pair.search).box, ort_backend.infer(pair.search).box, atol=1e-6, rtol=0)
    backend.close()
    with pytest.raises(ConfigError, match="holds HiT-tiny"):
        create_backend("onnxruntime", variant="small", checkpoint=path, engine_cache_dir=cache_dir)


def test_int8_backend_runs_and_stays_near_fp32(tiny_checkpoint, cache_dir, crop_pairs, ort_backend, crossing_dir):
    from hit_core.export.model_cache import runtime_graph_files, weights_source

    source = weights_source("tiny", tiny_checkpoint)
    runtime_graph_files(source, precision="int8", cache_dir=cache_dir, calibration_sources=[crossing_dir])
    backend = create_backend("onnxruntime", variant="tiny", checkpoint=tiny_checkpoint, engine_cache_dir=cache_dir,
                             precision="int8")
    for pair in crop_pairs:
        backend.set_template(pair.template)
        ort_backend.set_template(pair.template)
        int8, fp32 = backend.infer(pair.search), ort_backend.infer(pair.search)
        assert np.all(np.isfinite(int8.box)) and np.all(np.isfinite(int8.score_tl))
        # Untrained fixture weights amplify quantisation error; a quarter of the crop bounds it loosely
        # (a broken graph gives unrelated boxes). Real figures: docs/export.md.
        assert np.max(np.abs(int8.box - fp32.box)) < 0.25
    backend.close()


def test_errors_are_clear(ort_backend, tiny_checkpoint, cache_dir, crop_pairs):
    with pytest.raises(ConfigError, match="fp32 or int8"):
        create_backend("onnxruntime", variant="tiny", checkpoint=tiny_checkpoint, precision="fp16",
                       engine_cache_dir=cache_dir)
    with pytest.raises(ConfigError, match="uint8 of shape"):
        ort_backend.infer(np.zeros((255, 256, 3), np.uint8))
    fresh = create_backend("onnxruntime", variant="tiny", checkpoint=tiny_checkpoint, engine_cache_dir=cache_dir)
    with pytest.raises(BackendError, match="set_template"):
        fresh.infer(crop_pairs[0].search)
    fresh.close()
    with pytest.raises(BackendError, match="closed"):
        fresh.set_template(crop_pairs[0].template)


def test_int8_report_on_a_real_sequence(tiny_checkpoint, cache_dir, crossing_dir, ort_backend):
    from hit_core.export.int8 import DEVIATION_HEADER, compare_int8_to_fp32
    from hit_core.export.model_cache import runtime_graph_files, weights_source

    runtime_graph_files(weights_source("tiny", tiny_checkpoint), precision="int8", cache_dir=cache_dir,
                        calibration_sources=[crossing_dir])
    (row,) = compare_int8_to_fp32("tiny", tiny_checkpoint, [crossing_dir], cache_dir=cache_dir, max_frames=6)
    assert row.sequence == "Crossing" and row.frames == 5
    assert 0 <= row.same_crop_px_median <= row.same_crop_px_p95 <= row.same_crop_px_max < 100
    assert 0 <= row.free_iou_mean <= 1 and np.isfinite(row.free_px_median)
    assert len(row.row().split()) == len(DEVIATION_HEADER.split()) - 5  # "same med", ... are two words each


def test_exported_file_tracks_without_torch(tiny_network_graph, tmp_path, crossing_dir):
    """A robot with only onnxruntime + onnx can run a `hit export` file (torch imports are blocked here)."""
    import subprocess
    import sys

    from hit_core.export.onnx_format import official_graph

    model = tmp_path / "tiny.onnx"
    model.write_bytes(official_graph(tiny_network_graph).SerializeToString())
    script = f"""
import sys
class BlockTorch:
    def find_spec(self, name, path=None, target=None):
        if name == "torch" or name.startswith("torch."):
            raise ImportError("torch is blocked in this test")
sys.meta_path.insert(0, BlockTorch())
from hit_core.data.folder import load_folder
from hit_core.tracking import Tracker
sequence = load_folder({str(crossing_dir)!r})[0]
tracker = Tracker.from_options("tiny", {str(model)!r}, backend="onnxruntime", engine_cache_dir={str(tmp_path)!r})
tracker.initialize(sequence.frame(0), sequence.ground_truth[0])
result = tracker.track(sequence.frame(1))
print("ok", "torch" in sys.modules, result.score)
"""
    completed = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert completed.returncode == 0, completed.stderr[-2000:]
    assert completed.stdout.split()[:2] == ["ok", "False"]
