"""TensorRT backend (NVIDIA GPUs, Jetson): a cached engine built from the network graph.

The engine is built on first use from the network graph (float inputs ``search`` /
``template``, outputs ``box``, ``score``, ``score_tl``, ``score_br``; see
:mod:`hit_core.export.onnx_export`) and cached in ``<engine_cache_dir>/tensorrt``
(default ``~/.cache/hit_ros/tensorrt``) under a key of model hash, TensorRT version,
GPU name and compute capability, precision and input shapes
(:mod:`hit_core.export.tensorrt_engine`). A cached engine that is damaged, was built for
something else, or that this TensorRT cannot deserialize is rebuilt automatically, with
a warning. ``hit engine`` pre-builds it so the first start of a robot does not wait.

Precision: "fp16" (recommended; TensorRT 10: FP16 builder flag; TensorRT 11: an FP16
ONNX) or "fp32". Device memory: PyTorch CUDA tensors (``torch`` must be installed with
CUDA, as on JetPack). The uint8 crops are copied to the GPU and normalised there; the
template tensor is prepared once per target; outputs are copied back after each frame.
``threads`` does not apply.
"""

from __future__ import annotations

import importlib.util
import logging
import warnings
from pathlib import Path

import numpy as np

from hit_core.errors import BackendError, ConfigError, HitError
from hit_core.tracking.backends import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    SCORE_MAP_SIZE,
    SEARCH_SIZE,
    TEMPLATE_SIZE,
    Backend,
    NetworkOutput,
    check_crop,
    warn_untrained,
)

LOGGER = logging.getLogger("hit_core.tracking")

CACHE_SUBDIR = "tensorrt"
INPUT_SHAPES = {"search": (1, 3, SEARCH_SIZE, SEARCH_SIZE), "template": (1, 3, TEMPLATE_SIZE, TEMPLATE_SIZE)}
OUTPUT_NAMES = ("box", "score_tl", "score_br")


def is_available() -> tuple[bool, str]:
    """TensorRT runs only with the ``tensorrt`` module, PyTorch with CUDA, and a visible NVIDIA GPU."""
    if importlib.util.find_spec("tensorrt") is None:
        return False, "the tensorrt Python module is not installed (JetPack, or pip install tensorrt)"
    if importlib.util.find_spec("torch") is None:
        return False, "PyTorch is not installed (the TensorRT backend keeps its buffers in torch CUDA tensors)"
    import torch

    if not torch.cuda.is_available():
        return False, "no CUDA GPU is visible to PyTorch"
    return True, ""


def _device_index(device: str) -> int:
    if device == "cuda":
        return 0
    if device.startswith("cuda:") and device[5:].isdigit():
        return int(device[5:])
    raise ConfigError(f"the tensorrt backend runs on a GPU; device must be 'cuda' or 'cuda:N', got {device!r}")


def engine_onnx_bytes(network_graph_path: Path, strategy: str) -> bytes:
    """The ONNX bytes TensorRT parses: the network graph without the confidence output
    (the tracker computes it), converted to FP16 for strategy "fp16-onnx" (TensorRT 11).

    The FP16 graph keeps float32 inputs and outputs (casts at the boundary).
    """
    import onnx
    from onnx.utils import Extractor

    graph = Extractor(onnx.load(str(network_graph_path))).extract_model(list(INPUT_SHAPES), list(OUTPUT_NAMES))
    if strategy == "fp16-onnx":
        from onnxconverter_common import float16

        with warnings.catch_warnings():
            # It warns for every weight below float16's range that it flushes to the smallest value; expected.
            warnings.simplefilter("ignore", UserWarning)
            graph = float16.convert_float_to_float16(graph, keep_io_types=True)
    return graph.SerializeToString()


