"""The official-compatible ONNX export: layout, numbers against the official fixtures, the PyTorch check."""

from __future__ import annotations

import numpy as np
import onnx
import onnxruntime as ort
import pytest

from hit_core.errors import ExportError
from hit_core.export import onnx_export, onnx_format
from hit_core.export.crops import real_crop_pairs

# Fixtures README section 7: float32 box tolerance against the official network.
BOX_TOLERANCE = 2e-5


def _session(graph) -> ort.InferenceSession:
    return ort.InferenceSession(graph.SerializeToString(), providers=["CPUExecutionProvider"])


def test_official_graph_has_the_official_interface(tiny_network_graph):
    graph = onnx_format.official_graph(tiny_network_graph)
    inputs = {v.name: [d.dim_value for d in v.type.tensor_type.shape.dim] for v in graph.graph.input}
    outputs = {v.name: [d.dim_value for d in v.type.tensor_type.shape.dim] for v in graph.graph.output}
    assert inputs == {"search": [1, 3, 256, 256], "template": [1, 3, 128, 128]}
    assert outputs == {"box": [1, 4], "score": [1]}
    metadata = onnx_format.read_metadata(graph)
    assert metadata["hit_ros.variant"] == "tiny"
    assert metadata["hit_ros.format"] == onnx_format.ONNX_FORMAT


def test_export_matches_the_official_network(tiny_network_graph, parity_inputs, tiny_reference):
    session = _session(onnx_format.official_graph(tiny_network_graph))
    for pair in range(4):
        feeds = {"search": parity_inputs["search"][pair : pair + 1], "template": parity_inputs["template"][pair : pair + 1]}
        box, score = session.run(None, feeds)
        np.testing.assert_allclose(box, tiny_reference["box"][pair].reshape(1, 4), atol=BOX_TOLERANCE, rtol=0)
        np.testing.assert_allclose(box, tiny_reference["onnx_box"][pair].reshape(1, 4), atol=BOX_TOLERANCE, rtol=0)
        assert 0.0 <= float(score[0]) <= 1.0


def test_torch_confidence_equals_the_tracker_formula(tiny_reference):
    import torch

    from hit_core.tracking.confidence import corner_confidence

    for pair in range(4):
        score_tl = tiny_reference["score_tl"][pair]
        score_br = tiny_reference["score_br"][pair]
        expected = corner_confidence(score_tl[0, 0], score_br[0, 0])
        got = onnx_export.corner_confidence_torch(torch.from_numpy(score_tl), torch.from_numpy(score_br))
        assert got.shape == (1,)
        assert abs(float(got[0]) - expected) < 1e-5
    peaked = torch.full((1, 1, 16, 16), -50.0)
    peaked[0, 0, 3, 4] = 50.0
    assert float(onnx_export.corner_confidence_torch(peaked, peaked)[0]) == pytest.approx(1.0, abs=1e-6)


def test_exported_file_turns_back_into_a_network_graph(tiny_network_graph, parity_inputs, tiny_reference):
    official = onnx.load_from_string(onnx_format.official_graph(tiny_network_graph).SerializeToString())
    network = onnx_format.network_graph_from_file(official)
    feeds = {"search": parity_inputs["search"][:1], "template": parity_inputs["template"][:1]}
    outputs = dict(zip(onnx_format.NETWORK_OUTPUTS, _session(network).run(list(onnx_format.NETWORK_OUTPUTS), feeds)))
    np.testing.assert_allclose(outputs["score_tl"], tiny_reference["score_tl"][0], atol=1e-3, rtol=0)
    np.testing.assert_allclose(outputs["score_br"], tiny_reference["score_br"][0], atol=1e-3, rtol=0)
    foreign = onnx.load_from_string(official.SerializeToString())
    del foreign.metadata_props[:]
    with pytest.raises(ExportError, match="not written by `hit export`"):
        onnx_format.network_graph_from_file(foreign)


def test_check_against_torch_passes_and_catches_a_wrong_graph(tiny_network_graph, tiny_model, crossing_dir):
    pairs = real_crop_pairs([crossing_dir], pairs_per_source=2)
    good = onnx_format.official_graph(tiny_network_graph)
    report = onnx_export.check_against_torch(good.SerializeToString(), tiny_model, pairs)
    assert report.pairs == 2 and report.box_max_abs <= BOX_TOLERANCE
    broken = onnx.ModelProto()
    broken.CopyFrom(good)
    head_conv = next(n for n in broken.graph.node if n.op_type == "Conv" and "conv1_tl" in n.name)
    weight = next(init for init in broken.graph.initializer if init.name == head_conv.input[1])
    values = onnx.numpy_helper.to_array(weight) * np.float32(1.01)
    weight.CopyFrom(onnx.numpy_helper.from_array(values, weight.name))
    with pytest.raises(ExportError, match="does not match PyTorch"):
        onnx_export.check_against_torch(broken.SerializeToString(), tiny_model, pairs)


def test_hit_export_command_writes_a_checked_file(tiny_checkpoint, crossing_dir, tmp_path, capsys):
    from hit_core.cli import main

    output = tmp_path / "tiny.onnx"
    code = main(["export", "--variant", "tiny", "--checkpoint", str(tiny_checkpoint), "--output", str(output),
                 "--check-images", str(crossing_dir), "--check-pairs", "2"])
    assert code == 0
    assert "max |box - PyTorch|" in capsys.readouterr().out
    graph = onnx.load(str(output))
    assert [v.name for v in graph.graph.output] == ["box", "score"]
    assert main(["export", "--variant", "tiny", "--checkpoint", str(tiny_checkpoint), "--output",
                 str(tmp_path / "tiny.txt"), "--check-images", str(crossing_dir)]) == 1
    assert "must end in .onnx" in capsys.readouterr().err
