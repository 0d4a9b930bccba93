"""The tracker's runtime graphs: exact rewrites of the network graph, checked against the official outputs."""

from __future__ import annotations

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper, numpy_helper

from hit_core.export.runtime_graph import (
    build_runtime_graphs,
    fold_head_projection,
    fold_input_normalization,
    fuse_twin_branches,
    linear_layers_as_gemm,
    split_fused_projections,
)
from hit_core.tracking.backends import IMAGENET_MEAN, IMAGENET_STD, normalize_crop

BOX_TOLERANCE = 2e-5  # fixtures README section 7 (float32 network vs official)
MAP_TOLERANCE = 1e-3


def _run(model_bytes: bytes, feeds: dict) -> list[np.ndarray]:
    return ort.InferenceSession(model_bytes, providers=["CPUExecutionProvider"]).run(None, feeds)


@pytest.fixture(scope="module")
def runtime_graphs(tiny_network_graph):
    return build_runtime_graphs(tiny_network_graph)


def test_runtime_graphs_reproduce_the_official_outputs(runtime_graphs, parity_inputs, tiny_reference):
    template_session = ort.InferenceSession(runtime_graphs.template, providers=["CPUExecutionProvider"])
    search_session = ort.InferenceSession(runtime_graphs.search, providers=["CPUExecutionProvider"])
    for pair in range(2):  # the two real pairs have their uint8 crops stored
        tokens = template_session.run(None, {"template": parity_inputs["template_u8_real"][pair][None]})
        feeds = {"search": parity_inputs["search_u8_real"][pair][None], **dict(zip(runtime_graphs.template_tokens, tokens))}
        box, maps = search_session.run(["box", "score_maps"], feeds)
        np.testing.assert_allclose(box, tiny_reference["box"][pair].reshape(1, 4), atol=BOX_TOLERANCE, rtol=0)
        np.testing.assert_allclose(maps[:, :1], tiny_reference["score_tl"][pair], atol=MAP_TOLERANCE, rtol=0)
        np.testing.assert_allclose(maps[:, 1:], tiny_reference["score_br"][pair], atol=MAP_TOLERANCE, rtol=0)


def test_runtime_graph_layout(runtime_graphs):
    template = onnx.load_from_string(runtime_graphs.template)
    search = onnx.load_from_string(runtime_graphs.search)
    assert [(v.name, v.type.tensor_type.elem_type) for v in template.graph.input] == [("template", TensorProto.UINT8)]
    assert [v.name for v in template.graph.output] == list(runtime_graphs.template_tokens)
    assert len(runtime_graphs.template_tokens) == 1
    search_inputs = {v.name: v.type.tensor_type.elem_type for v in search.graph.input}
    assert search_inputs == {"search": TensorProto.UINT8, runtime_graphs.template_tokens[0]: TensorProto.FLOAT}
    assert [v.name for v in search.graph.output] == ["box", "score_maps"]
    # The template's patch embedding (4 convs) left the per-frame graph: 4 search patch convs + 5 fused head convs.
    convs = [n for n in search.graph.node if n.op_type == "Conv"]
    assert len(convs) == 9
    groups = sorted(next((a.i for a in n.attribute if a.name == "group"), 1) for n in convs)
    assert groups.count(2) == 4  # conv2..conv5 of both corner branches run as grouped convs


def _single_conv_model(weight: np.ndarray, bias: np.ndarray, stride: int, pad: int, size: int):
    conv = helper.make_node("Conv", ["image", "w", "b"], ["out"], kernel_shape=list(weight.shape[2:]),
                            strides=[stride, stride], pads=[pad] * 4)
    graph = helper.make_graph(
        [conv], "conv",
        [helper.make_tensor_value_info("image", TensorProto.FLOAT, [1, 3, size, size])],
        [helper.make_tensor_value_info("out", TensorProto.FLOAT, None)],
        [numpy_helper.from_array(weight, "w"), numpy_helper.from_array(bias, "b")],
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)


