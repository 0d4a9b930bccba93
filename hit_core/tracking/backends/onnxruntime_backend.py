"""ONNX Runtime backend: the tracker's runtime graphs on CPU (default) or the CUDA provider.

``device="cpu"`` runs the graphs on ONNX Runtime's OpenVINO execution provider when the
installed onnxruntime has it (the ``onnxruntime-openvino`` package, installed by
``scripts/setup_env.sh`` and ``pip install`` on x86-64 Linux), else on ONNX Runtime's own CPU
kernels; the log says which. ``"cpu:openvino"`` insists on OpenVINO (an error without it),
``"cpu:onnxruntime"`` on ONNX Runtime's own kernels. OpenVINO compiles each graph as a whole
and runs the FP32 and INT8 search graphs 1.2-1.7x faster than ONNX Runtime's own kernels
(figures in docs/export.md), with the same boxes to float rounding (it is told to compute in
FP32, not left to a default: OpenVINO's CPU plugin on its own picks bfloat16 on CPUs with
AMX). If the provider fails to compile a graph, the backend logs why and runs ONNX Runtime's
own kernels instead.

The network runs as two cached graphs (:mod:`hit_core.export.runtime_graph`): the
template graph once per target in :meth:`set_template` (the template's patch
embedding), and the search graph on every frame, fed the uint8 crop directly
(normalisation is folded into its first convolution). Sessions use the full graph
optimisation level, ``threads`` intra-op threads and one inter-op thread, sequential
execution. Inputs and outputs go through an I/O binding with preallocated output
buffers, so a frame costs no allocations or copies beyond the 1 KiB result.

``checkpoint`` may be a PyTorch checkpoint (exported on first use; needs torch and
onnx) or an ONNX file written by ``hit export`` (needs only onnxruntime and onnx).
``engine_cache_dir`` is where the derived graphs are cached (``<dir>/onnx``; default
``~/.cache/hit_ros``). ``precision``: "fp32" or "int8" (CPU only; calibrated on the
bundled demo sequence the first time, see :mod:`hit_core.export.int8`).
"""

from __future__ import annotations

import importlib.util
import logging
from pathlib import Path

import numpy as np

from hit_core.errors import BackendError, ConfigError, HitError
from hit_core.tracking.backends import (
    SCORE_MAP_SIZE,
    SEARCH_SIZE,
    TEMPLATE_SIZE,
    Backend,
    NetworkOutput,
    check_crop,
    warn_untrained,
)

LOGGER = logging.getLogger("hit_core.tracking")

PRECISIONS = ("fp32", "int8")


def is_available() -> tuple[bool, str]:
    """Whether onnxruntime is importable (the graphs also need ``onnx`` the first time)."""
    if importlib.util.find_spec("onnxruntime") is None:
        return False, "onnxruntime is not installed (pip install onnxruntime; onnxruntime-openvino on x86-64 Linux)"
    return True, ""


CPU_DEVICES = ("cpu", "cpu:openvino", "cpu:onnxruntime")
OPENVINO = "OpenVINOExecutionProvider"


def openvino_available() -> bool:
    """Whether the installed onnxruntime has the OpenVINO execution provider (onnxruntime-openvino)."""
    import onnxruntime as ort

    return OPENVINO in ort.get_available_providers()


def openvino_provider(threads: int | None) -> tuple:
    """The OpenVINO execution provider entry for ONNX Runtime, FP32 arithmetic, ``threads`` threads."""
    # FP32 stated, not left to a default: OpenVINO's CPU plugin on its own picks bfloat16 on CPUs with AMX.
    options = {"device_type": "CPU", "precision": "FP32"}
    if threads is not None:
        options["num_of_threads"] = str(threads)
    return (OPENVINO, options)


def _providers(device: str, threads: int | None) -> list:
    """Execution providers for ``device``, in ONNX Runtime's order of preference."""
    import onnxruntime as ort

    if device == "cpu":
        device = "cpu:openvino" if openvino_available() else "cpu:onnxruntime"
    if device == "cpu:onnxruntime":
        return ["CPUExecutionProvider"]
    if device == "cpu:openvino":
        if not openvino_available():
            raise BackendError(
                "device 'cpu:openvino' asked for, but this onnxruntime has no OpenVINO execution provider "
                "(pip uninstall onnxruntime && pip install onnxruntime-openvino, or use device='cpu')"
            )
        return [openvino_provider(threads), "CPUExecutionProvider"]
    if not device.startswith("cuda"):
        choices = ", ".join(repr(name) for name in CPU_DEVICES)
        raise ConfigError(f"invalid device {device!r} for onnxruntime; use {choices}, 'cuda' or 'cuda:N'")
    if "CUDAExecutionProvider" not in ort.get_available_providers():
        raise BackendError(
            f"device {device!r} asked for, but this onnxruntime has no CUDA provider "
            f"(install onnxruntime-gpu, or use device='cpu')"
        )
    index = int(device.split(":", 1)[1]) if ":" in device else 0
    return [("CUDAExecutionProvider", {"device_id": index}), "CPUExecutionProvider"]


def _provider_name(provider) -> str:
    return provider[0] if isinstance(provider, tuple) else provider


