"""Export and runtime graphs: ONNX export with a PyTorch check, INT8, TensorRT engines, benchmarks.

Modules (each imports its heavy dependencies itself; importing this package is cheap):

* :mod:`~hit_core.export.onnx_export` -- PyTorch -> official-compatible ONNX + the check on real crops;
* :mod:`~hit_core.export.onnx_format` -- the exported files' names and metadata (no torch needed);
* :mod:`~hit_core.export.runtime_graph` -- the tracker's own ONNX Runtime graphs (exact rewrites);
* :mod:`~hit_core.export.model_cache` -- the on-disk cache of derived graphs, keyed by the weights;
* :mod:`~hit_core.export.int8` -- static INT8 quantisation calibrated on real crops, INT8-vs-FP32 report;
* :mod:`~hit_core.export.tensorrt_engine` -- TensorRT engine build, cache key, validated atomic cache;
* :mod:`~hit_core.export.crops` -- real crop pairs from sequences or image folders;
* :mod:`~hit_core.export.benchmark` -- ``hit bench``;
* :mod:`~hit_core.export.files` -- hashing, atomic writes, lock files.
"""