@pytest.mark.parametrize("stride,pad", [(2, 1), (1, 1), (1, 0)])
def test_folded_normalization_is_exact_including_the_border(stride, pad):
    rng = np.random.default_rng(stride * 10 + pad)
    weight = rng.standard_normal((5, 3, 3, 3)).astype(np.float32)
    bias = rng.standard_normal(5).astype(np.float32)
    model = _single_conv_model(weight, bias, stride, pad, 12)
    image = rng.integers(0, 256, size=(12, 12, 3), dtype=np.uint8)
    (expected,) = _run(model.SerializeToString(), {"image": normalize_crop(image)})
    folded = fold_input_normalization(model, "image", IMAGENET_MEAN, IMAGENET_STD)
    # Nothing after the conv: its activation can stay fused with it in ONNX Runtime's blocked layout.
    assert [node.op_type for node in folded.graph.node] == ["Transpose", "Cast", "Sub", "Conv"]
    (got,) = _run(folded.SerializeToString(), {"image": image[None]})
    np.testing.assert_allclose(got, expected, atol=2e-5, rtol=0)


def test_twin_branch_fusion_is_exact():
    rng = np.random.default_rng(3)
    inits, nodes = [], []
    for corner in ("a", "b"):
        source = "x"
        for step, (cin, cout) in enumerate(((8, 6), (6, 4), (4, 1))):
            weight = rng.standard_normal((cout, cin, 3, 3)).astype(np.float32)
            bias = rng.standard_normal(cout).astype(np.float32)
            inits += [numpy_helper.from_array(weight, f"w{corner}{step}"), numpy_helper.from_array(bias, f"b{corner}{step}")]
            conv_out = f"{corner}{step}" if step == 2 else f"c{corner}{step}"
            nodes.append(helper.make_node("Conv", [source, f"w{corner}{step}", f"b{corner}{step}"], [conv_out],
                                          kernel_shape=[3, 3], pads=[1, 1, 1, 1]))
            if step < 2:
                nodes.append(helper.make_node("Relu", [conv_out], [f"r{corner}{step}"]))
                source = f"r{corner}{step}"
    nodes.append(helper.make_node("Sub", ["a2", "b2"], ["diff"]))
    graph = helper.make_graph(
        nodes, "twins", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 8, 6, 6])],
        [helper.make_tensor_value_info("diff", TensorProto.FLOAT, None),
         helper.make_tensor_value_info("a2", TensorProto.FLOAT, None)], inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)
    fused, ends = fuse_twin_branches(model)
    # Three fused convs (the first with doubled outputs, then grouped ones); a Split re-creates a2 and b2.
    assert len(ends) == 1
    convs = [n for n in fused.graph.node if n.op_type == "Conv"]
    assert [next((a.i for a in n.attribute if a.name == "group"), 1) for n in convs] == [1, 2, 2]
    feeds = {"x": rng.standard_normal((1, 8, 6, 6)).astype(np.float32)}
    for got, expected in zip(_run(fused.SerializeToString(), feeds), _run(model.SerializeToString(), feeds)):
        np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-4)  # values reach a few hundred


def test_runtime_graphs_equal_the_official_compatible_export(runtime_graphs, tiny_network_graph, crossing_dir):
    from hit_core.export.crops import real_crop_pairs
    from hit_core.export.onnx_format import official_graph

    official = ort.InferenceSession(official_graph(tiny_network_graph).SerializeToString(),
                                    providers=["CPUExecutionProvider"])
    template_session = ort.InferenceSession(runtime_graphs.template, providers=["CPUExecutionProvider"])
    search_session = ort.InferenceSession(runtime_graphs.search, providers=["CPUExecutionProvider"])
    for pair in real_crop_pairs([crossing_dir], pairs_per_source=3):
        (expected, _) = official.run(None, {"search": normalize_crop(pair.search), "template": normalize_crop(pair.template)})
        tokens = template_session.run(None, {"template": pair.template[None]})
        (box,) = search_session.run(["box"], {"search": pair.search[None], **dict(zip(runtime_graphs.template_tokens, tokens))})
        np.testing.assert_allclose(box, expected, atol=BOX_TOLERANCE, rtol=0)


def _search_outputs(graphs, pair) -> list[np.ndarray]:
    (tokens,) = _run(graphs.template, {"template": pair.template[None]})
    return _run(graphs.search, {"search": pair.search[None], graphs.template_tokens[0]: tokens})


def _conv_input_channels(model_bytes: bytes) -> list[int]:
    model = onnx.load_from_string(model_bytes)
    weights = {init.name: list(init.dims) for init in model.graph.initializer}
    return [weights[n.input[1]][1] for n in model.graph.node if n.op_type == "Conv"]


def _linear_weight_shapes(model_bytes: bytes) -> list[list[int]]:
    model = onnx.load_from_string(model_bytes)
    weights = {init.name: list(init.dims) for init in model.graph.initializer}
    return [weights[n.input[1]] for n in model.graph.node if n.op_type in ("MatMul", "Gemm") and n.input[1] in weights]


