"""The ONNX files ``hit export`` writes: names, metadata, and the two graph forms (no torch needed).

* the **network graph**: inputs ``search`` (1, 3, 256, 256) and ``template`` (1, 3, 128, 128),
  float32, ImageNet-normalised RGB; outputs ``box`` (1, 4), ``score`` (1) and the raw corner
  maps ``score_tl`` / ``score_br`` (1, 1, 16, 16). Runtime graphs and TensorRT engines are
  built from it.
* the **official-compatible file**: the same with only ``box`` and ``score`` as outputs. Its
  metadata records the variant, the checkpoint's sha256 and the names of the internal tensors
  that hold the corner maps, so :func:`network_graph_from_file` can turn it back into a network
  graph on a machine without PyTorch.
"""

from __future__ import annotations

from hit_core.errors import ExportError

ONNX_FORMAT = "hit_ros.onnx/1"
OFFICIAL_OUTPUTS = ("box", "score")
MAP_OUTPUTS = ("score_tl", "score_br")
NETWORK_OUTPUTS = (*OFFICIAL_OUTPUTS, *MAP_OUTPUTS)
MAP_SIDE = 16


def set_metadata(graph, values: dict[str, str]) -> None:
    """Set (replace) metadata entries of an ONNX graph."""
    kept = [entry for entry in graph.metadata_props if entry.key not in values]
    del graph.metadata_props[:]
    graph.metadata_props.extend(kept)
    for key, value in values.items():
        entry = graph.metadata_props.add()
        entry.key, entry.value = key, value


def read_metadata(graph) -> dict[str, str]:
    """The ``hit_ros.*`` metadata of an ONNX graph as a dict (empty for foreign files)."""
    return {entry.key: entry.value for entry in graph.metadata_props if entry.key.startswith("hit_ros.")}


def _producer_through_identities(graph, name: str) -> str:
    producers = {output: node for node in graph.graph.node for output in node.output}
    node = producers.get(name)
    while node is not None and node.op_type == "Identity":
        name = node.input[0]
        node = producers.get(name)
    return name


def official_graph(network_graph):
    """The official-compatible graph: the network graph with only ``box`` and ``score`` as outputs.

    The corner maps stay inside the graph (they feed the box); their internal tensor names
    are recorded in the metadata (``hit_ros.score_tl`` / ``hit_ros.score_br``).
    """
    import onnx

    graph = onnx.ModelProto()
    graph.CopyFrom(network_graph)
    internal = {name: _producer_through_identities(graph, name) for name in MAP_OUTPUTS}
    for node in [n for n in graph.graph.node if n.op_type == "Identity" and n.output[0] in MAP_OUTPUTS]:
        graph.graph.node.remove(node)
    kept = [output for output in graph.graph.output if output.name in OFFICIAL_OUTPUTS]
    del graph.graph.output[:]
    graph.graph.output.extend(kept)
    set_metadata(graph, {f"hit_ros.{name}": internal[name] for name in MAP_OUTPUTS})
    onnx.checker.check_model(graph)
    return graph


def network_graph_from_file(graph):
    """Turn a loaded ``hit export`` file back into a network graph (maps as outputs again).

    Accepts a network graph unchanged. Raises ExportError for ONNX files that were not
    written by this project (their corner maps cannot be located).
    """
    import onnx

    outputs = [output.name for output in graph.graph.output]
    if all(name in outputs for name in NETWORK_OUTPUTS):
        return graph
    metadata = read_metadata(graph)
    if metadata.get("hit_ros.format") != ONNX_FORMAT:
        raise ExportError(
            f"this ONNX file was not written by `hit export` (format {metadata.get('hit_ros.format')!r}, outputs "
            f"{outputs}); export it with `hit export --variant V --checkpoint CKPT --output OUT.onnx`"
        )
    result = onnx.ModelProto()
    result.CopyFrom(graph)
    for name in MAP_OUTPUTS:
        internal = metadata.get(f"hit_ros.{name}", "")
        if internal != name:
            result.graph.node.append(onnx.helper.make_node("Identity", [internal], [name]))
        result.graph.output.append(
            onnx.helper.make_tensor_value_info(name, onnx.TensorProto.FLOAT, [1, 1, MAP_SIDE, MAP_SIDE])
        )
    onnx.checker.check_model(result)
    return result