class TensorRTBackend(Backend):
    """HiT as a TensorRT engine on an NVIDIA GPU."""

    name = "tensorrt"

    def __init__(
        self,
        *,
        variant: str,
        checkpoint: str | Path | None,
        device: str = "cuda",
        threads: int | None = None,
        engine_cache_dir: str | Path | None = None,
        precision: str = "fp16",
        force_rebuild: bool = False,
    ) -> None:
        import tensorrt as trt
        import torch

        from hit_core.export.files import resolve_cache_dir
        from hit_core.export.model_cache import network_graph_file, weights_source
        from hit_core.export.tensorrt_engine import ENGINE_PRECISIONS

        if precision not in ENGINE_PRECISIONS:
            raise ConfigError(f"the tensorrt backend runs {' or '.join(ENGINE_PRECISIONS)}, not {precision!r}")
        index = _device_index(device)
        if not torch.cuda.is_available() or index >= torch.cuda.device_count():
            raise BackendError(f"device {device!r} asked for, but PyTorch sees {torch.cuda.device_count()} CUDA GPU(s)")
        self._torch = torch
        self._device = torch.device("cuda", index)
        source = weights_source(variant, checkpoint)
        if source.checkpoint is None:
            warn_untrained(source.variant)
        try:
            network_path = network_graph_file(source, engine_cache_dir)
            self.engine_load = self._load_engine(
                trt, network_path, precision, resolve_cache_dir(engine_cache_dir, CACHE_SUBDIR), source, force_rebuild
            )
            self._bind_buffers(trt)
        except HitError:
            raise
        except Exception as error:  # CUDA / TensorRT runtime failures
            raise BackendError(f"TensorRT could not load HiT-{source.variant}: {error}") from error
        self.variant = source.variant
        self.precision = precision
        mean = torch.as_tensor(IMAGENET_MEAN, device=self._device).view(3, 1, 1)
        std = torch.as_tensor(IMAGENET_STD, device=self._device).view(3, 1, 1)
        self._mean, self._std = mean, std
        self._has_template = False

    def _load_engine(self, trt, network_path: Path, precision: str, folder: Path, source, force_rebuild: bool):
        from hit_core.export.tensorrt_engine import (
            build_serialized_engine,
            load_or_build_engine,
            make_engine_key,
            precision_strategy,
        )

        strategy = precision_strategy(trt, precision)
        onnx_bytes = engine_onnx_bytes(network_path, strategy)
        properties = self._torch.cuda.get_device_properties(self._device)
        key = make_engine_key(
            onnx_bytes,
            tensorrt_version=trt.__version__,
            gpu_name=properties.name,
            compute_capability=f"{properties.major}.{properties.minor}",
            precision=precision,
            input_shapes=INPUT_SHAPES,
        )
        self._runtime = trt.Runtime(trt.Logger(trt.Logger.WARNING))
        cached_engine: list = []

        def deserializes(payload: bytes) -> str | None:
            engine = self._runtime.deserialize_cuda_engine(payload)
            if engine is None:
                return "this TensorRT could not deserialize the cached engine"
            cached_engine.append(engine)
            return None

        with self._torch.cuda.device(self._device):
            loaded = load_or_build_engine(
                folder / key.file_name(f"hit_{source.variant}_{source.key}"),
                key,
                lambda: build_serialized_engine(trt, onnx_bytes, use_fp16_flag=strategy == "builder-flag"),
                force=force_rebuild,
                validate=deserializes,
            )
            engine = self._runtime.deserialize_cuda_engine(loaded.payload) if loaded.built else cached_engine[-1]
        if engine is None:
            raise BackendError(f"TensorRT cannot deserialize the engine it just built ({loaded.path})")
        self._engine = engine
        if loaded.built:
            LOGGER.info("TensorRT engine %s built in %.1f s (%s)", loaded.path, loaded.build_seconds, loaded.reason)
        return loaded

    def _bind_buffers(self, trt) -> None:
        torch = self._torch
        dtypes = {trt.float32: torch.float32, trt.float16: torch.float16}
        self._context = self._engine.create_execution_context()
        self._stream = torch.cuda.Stream(device=self._device)
        self._buffers: dict[str, torch.Tensor] = {}
        inputs = set()
        for position in range(self._engine.num_io_tensors):
            name = self._engine.get_tensor_name(position)
            shape = tuple(self._engine.get_tensor_shape(name))
            dtype = self._engine.get_tensor_dtype(name)
            if dtype not in dtypes:
                raise BackendError(f"engine tensor {name} has unsupported type {dtype}")
            if self._engine.get_tensor_mode(name) == trt.TensorIOMode.INPUT:
                inputs.add(name)
                if shape != INPUT_SHAPES.get(name):
                    raise BackendError(f"engine input {name} has shape {shape}, expected {INPUT_SHAPES.get(name)}")
            buffer = torch.empty(shape, dtype=dtypes[dtype], device=self._device)
            self._buffers[name] = buffer
            self._context.set_tensor_address(name, buffer.data_ptr())
        missing = [name for name in OUTPUT_NAMES if name not in self._buffers]
        if inputs != set(INPUT_SHAPES) or missing:
            raise BackendError(f"the engine's tensors {sorted(self._buffers)} do not match the HiT network graph")

    def _normalise_into(self, crop: np.ndarray, target) -> None:
        torch = self._torch
        with torch.cuda.stream(self._stream):
            image = torch.from_numpy(crop).to(self._device, non_blocking=False)
            normalised = (image.permute(2, 0, 1).float() / 255.0 - self._mean) / self._std
            target.copy_(normalised.unsqueeze(0))

    def set_template(self, template: np.ndarray) -> None:
        if self._engine is None:
            raise BackendError("this tensorrt backend is closed")
        template = check_crop(template, TEMPLATE_SIZE, "template")
        self._normalise_into(template, self._buffers["template"])
        self._has_template = True

    def infer(self, search: np.ndarray) -> NetworkOutput:
        if self._engine is None:
            raise BackendError("this tensorrt backend is closed")
        if not self._has_template:
            raise BackendError("set_template must be called before infer")
        search = check_crop(search, SEARCH_SIZE, "search")
        self._normalise_into(search, self._buffers["search"])
        if not self._context.execute_async_v3(self._stream.cuda_stream):
            raise BackendError("TensorRT execution failed (execute_async_v3 returned False)")
        with self._torch.cuda.stream(self._stream):
            box = self._buffers["box"].float().cpu().numpy().reshape(4)
            score_tl = self._buffers["score_tl"].float().cpu().numpy().reshape(SCORE_MAP_SIZE, SCORE_MAP_SIZE)
            score_br = self._buffers["score_br"].float().cpu().numpy().reshape(SCORE_MAP_SIZE, SCORE_MAP_SIZE)
        self._stream.synchronize()
        return NetworkOutput(box=box, score_tl=score_tl, score_br=score_br)

    def close(self) -> None:
        self._context = None
        self._engine = None
        self._buffers = {}