def test_head_projection_fold_halves_the_largest_convolution_and_keeps_the_outputs(tiny_network_graph, crossing_dir):
    from hit_core.export.crops import real_crop_pairs

    plain = build_runtime_graphs(tiny_network_graph, fold_head=False, fuse_branches=False)
    folded = build_runtime_graphs(tiny_network_graph, fuse_branches=False)
    # Both first head convs read C0 + 1 = 129 channels, padded to 144 for the blocked kernels, not 256
    # (the second convs read 256 channels in both graphs).
    plain_channels, folded_channels = _conv_input_channels(plain.search), _conv_input_channels(folded.search)
    assert (plain_channels.count(256), plain_channels.count(144)) == (4, 0)
    assert (folded_channels.count(256), folded_channels.count(144)) == (2, 2)
    # The per-position projection (C0 128 -> 256) is gone, not merely unused: exactly one fewer 128 x 256
    # linear layer (the others are stage-1 qkv and MLP layers), and the head reads the global vector instead.
    plain_linear, folded_linear = _linear_weight_shapes(plain.search), _linear_weight_shapes(folded.search)
    assert plain_linear.count([128, 256]) - folded_linear.count([128, 256]) == 1
    for pair in real_crop_pairs([crossing_dir], pairs_per_source=3):
        expected_box, expected_maps = _search_outputs(plain, pair)
        box, maps = _search_outputs(folded, pair)
        np.testing.assert_allclose(box, expected_box, atol=BOX_TOLERANCE, rtol=0)
        np.testing.assert_allclose(maps, expected_maps, atol=1e-4, rtol=0)


def test_head_projection_fold_leaves_graphs_without_the_pattern_alone(runtime_graphs):
    template = onnx.load_from_string(runtime_graphs.template)
    result, applied = fold_head_projection(template)
    assert not applied
    assert result.SerializeToString() == template.SerializeToString()


def test_linear_layers_as_gemm_is_exact(runtime_graphs, crossing_dir):
    from hit_core.export.crops import real_crop_pairs

    search = onnx.load_from_string(runtime_graphs.search)
    rewritten, count = linear_layers_as_gemm(search)
    # Tiny: 22 blocks with 1-3 linear layers each, the subsample queries and the neck's global projection.
    assert count >= 30
    weights = {init.name for init in rewritten.graph.initializer}
    adds = {name for n in rewritten.graph.node if n.op_type == "Add" for name in n.input}
    left = [n.name for n in rewritten.graph.node if n.op_type == "MatMul" and n.input[1] in weights and n.output[0] in adds]
    assert not left
    onnx.checker.check_model(rewritten)
    for pair in real_crop_pairs([crossing_dir], pairs_per_source=2):
        (tokens,) = _run(runtime_graphs.template, {"template": pair.template[None]})
        feeds = {"search": pair.search[None], runtime_graphs.template_tokens[0]: tokens}
        for got, expected in zip(_run(rewritten.SerializeToString(), feeds), _run(runtime_graphs.search, feeds)):
            np.testing.assert_allclose(got, expected, atol=1e-5, rtol=0)


def test_split_fused_projections_is_exact_and_leaves_no_attention_split(tiny_network_graph, crossing_dir):
    from hit_core.export.crops import real_crop_pairs

    plain = build_runtime_graphs(tiny_network_graph, split_projections=False)
    split = build_runtime_graphs(tiny_network_graph)
    # Tiny: 9 attention blocks (query, key, value) and 2 subsampling blocks (key, value) lose their Split;
    # the ones left split token sequences (subsampling queries), the fold's scores and the twin maps.
    assert _op_count(plain.search, "Split") - _op_count(split.search, "Split") == 11
    assert split_fused_projections(onnx.load_from_string(plain.search))[1] == 11
    assert split_fused_projections(onnx.load_from_string(split.search))[1] == 0  # nothing left to rewrite
    for pair in real_crop_pairs([crossing_dir], pairs_per_source=3):
        expected_box, expected_maps = _search_outputs(plain, pair)
        box, maps = _search_outputs(split, pair)
        np.testing.assert_allclose(box, expected_box, atol=BOX_TOLERANCE, rtol=0)
        np.testing.assert_allclose(maps, expected_maps, atol=1e-5, rtol=0)


def _op_count(model_bytes: bytes, op_type: str) -> int:
    return sum(node.op_type == op_type for node in onnx.load_from_string(model_bytes).graph.node)