def provider_label(provider: str) -> str:
    """Short name of an execution provider: "openvino", "cpu" (ONNX Runtime's own kernels), "cuda"."""
    return provider.removesuffix("ExecutionProvider").lower()


class OnnxRuntimeBackend(Backend):
    """HiT on ONNX Runtime with the template work cached per target."""

    name = "onnxruntime"

    def __init__(
        self,
        *,
        variant: str,
        checkpoint: str | Path | None,
        device: str = "cpu",
        threads: int | None = None,
        engine_cache_dir: str | Path | None = None,
        precision: str = "fp32",
    ) -> None:
        import onnxruntime as ort

        from hit_core.export.model_cache import remove_cached, runtime_graph_files, weights_source

        if precision not in PRECISIONS:
            raise ConfigError(f"the onnxruntime backend runs {' or '.join(PRECISIONS)}, not {precision!r}")
        if precision == "int8" and device not in CPU_DEVICES:
            raise ConfigError("INT8 graphs are for the CPU; use precision='fp32' on a GPU (or the tensorrt backend)")
        providers = _providers(device, threads)
        source = weights_source(variant, checkpoint)
        if source.checkpoint is None:
            warn_untrained(source.variant)
        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        options.inter_op_num_threads = 1
        if threads is not None:
            options.intra_op_num_threads = threads
        try:
            files = runtime_graph_files(source, precision=precision, cache_dir=engine_cache_dir)
            try:
                self._load_sessions(ort, files, options, providers)
            except Exception as error:  # onnxruntime raises its own exception types for damaged files
                LOGGER.warning("cached graphs %s failed to load (%s); rebuilding them", files.search.parent, error)
                remove_cached([files.template, files.search])
                files = runtime_graph_files(source, precision=precision, cache_dir=engine_cache_dir)
                self._load_sessions(ort, files, options, providers)
        except HitError:
            raise
        except Exception as error:  # any runtime failure while building or loading is a backend failure
            raise BackendError(f"onnxruntime could not load HiT-{source.variant}: {error}") from error
        self.variant = source.variant
        self.precision = precision
        self.threads = threads
        self.providers = self._search_session.get_providers()
        self._token_names = [output.name for output in self._template_session.get_outputs()]
        search_inputs = {value.name for value in self._search_session.get_inputs()}
        if set(self._token_names) | {"search"} != search_inputs:
            raise BackendError(
                f"the cached graphs in {files.search.parent} do not fit together; delete them to rebuild"
            )
        self._box = np.empty((1, 4), dtype=np.float32)
        self._maps = np.empty((1, 2, SCORE_MAP_SIZE, SCORE_MAP_SIZE), dtype=np.float32)
        self._binding = self._search_session.io_binding()
        self._binding.bind_output("box", "cpu", 0, np.float32, self._box.shape, self._box.ctypes.data)
        self._binding.bind_output("score_maps", "cpu", 0, np.float32, self._maps.shape, self._maps.ctypes.data)
        self._tokens: list[np.ndarray] | None = None

    def _load_sessions(self, ort, files, options, providers: list) -> None:
        """Open both graphs; if OpenVINO cannot compile them, log why and use ONNX Runtime's kernels."""

        def open_with(chosen: list) -> None:
            self._template_session = ort.InferenceSession(str(files.template), options, providers=chosen)
            self._search_session = ort.InferenceSession(str(files.search), options, providers=chosen)

        try:
            open_with(providers)
        except Exception as error:  # onnxruntime and OpenVINO raise their own exception types
            if _provider_name(providers[0]) != OPENVINO:
                raise
            LOGGER.warning(
                "onnxruntime: the OpenVINO execution provider failed to load %s (%s); "
                "using ONNX Runtime's own CPU kernels", files.search.name, error
            )
            open_with(["CPUExecutionProvider"])
        LOGGER.info("onnxruntime: HiT graphs on the %s", self._search_session.get_providers()[0])

    @property
    def runtime(self) -> str:
        return provider_label(self.providers[0])

    def set_template(self, template: np.ndarray) -> None:
        if self._search_session is None:
            raise BackendError("this onnxruntime backend is closed")
        template = check_crop(template, TEMPLATE_SIZE, "template")
        try:
            tokens = self._template_session.run(self._token_names, {"template": template[None]})
        except Exception as error:  # runtime failure inside onnxruntime
            raise BackendError(f"onnxruntime failed on the template: {error}") from error
        self._tokens = [np.ascontiguousarray(value) for value in tokens]
        for name, value in zip(self._token_names, self._tokens):
            self._binding.bind_cpu_input(name, value)

    def infer(self, search: np.ndarray) -> NetworkOutput:
        if self._search_session is None:
            raise BackendError("this onnxruntime backend is closed")
        if self._tokens is None:
            raise BackendError("set_template must be called before infer")
        search = check_crop(search, SEARCH_SIZE, "search")
        self._binding.bind_cpu_input("search", search[None])
        try:
            self._search_session.run_with_iobinding(self._binding)
        except Exception as error:  # runtime failure inside onnxruntime
            raise BackendError(f"onnxruntime failed on the search crop: {error}") from error
        maps = self._maps[0].copy()
        return NetworkOutput(box=self._box[0].copy(), score_tl=maps[0], score_br=maps[1])

    def close(self) -> None:
        self._search_session = None
        self._template_session = None
        self._binding = None
        self._tokens = None
