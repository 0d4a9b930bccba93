"""What each ONNX Runtime optimisation step buys: network latency per graph form, measured side by side.

Usage: python scripts/bench_export_steps.py --variant tiny [--checkpoint CKPT] [--threads 1] [--rounds 5]

All forms are built from the same checkpoint and run on the same real crops (bundled demo sequence or
--sequence) in one process, round-robin, so machine noise hits them alike. With --threads 1 the statistic
is the calling thread's CPU time per run (insensitive to other processes on a shared machine); with more
threads it is wall time. Reported: median over rounds of the per-round median, in ms.

Forms, cumulative:
  official   the official protocol: opset 11, float inputs, box output, default session options
  network    our network graph (opset 17), float inputs, ORT_ENABLE_ALL, 1 inter-op thread
  split      + template work moved out of the per-frame graph (the template tokens are an input)
  fold       + uint8 HWC crop in, normalisation folded into the first conv (no numpy normalisation)
  parts      + query/key/value computed by one layer per part instead of one layer and a split
  head       + the neck's last projection folded into the head's first convs (Tiny/Small; Base unchanged)
  fused      + the twin corner branches fused (grouped convs): the tracker's FP32 search graph
  int8       + static INT8 quantisation of the weighted layers (linear layers as QGemm)
  fused-ov   the FP32 search graph on ONNX Runtime's OpenVINO execution provider (where installed)
  int8-ov    the INT8 search graph on the OpenVINO execution provider (where installed)
For the float-input forms the numpy normalisation of the search crop is timed too (as the tracker would
have to do it per frame); the uint8 forms need none.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--variant", default="tiny", choices=("tiny", "small", "base"))
    parser.add_argument("--checkpoint", default=None)
    parser.add_argument("--sequence", default=None, help="sequence folder for crops (default: bundled demo)")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--runs", type=int, default=30, help="timed runs per form and round")
    args = parser.parse_args(argv)

    import onnxruntime as ort

    from hit_core.export.benchmark import official_protocol_graph
    from hit_core.export.crops import default_image_sources, real_crop_pairs
    from hit_core.export.int8 import quantize_search_graph
    from hit_core.export.onnx_export import export_network_graph, load_model_for_export
    from hit_core.export.runtime_graph import build_runtime_graphs
    from hit_core.tracking.backends import normalize_crop
    from hit_core.tracking.backends.onnxruntime_backend import openvino_available, openvino_provider

    sources = [args.sequence] if args.sequence else default_image_sources()
    pairs = real_crop_pairs(sources, pairs_per_source=4)
    pair = pairs[1]
    model, _ = load_model_for_export(args.variant, args.checkpoint)
    network = export_network_graph(model)
    graphs = {
        "split": build_runtime_graphs(
            network, fold_normalization=False, split_projections=False, fold_head=False, fuse_branches=False
        ),
        "fold": build_runtime_graphs(network, split_projections=False, fold_head=False, fuse_branches=False),
        "parts": build_runtime_graphs(network, fold_head=False, fuse_branches=False),
        "head": build_runtime_graphs(network, fuse_branches=False),
        "fused": build_runtime_graphs(network),
    }
    with tempfile.TemporaryDirectory() as scratch:
        template_path, search_path = Path(scratch) / "t.onnx", Path(scratch) / "s.onnx"
        template_path.write_bytes(graphs["fused"].template)
        search_path.write_bytes(graphs["fused"].search)
        int8 = quantize_search_graph(template_path, search_path, pairs)

    def session(data: bytes, tuned: bool = True, openvino: bool = False) -> ort.InferenceSession:
        options = ort.SessionOptions()
        options.intra_op_num_threads = args.threads
        if tuned:
            options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
            options.inter_op_num_threads = 1
        providers = [openvino_provider(args.threads)] if openvino else []
        return ort.InferenceSession(data, options, providers=[*providers, "CPUExecutionProvider"])

    float_template = normalize_crop(pair.template)
    forms = {}
    fused_tokens: dict = {}
    forms["official"] = (session(official_protocol_graph(args.variant, args.checkpoint), tuned=False),
                         lambda: {"search": normalize_crop(pair.search), "template": float_template})
    forms["network"] = (session(network.SerializeToString()),
                        lambda: {"search": normalize_crop(pair.search), "template": float_template})
    for name, uint8 in (("split", False), ("fold", True), ("parts", True), ("head", True), ("fused", True)):
        template_session = session(graphs[name].template)
        tokens = template_session.run(None, {"template": pair.template[None] if uint8 else float_template})
        token_feeds = dict(zip(graphs[name].template_tokens, tokens))
        if name == "fused":
            fused_tokens = token_feeds
        if uint8:
            forms[name] = (session(graphs[name].search), lambda t=token_feeds: {"search": pair.search[None], **t})
        else:
            forms[name] = (session(graphs[name].search),
                           lambda t=token_feeds: {"search": normalize_crop(pair.search), **t})
    forms["int8"] = (session(int8), lambda t=fused_tokens: {"search": pair.search[None], **t})
    if openvino_available():
        forms["fused-ov"] = (session(graphs["fused"].search, openvino=True),
                             lambda t=fused_tokens: {"search": pair.search[None], **t})
        forms["int8-ov"] = (session(int8, openvino=True), lambda t=fused_tokens: {"search": pair.search[None], **t})

    clock = time.thread_time if args.threads == 1 else time.perf_counter
    medians: dict[str, list[float]] = {name: [] for name in forms}
    for _ in range(args.rounds):
        for name, (runner, feeds) in forms.items():
            for _ in range(5):
                runner.run(None, feeds())
            samples = []
            for _ in range(args.runs):
                start = clock()
                runner.run(None, feeds())
                samples.append(clock() - start)
            medians[name].append(float(np.median(samples)) * 1000)
    unit = "thread CPU time" if args.threads == 1 else "wall time"
    print(f"HiT-{args.variant}, {args.threads} thread(s), {unit}, median of {args.rounds} rounds x {args.runs} runs")
    reference = float(np.median(medians["official"]))
    for name, values in medians.items():
        value = float(np.median(values))
        print(f"{name:9} {value:7.2f} ms   speed-up vs official {reference / value:4.2f}x   rounds {np.round(values, 1)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
