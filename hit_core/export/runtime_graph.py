"""The tracker's own ONNX Runtime graphs, derived from the network graph by exact rewrites.

The official-compatible export takes normalised float NCHW images and recomputes the
template's patch embedding on every frame. The tracker does not need either, so the
network graph (:func:`hit_core.export.onnx_export.export_network_graph`) is split and
rewritten into two graphs that together compute the same boxes:

* **template graph**: ``template`` uint8 (1, 128, 128, 3) RGB -> the template tokens
  (every node that depends on the template image only: its patch embedding). Run once
  per target in ``set_template``.
* **search graph**: ``search`` uint8 (1, 256, 256, 3) RGB + the template tokens ->
  ``box`` (1, 4) and ``score_maps`` (1, 2, 16, 16) (top-left, bottom-right raw maps).

Rewrites, each exact up to float rounding:

1. *Split at the template boundary* (:func:`split_template_work`): tensors that depend
   only on the template input become outputs of the template graph and inputs of the
   search graph.
2. *Normalisation folded into the first convolution* (:func:`fold_input_normalization`):
   the uint8 HWC image is transposed and cast in the graph, the mean (in 0-255 units) is
   subtracted, and ``1/(255 std)`` is folded into the conv weights. Subtracting before the
   conv keeps its zero padding exact at the border, and leaves the conv free to run with
   its activation in ONNX Runtime's blocked layout.
3. *Fused projections computed per part* (:func:`split_fused_projections`): the
   query/key/value layer of each attention block (key/value in the subsampling blocks)
   becomes one layer per part instead of one layer whose output is split afterwards
   (OpenVINO runs that split with a slow reference kernel).
4. *The neck's last projection folded into the head* (:func:`fold_head_projection`,
   Tiny and Small): the head's first convs read the neck features and their scores
   directly; the projection is not computed.
5. *Twin corner branches fused* (:func:`fuse_twin_branches`): the two corner branches
   run identical-shape convolutions on the same input; their first convs become one
   conv with twice the output channels, the following conv/activation pairs become
   grouped convs (groups = 2) on the concatenated channels.
6. The confidence output is dropped (the tracker computes the score from the maps).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from hit_core.errors import ExportError

RUNTIME_FORMAT = "hit_ros.runtime/1"
SEARCH_INPUT = "search"
TEMPLATE_INPUT = "template"
BOX_OUTPUT = "box"
MAPS_OUTPUT = "score_maps"

CHANNEL_BLOCK = 16

_ELEMENTWISE = frozenset({"Relu", "HardSwish", "HardSigmoid", "Sigmoid", "LeakyRelu", "Clip", "Identity"})


def _onnx():
    import onnx

    return onnx


def _consumers(model) -> dict[str, list]:
    consumers: dict[str, list] = {}
    for node in model.graph.node:
        for name in node.input:
            consumers.setdefault(name, []).append(node)
    return consumers


def _initializers(model) -> dict:
    return {init.name: init for init in model.graph.initializer}


def _array(model, name: str) -> np.ndarray:
    from onnx import numpy_helper

    init = _initializers(model).get(name)
    if init is None:
        raise ExportError(f"expected a constant weight {name!r} in the graph")
    return numpy_helper.to_array(init)


def _attributes(node) -> dict:
    from onnx import helper

    return {attr.name: helper.get_attribute_value(attr) for attr in node.attribute}


def _add_initializer(model, name: str, array: np.ndarray) -> str:
    from onnx import numpy_helper

    model.graph.initializer.append(numpy_helper.from_array(np.ascontiguousarray(array), name))
    return name


def _remove_unused_initializers(model) -> None:
    used = {name for node in model.graph.node for name in node.input}
    kept = [init for init in model.graph.initializer if init.name in used]
    del model.graph.initializer[:]
    model.graph.initializer.extend(kept)


def _splice(model, new_nodes: list, replaced: list = (), before=None) -> None:
    """Put ``new_nodes`` where the first of ``replaced`` (or ``before``) was, and drop ``replaced``.

    Graph order is topological, so the new nodes go at the earliest position of what they replace.
    """
    nodes = list(model.graph.node)
    position = min(nodes.index(node) for node in [*replaced, *([before] if before is not None else [])])
    for node in replaced:
        model.graph.node.remove(node)
    for offset, node in enumerate(new_nodes):
        model.graph.node.insert(position + offset, node)


def _linear_parts(matmul, add, weights: dict) -> tuple[np.ndarray, np.ndarray, str] | None:
    """``(W, b, bias name)`` when ``add(matmul(x, W), b)`` is a linear layer with constant 2-D ``W`` and ``b`` (N,)."""
    from onnx import numpy_helper

    bias_name = next((name for name in add.input if name != matmul.output[0]), "")
    if matmul.output[0] not in add.input or matmul.input[1] not in weights or bias_name not in weights:
        return None
    weight, bias = numpy_helper.to_array(weights[matmul.input[1]]), numpy_helper.to_array(weights[bias_name])
    if weight.ndim != 2 or bias.shape != (weight.shape[1],):
        return None
    return weight, bias, bias_name


def _extract(model, inputs: list[str], outputs: list[str]):
    from onnx.utils import Extractor

    return Extractor(model).extract_model(inputs, outputs)


def split_template_work(network_graph):
    """Split a network graph into (template graph, search graph, boundary tensor names).

    Boundary tensors are produced from the template input alone and consumed by nodes
    that also depend on the search input; the template graph computes them, the search
    graph takes them as inputs.
    """
    onnx = _onnx()
    model = onnx.shape_inference.infer_shapes(network_graph, data_prop=True)
    graph_inputs = {value.name for value in model.graph.input}
    if graph_inputs != {SEARCH_INPUT, TEMPLATE_INPUT}:
        raise ExportError(f"the network graph must have inputs search and template, it has {sorted(graph_inputs)}")
    depends: dict[str, frozenset] = {name: frozenset({name}) for name in graph_inputs}
    for node in model.graph.node:
        sources = frozenset().union(*(depends.get(name, frozenset()) for name in node.input if name))
        for output in node.output:
            depends[output] = sources
    template_only = frozenset({TEMPLATE_INPUT})
    outputs = [value.name for value in model.graph.output]
    boundary: list[str] = []
    for node in model.graph.node:
        if depends[node.output[0]] == template_only:
            continue
        for name in node.input:
            if depends.get(name) == template_only and name not in boundary and name != TEMPLATE_INPUT:
                boundary.append(name)
    if not boundary:
        raise ExportError("found no template-only work in the network graph (unexpected graph structure)")
    template_graph = _extract(model, [TEMPLATE_INPUT], boundary)
    search_graph = _extract(model, [SEARCH_INPUT, *boundary], outputs)
    return template_graph, search_graph, boundary


def fold_input_normalization(model, input_name: str, mean: np.ndarray, std: np.ndarray):
    """Make ``input_name`` a uint8 (1, H, W, 3) RGB image and fold ``(x/255 - mean)/std`` into its conv.

    ``(x/255 - mean)/std`` becomes ``(x - 255 mean)`` in the graph with ``1/(255 std)`` folded into
    the conv weights: the image stays zero-centred where the conv pads it with zeros, so border
    pixels are exact, and the conv output needs no per-position correction (measured: a correction
    map added after the conv cost 0.3-0.5 ms per FP32 frame, mostly layout conversions around it).
    The input must feed exactly one Conv (constant weights). Returns the rewritten model (a copy).
    """
    onnx = _onnx()
    from onnx import TensorProto, helper

    result = onnx.ModelProto()
    result.CopyFrom(model)
    consumers = _consumers(result)
    users = consumers.get(input_name, [])
    if len(users) != 1 or users[0].op_type != "Conv":
        raise ExportError(f"input {input_name!r} must feed exactly one Conv to fold the normalisation into it")
    conv = users[0]
    value = next(v for v in result.graph.input if v.name == input_name)
    dims = [d.dim_value for d in value.type.tensor_type.shape.dim]
    if len(dims) != 4 or dims[0] != 1 or dims[1] != 3 or dims[2] != dims[3]:
        raise ExportError(f"input {input_name!r} must be (1, 3, S, S), got {dims}")
    size = dims[2]
    weight = _array(result, conv.input[1])
    if weight.shape[1] != 3:
        raise ExportError(f"the first convolution must read all 3 colour channels in one group, its weight is {weight.shape}")
    scale = 1.0 / (255.0 * std.astype(np.float64))
    folded_weight = (weight.astype(np.float64) * scale[None, :, None, None]).astype(np.float32)
    raw_mean = (255.0 * mean.astype(np.float64)).astype(np.float32).reshape(1, 3, 1, 1)

    prefix = f"{input_name}_u8"
    nodes = [
        helper.make_node("Transpose", [input_name], [f"{prefix}_nchw"], perm=[0, 3, 1, 2], name=f"{prefix}_transpose"),
        helper.make_node("Cast", [f"{prefix}_nchw"], [f"{prefix}_float"], to=TensorProto.FLOAT, name=f"{prefix}_cast"),
        helper.make_node(
            "Sub",
            [f"{prefix}_float", _add_initializer(result, f"{prefix}_mean", raw_mean)],
            [f"{prefix}_centred"],
            name=f"{prefix}_centre",
        ),
    ]
    conv.input[0] = f"{prefix}_centred"
    conv.input[1] = _add_initializer(result, f"{prefix}_folded_weight", folded_weight)
    _splice(result, nodes, before=conv)
    value.type.tensor_type.elem_type = TensorProto.UINT8
    shape = value.type.tensor_type.shape
    del shape.dim[:]
    for dim in (1, size, size, 3):
        shape.dim.add().dim_value = dim
    _remove_unused_initializers(result)
    return result


def _twin_conv(model, a, b) -> bool:
    if a.op_type != "Conv" or b.op_type != "Conv" or _attributes(a) != _attributes(b):
        return False
    if len(a.input) != len(b.input):
        return False
    inits = _initializers(model)
    for name_a, name_b in zip(a.input[1:], b.input[1:]):
        if name_a not in inits or name_b not in inits or list(inits[name_a].dims) != list(inits[name_b].dims):
            return False
    return True


def _sole_consumer(consumers, outputs: set[str], name: str):
    users = consumers.get(name, [])
    return users[0] if len(users) == 1 and name not in outputs else None


def fuse_twin_branches(model) -> tuple[object, list[tuple[str, str, str]]]:
    """Fuse pairs of identical-shape branches that start with two Convs on the same tensor.

    Returns ``(model copy, [(fused tensor, tensor a, tensor b), ...])``: for each fused pair
    of branch ends, the fused tensor holds ``a``'s channels then ``b``'s, and a Split
    node re-creates ``a`` and ``b`` for the rest of the graph.
    """
    onnx = _onnx()
    from onnx import helper

    result = onnx.ModelProto()
    result.CopyFrom(model)
    fused_ends: list[tuple[str, str, str]] = []
    while True:
        consumers = _consumers(result)
        outputs = {value.name for value in result.graph.output}
        pair = next(
            (
                (a, b)
                for users in consumers.values()
                for i, a in enumerate(users)
                for b in users[i + 1 :]
                # A grouped first conv would interleave the branches' groups: start at plain convs only.
                if a.input[0] == b.input[0] and _twin_conv(result, a, b) and _attributes(a).get("group", 1) == 1
            ),
            None,
        )
        if pair is None:
            break
        chain = [pair]
        while True:
            a, b = chain[-1]
            next_a = _sole_consumer(consumers, outputs, a.output[0])
            next_b = _sole_consumer(consumers, outputs, b.output[0])
            if next_a is None or next_b is None or next_a.op_type != next_b.op_type:
                break
            if next_a.op_type in _ELEMENTWISE and _attributes(next_a) == _attributes(next_b) and len(next_a.input) == 1:
                chain.append((next_a, next_b))
            elif _twin_conv(result, next_a, next_b):
                chain.append((next_a, next_b))
            else:
                break
        new_nodes = []
        source = chain[0][0].input[0]
        for step, (a, b) in enumerate(chain):
            fused_name = f"{a.output[0]}__twin"
            attrs = _attributes(a)
            inputs = [source]
            if a.op_type == "Conv":
                if step > 0:
                    attrs["group"] = 2 * attrs.get("group", 1)
                for name_a, name_b in zip(a.input[1:], b.input[1:]):
                    merged = np.concatenate([_array(result, name_a), _array(result, name_b)], axis=0)
                    inputs.append(_add_initializer(result, f"{name_a}__twin", merged))
            new_nodes.append(helper.make_node(a.op_type, inputs, [fused_name], name=fused_name, **attrs))
            source = fused_name
        end_a, end_b = chain[-1][0].output[0], chain[-1][1].output[0]
        last_conv = next(a for a, _ in reversed(chain) if a.op_type == "Conv")
        channels = _array(result, last_conv.input[1]).shape[0]
        split_sizes = _add_initializer(result, f"{source}__split", np.array([channels, channels], dtype=np.int64))
        new_nodes.append(helper.make_node("Split", [source, split_sizes], [end_a, end_b], axis=1, name=f"{source}__split"))
        _splice(result, new_nodes, [node for pair_nodes in chain for node in pair_nodes])
        fused_ends.append((source, end_a, end_b))
    _remove_unused_initializers(result)
    return result, fused_ends


def _producers(model) -> dict[str, object]:
    return {output: node for node in model.graph.node for output in node.output}


def _prune_dead_nodes(model) -> None:
    """Drop nodes whose outputs no longer reach a graph output (graph order is topological)."""
    needed = {value.name for value in model.graph.output}
    kept = []
    for node in reversed(list(model.graph.node)):
        if any(name in needed for name in node.output):
            kept.append(node)
            needed.update(name for name in node.input if name)
    del model.graph.node[:]
    model.graph.node.extend(reversed(kept))
    _remove_unused_initializers(model)


def _constant(model, name: str) -> np.ndarray | None:
    """The value of an initializer or Constant node output, else None."""
    if name in _initializers(model):
        return _array(model, name)
    producer = _producers(model).get(name)
    if producer is not None and producer.op_type == "Constant":
        from onnx import numpy_helper

        return numpy_helper.to_array(_attributes(producer)["value"])
    return None


@dataclass(frozen=True)
class _ModulatedHead:
    """The neck's last projection and the head's global-vector modulation, as found in a graph."""

    neck_map: str  # (1, C0, H, W) fused neck features, before the per-position projection
    neck_tokens: str  # the same, flattened to (1, C0, H*W)
    global_vector: str  # (1, 1, C) projected global vector e, before the neck joins it to the projected map
    projection: np.ndarray  # (C0, C) per-position projection P (tokens @ P + bias)
    projection_bias: np.ndarray  # (C,)
    convs: tuple  # the Conv nodes reading the modulated map (1, C, H, W)


def _find_modulated_head(model) -> _ModulatedHead | None:
    """Locate ``conv(reshape(S * (S @ e)))`` with ``S = tokens(neck_map) @ P + b`` (spec sections 2 and 3.1)."""
    producers, consumers = _producers(model), _consumers(model)

    def made_by(name: str, op_type: str):
        node = producers.get(name)
        return node if node is not None and node.op_type == op_type else None

    def perm(node) -> list[int]:
        return list(_attributes(node).get("perm", []))

    for mul in (node for node in model.graph.node if node.op_type == "Mul"):
        for tokens_name, scores_name in (mul.input, reversed(mul.input)):
            scores = made_by(scores_name, "MatMul")
            if scores is None or scores.input[0] != tokens_name:
                continue
            to_channels = consumers.get(mul.output[0], [])
            if len(to_channels) != 1 or to_channels[0].op_type != "Transpose" or perm(to_channels[0]) != [0, 2, 1]:
                continue
            to_map = consumers.get(to_channels[0].output[0], [])
            if len(to_map) != 1 or to_map[0].op_type != "Reshape":
                continue
            convs = consumers.get(to_map[0].output[0], [])
            if not convs or any(c.op_type != "Conv" or c.input[0] != to_map[0].output[0] for c in convs):
                continue
            # tokens S: Transpose(Slice(T, 1:, axis 0)), T = Transpose(Concat([e, S], axis 1)), e = Gather(T, 0)
            unbatch = made_by(tokens_name, "Transpose")
            rows = made_by(unbatch.input[0], "Slice") if unbatch is not None and perm(unbatch) == [1, 0, 2] else None
            if rows is None or len(rows.input) < 4:
                continue
            starts, axes = _constant(model, rows.input[1]), _constant(model, rows.input[3])
            steps = _constant(model, rows.input[4]) if len(rows.input) > 4 and rows.input[4] else np.array([1])
            if starts is None or axes is None or steps is None:
                continue
            if (starts.tolist(), axes.tolist(), steps.tolist()) != ([1], [0], [1]):
                continue
            sequence_first = made_by(rows.input[0], "Transpose")
            joined = made_by(sequence_first.input[0], "Concat") if sequence_first is not None else None
            if joined is None or perm(sequence_first) != [1, 0, 2] or _attributes(joined).get("axis") != 1:
                continue
            if len(joined.input) != 2:
                continue
            projected = made_by(joined.input[1], "Add")
            if projected is None:
                continue
            matmul_name = next((n for n in projected.input if made_by(n, "MatMul") is not None), None)
            bias_name = next((n for n in projected.input if n != matmul_name), None)
            if matmul_name is None or bias_name is None:
                continue
            project = made_by(matmul_name, "MatMul")
            weight, bias = _constant(model, project.input[1]), _constant(model, bias_name)
            if weight is None or bias is None or weight.ndim != 2 or bias.shape != (weight.shape[1],):
                continue
            to_tokens = made_by(project.input[0], "Transpose")
            flat = made_by(to_tokens.input[0], "Reshape") if to_tokens is not None and perm(to_tokens) == [0, 2, 1] else None
            if flat is None:
                continue
            # scores: MatMul(S, Unsqueeze(Gather(T, 0, axis 0), -1)) = S @ e^T
            column = made_by(scores.input[1], "Unsqueeze")
            first = made_by(column.input[0], "Gather") if column is not None else None
            if first is None or first.input[0] != sequence_first.output[0] or _attributes(first).get("axis", 0) != 0:
                continue
            index = _constant(model, first.input[1])
            if index is None or index.ndim != 0 or int(index) != 0:
                continue
            return _ModulatedHead(
                neck_map=flat.input[0],
                neck_tokens=flat.output[0],
                global_vector=joined.input[0],
                projection=weight,
                projection_bias=bias,
                convs=tuple(convs),
            )
    return None


def _shapes(model) -> dict[str, list[int]]:
    onnx = _onnx()
    inferred = onnx.shape_inference.infer_shapes(model, data_prop=True)
    values = [*inferred.graph.value_info, *inferred.graph.input, *inferred.graph.output]
    return {v.name: [d.dim_value for d in v.type.tensor_type.shape.dim] for v in values}


def fold_head_projection(model):
    """Fold the neck's per-position projection into the head's first convolutions, where that is less work.

    The head scales every projected feature ``S_p = P^T f_p + b`` by ``a_p = <S_p, e>`` and convolves
    the result. Both steps are linear in ``f_p`` for a fixed frame, so
    ``conv(a * S) = conv'([a * f ; a])`` with ``W'_t = [W_t P^T | W_t b]`` and
    ``a_p = f_p . (P e) + b . e``: the first convolutions read C0 + 1 channels instead of C, and the
    projection itself disappears. Worth it when C0 + 1, padded to whole channel blocks, is below C
    (HiT-Tiny/Small: 144 vs 256 channels); otherwise, or when the pattern is not found, the model is
    returned unchanged. The global vector is then read before the neck joins it to the projected map, so
    the projection is no longer computed at all. Exact up to float rounding. Returns ``(model copy, applied)``.
    """
    onnx = _onnx()
    from onnx import helper

    result = onnx.ModelProto()
    result.CopyFrom(model)
    head = _find_modulated_head(result)
    if head is None:
        return result, False
    shapes = _shapes(result)
    neck_channels, width = head.projection.shape
    neck_shape = shapes.get(head.neck_map, [])
    # ONNX Runtime's blocked (NCHWc) convolutions, its fastest on x86, need a multiple of 16 input channels.
    padding = -(neck_channels + 1) % CHANNEL_BLOCK
    if len(neck_shape) != 4 or neck_shape[:2] != [1, neck_channels] or neck_channels + 1 + padding >= width:
        return result, False
    if shapes.get(head.global_vector) != [1, 1, width]:
        return result, False
    conv_weights = [_constant(result, conv.input[1]) for conv in head.convs]
    if any(weight is None or weight.shape[1] != width for weight in conv_weights):
        return result, False
    projection = head.projection.astype(np.float64)
    bias = head.projection_bias.astype(np.float64)
    prefix = "head_fold"
    scores_weight = np.concatenate([projection, bias[None]], axis=0).T  # (C, C0 + 1): e -> [P e ; b . e]
    nodes = [
        helper.make_node(
            "MatMul",
            [head.global_vector, _add_initializer(result, f"{prefix}_scores_weight", scores_weight.astype(np.float32))],
            [f"{prefix}_scores_row"],
            name=f"{prefix}_scores_vector",
        ),
        helper.make_node(
            "Split",
            [f"{prefix}_scores_row", _add_initializer(result, f"{prefix}_split", np.array([neck_channels, 1]))],
            [f"{prefix}_direction", f"{prefix}_offset"],
            axis=2,
            name=f"{prefix}_split",
        ),
        helper.make_node(
            "MatMul", [f"{prefix}_direction", head.neck_tokens], [f"{prefix}_scores_flat"], name=f"{prefix}_scores"
        ),
        helper.make_node(
            "Add", [f"{prefix}_scores_flat", f"{prefix}_offset"], [f"{prefix}_scores_biased"], name=f"{prefix}_offset"
        ),
        helper.make_node(
            "Reshape",
            [f"{prefix}_scores_biased", _add_initializer(result, f"{prefix}_map_shape", np.array([1, 1, *neck_shape[2:]]))],
            [f"{prefix}_scores_map"],
            name=f"{prefix}_scores_map",
        ),
        helper.make_node("Mul", [head.neck_map, f"{prefix}_scores_map"], [f"{prefix}_scaled"], name=f"{prefix}_scale"),
        helper.make_node(
            "Concat",
            [
                f"{prefix}_scaled",
                f"{prefix}_scores_map",
                *(
                    [_add_initializer(result, f"{prefix}_padding", np.zeros((1, padding, *neck_shape[2:]), np.float32))]
                    if padding
                    else []
                ),
            ],
            [f"{prefix}_input"],
            axis=1,
            name=f"{prefix}_input",
        ),
    ]
    for conv, weight in zip(head.convs, conv_weights):
        weight = weight.astype(np.float64)
        folded = np.concatenate(
            [
                np.einsum("oikl,ci->ockl", weight, projection),
                np.einsum("oikl,i->okl", weight, bias)[:, None],
                np.zeros((weight.shape[0], padding, *weight.shape[2:])),
            ],
            axis=1,
        )
        conv.input[0] = f"{prefix}_input"
        conv.input[1] = _add_initializer(result, f"{conv.input[1]}__{prefix}", folded.astype(np.float32))
    _splice(result, nodes, before=min(head.convs, key=list(result.graph.node).index))
    _prune_dead_nodes(result)
    return result, True


def split_fused_projections(model) -> tuple[object, int]:
    """Compute each part of a fused projection with its own layer instead of splitting one output.

    The attention blocks compute queries, keys and values with one linear layer and split the
    result per head: ``Split(Reshape(x @ W + b, (.., heads, q + k + v)), [q, k, v], axis -1)``.
    Computing each part with its own weight columns gives the same tensors (the same dot
    products) without the split. Returns ``(model copy, rewrites)``.
    """
    from onnx import helper

    result = _onnx().ModelProto()
    result.CopyFrom(model)
    producers, consumers = _producers(result), _consumers(result)
    weights = _initializers(result)
    outputs = {value.name for value in result.graph.output}
    rewrites = 0
    for split in [node for node in result.graph.node if node.op_type == "Split" and len(node.input) > 1]:
        reshape = producers.get(split.input[0])
        add = producers.get(reshape.input[0]) if reshape is not None and reshape.op_type == "Reshape" else None
        if add is None or add.op_type != "Add":
            continue
        matmul = next((producers[n] for n in add.input if n in producers and producers[n].op_type == "MatMul"), None)
        linear = _linear_parts(matmul, add, weights) if matmul is not None else None
        if linear is None:
            continue
        intermediates = (matmul.output[0], add.output[0], reshape.output[0])
        if any(len(consumers.get(name, [])) != 1 or name in outputs for name in intermediates):
            continue
        weight, bias, _ = linear
        sizes, shape = _constant(result, split.input[1]), _constant(result, reshape.input[1])
        if sizes is None or shape is None:
            continue
        rank, axis, part = len(shape), _attributes(split).get("axis", 0), int(sizes.sum())
        if axis not in (-1, rank - 1) or int(shape[-1]) not in (-1, part) or part <= 0 or weight.shape[1] % part:
            continue
        grouped_weight = weight.reshape(weight.shape[0], -1, part)
        grouped_bias = bias.reshape(-1, part)
        stem = split.output[0]
        nodes = []
        for index, (start, size) in enumerate(zip(np.cumsum(sizes) - sizes, sizes)):
            name = f"{stem}_part{index}"
            columns = slice(int(start), int(start + size))
            part_shape = np.array([*shape[:-1], size], dtype=np.int64)
            nodes += [
                helper.make_node(
                    "MatMul",
                    [matmul.input[0], _add_initializer(
                        result, f"{name}_weight", grouped_weight[:, :, columns].reshape(weight.shape[0], -1))],
                    [f"{name}_product"],
                    name=f"{name}_matmul",
                ),
                helper.make_node(
                    "Add",
                    [f"{name}_product", _add_initializer(result, f"{name}_bias", grouped_bias[:, columns].reshape(-1))],
                    [f"{name}_biased"],
                    name=f"{name}_bias",
                ),
                helper.make_node(
                    "Reshape",
                    [f"{name}_biased", _add_initializer(result, f"{name}_shape", part_shape)],
                    [split.output[index]],
                    name=f"{name}_reshape",
                ),
            ]
        _splice(result, nodes, [matmul, add, reshape, split])
        rewrites += 1
    _prune_dead_nodes(result)
    return result, rewrites


def linear_layers_as_gemm(model) -> tuple[object, int]:
    """Rewrite every ``MatMul(x, W) + b`` with constant ``W`` (K, N) and ``b`` (N,) as ``Reshape -> Gemm -> Reshape``.

    The arithmetic is the same; the point is the quantised graph: ONNX Runtime turns a quantised
    Gemm with its bias into one integer kernel with a float output (QGemm), while a quantised
    MatMul on a 3-D token tensor needs a separate requantisation, dequantisation and bias Add.
    The reshapes are views (no copies). Needs static shapes. Returns ``(model copy, rewrites)``.
    """
    from onnx import helper

    result = _onnx().ModelProto()
    result.CopyFrom(model)
    shapes = _shapes(result)
    consumers = _consumers(result)
    weights = _initializers(result)
    outputs = {value.name for value in result.graph.output}
    rewrites = 0
    for matmul in [node for node in result.graph.node if node.op_type == "MatMul"]:
        users = consumers.get(matmul.output[0], [])
        if matmul.output[0] in outputs or len(users) != 1 or users[0].op_type != "Add":
            continue
        add = users[0]
        linear = _linear_parts(matmul, add, weights)
        out_shape = shapes.get(add.output[0], [])
        if linear is None or not out_shape or 0 in out_shape:
            continue
        weight, _, bias_name = linear
        stem = matmul.output[0]
        nodes = [
            helper.make_node(
                "Reshape",
                [matmul.input[0], _add_initializer(result, f"{stem}_rows_shape", np.array([-1, weight.shape[0]]))],
                [f"{stem}_rows"],
                name=f"{stem}_rows",
            ),
            helper.make_node("Gemm", [f"{stem}_rows", matmul.input[1], bias_name], [f"{stem}_gemm"], name=f"{stem}_gemm"),
            helper.make_node(
                "Reshape",
                [f"{stem}_gemm", _add_initializer(result, f"{stem}_out_shape", np.array(out_shape))],
                [add.output[0]],
                name=f"{stem}_tokens",
            ),
        ]
        _splice(result, nodes, [matmul, add])
        rewrites += 1
    del result.graph.value_info[:]  # annotations of the removed MatMul outputs; ONNX Runtime infers shapes itself
    return result, rewrites


def _expose_score_maps(model, fused_ends: list[tuple[str, str, str]]):
    """Replace the outputs score_tl/score_br by one ``score_maps`` (1, 2, 16, 16) output."""
    from onnx import TensorProto, helper

    fused = next((name for name, a, b in fused_ends if (a, b) == ("score_tl", "score_br")), None)
    if fused is not None:
        for node in model.graph.node:
            node.input[:] = [MAPS_OUTPUT if name == fused else name for name in node.input]
            node.output[:] = [MAPS_OUTPUT if name == fused else name for name in node.output]
    else:
        model.graph.node.append(helper.make_node("Concat", ["score_tl", "score_br"], [MAPS_OUTPUT], axis=1))
    kept = [value for value in model.graph.output if value.name == BOX_OUTPUT]
    del model.graph.output[:]
    model.graph.output.extend(kept)
    model.graph.output.append(helper.make_tensor_value_info(MAPS_OUTPUT, TensorProto.FLOAT, [1, 2, 16, 16]))
    return model


@dataclass(frozen=True)
class RuntimeGraphs:
    """Serialized runtime graphs (see module docstring) and the template-token tensor names."""

    template: bytes
    search: bytes
    template_tokens: tuple[str, ...]


def build_runtime_graphs(
    network_graph,
    *,
    fold_normalization: bool = True,
    split_projections: bool = True,
    fold_head: bool = True,
    fuse_branches: bool = True,
) -> RuntimeGraphs:
    """Derive the template and search runtime graphs from a network graph (exact rewrites).

    ``fold_normalization`` / ``split_projections`` / ``fold_head`` / ``fuse_branches`` switch
    rewrites 2 to 5 off (for measuring what each buys; without the first the inputs stay float
    NCHW normalised images).
    """
    onnx = _onnx()
    from hit_core.tracking.backends import IMAGENET_MEAN, IMAGENET_STD

    outputs = {value.name for value in network_graph.graph.output}
    if not {BOX_OUTPUT, "score_tl", "score_br"} <= outputs:
        raise ExportError(f"the network graph must output box, score_tl and score_br, it has {sorted(outputs)}")
    pruned = _extract(
        onnx.shape_inference.infer_shapes(network_graph, data_prop=True), [SEARCH_INPUT, TEMPLATE_INPUT], [BOX_OUTPUT, "score_tl", "score_br"]
    )
    template_graph, search_graph, boundary = split_template_work(pruned)
    if fold_normalization:
        template_graph = fold_input_normalization(template_graph, TEMPLATE_INPUT, IMAGENET_MEAN, IMAGENET_STD)
        search_graph = fold_input_normalization(search_graph, SEARCH_INPUT, IMAGENET_MEAN, IMAGENET_STD)
    if split_projections:
        search_graph, _ = split_fused_projections(search_graph)
    if fold_head:
        search_graph, _ = fold_head_projection(search_graph)
    fused_ends: list[tuple[str, str, str]] = []
    if fuse_branches:
        search_graph, fused_ends = fuse_twin_branches(search_graph)
    search_graph = _expose_score_maps(search_graph, fused_ends)
    for graph in (template_graph, search_graph):
        entry = graph.metadata_props.add()
        entry.key, entry.value = "hit_ros.format", RUNTIME_FORMAT
        onnx.checker.check_model(graph)
    return RuntimeGraphs(template_graph.SerializeToString(), search_graph.SerializeToString(), tuple(boundary))
