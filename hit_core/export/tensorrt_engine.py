"""TensorRT engines: build from ONNX, cache on disk, validate on load, rebuild on mismatch.

An engine is only valid for the exact model, TensorRT version, GPU (name and compute
capability), precision and input shapes it was built for. All of these form the
:class:`EngineKey`; the cache file name carries a digest of the key and the file itself
starts with a header that repeats the key, the payload size and the payload's sha256:

    b"HITTRT01" | uint32 little-endian header length | header JSON (utf-8) | engine bytes

On load every part is checked (magic, header, each key field, size, hash) and any
mismatch or damage is reported as the reason for a rebuild; the rebuilt engine replaces
the file atomically under a lock (:mod:`hit_core.export.files`).

Precision: TensorRT 10 builds an FP16 engine from the FP32 ONNX with the ``FP16`` builder
flag. TensorRT 11 removed that flag (networks are always strongly typed), so there the
precision must come from the graph itself: the FP32 ONNX is converted to an FP16 ONNX
(float16 weights and activations, float32 inputs/outputs) before parsing. Both paths are
chosen by :func:`precision_strategy` from what the installed ``tensorrt`` module offers.

This module never imports ``tensorrt`` itself: callers pass the module in, so the cache
and build logic can be unit-tested on machines without a GPU.
"""

from __future__ import annotations

import json
import logging
import struct
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from types import ModuleType

from hit_core.errors import ExportError
from hit_core.export.files import atomic_write_bytes, exclusive_lock, sha256_bytes

LOGGER = logging.getLogger("hit_core.export")

ENGINE_MAGIC = b"HITTRT01"
ENGINE_FORMAT = "hit_ros.trt-engine/1"
ENGINE_PRECISIONS: tuple[str, ...] = ("fp32", "fp16")
DEFAULT_WORKSPACE_BYTES = 1 << 30

_HEADER_LENGTH = struct.Struct("<I")
_MAX_HEADER_BYTES = 1 << 16


class EngineCacheMismatch(ExportError):
    """A cached engine file is missing, damaged or was built for something else (the reason says what)."""


@dataclass(frozen=True)
class EngineKey:
    """Everything an engine depends on.

    ``model_sha256``: hex sha256 of the ONNX bytes the engine is built from;
    ``tensorrt_version``: ``tensorrt.__version__``; ``gpu_name`` / ``compute_capability``
    (e.g. "Orin", "8.7"); ``precision``: "fp32" or "fp16"; ``input_shapes``: sorted
    ``(name, shape)`` pairs of the network inputs.
    """

    model_sha256: str
    tensorrt_version: str
    gpu_name: str
    compute_capability: str
    precision: str
    input_shapes: tuple[tuple[str, tuple[int, ...]], ...]

    def as_json(self) -> dict:
        """The key as plain JSON values (tuples become lists)."""
        data = asdict(self)
        data["input_shapes"] = [[name, list(shape)] for name, shape in self.input_shapes]
        return data

    def digest(self) -> str:
        """Hex sha256 of the canonical JSON of the key (changes when any field changes)."""
        canonical = json.dumps(self.as_json(), sort_keys=True, separators=(",", ":"))
        return sha256_bytes(canonical.encode("utf-8"))

    def file_name(self, stem: str) -> str:
        """Cache file name: ``<stem>_<precision>_sm<cc>_trt<version>_<digest16>.engine``."""
        sm = self.compute_capability.replace(".", "")
        return f"{stem}_{self.precision}_sm{sm}_trt{self.tensorrt_version}_{self.digest()[:16]}.engine"


def make_engine_key(
    model_bytes: bytes,
    *,
    tensorrt_version: str,
    gpu_name: str,
    compute_capability: str,
    precision: str,
    input_shapes: Mapping[str, tuple[int, ...]],
) -> EngineKey:
    """Build the :class:`EngineKey` for ``model_bytes`` (the ONNX file contents) on this GPU."""
    if precision not in ENGINE_PRECISIONS:
        raise ExportError(f"TensorRT precision {precision!r} is not supported; choose one of {ENGINE_PRECISIONS}")
    shapes = tuple(sorted((str(name), tuple(int(d) for d in shape)) for name, shape in input_shapes.items()))
    return EngineKey(
        model_sha256=sha256_bytes(model_bytes),
        tensorrt_version=str(tensorrt_version),
        gpu_name=str(gpu_name),
        compute_capability=str(compute_capability),
        precision=precision,
        input_shapes=shapes,
    )


def encode_engine_file(key: EngineKey, payload: bytes) -> bytes:
    """Header + payload, the exact bytes of a cache file."""
    header = {
        "format": ENGINE_FORMAT,
        "key": key.as_json(),
        "key_digest": key.digest(),
        "payload_size": len(payload),
        "payload_sha256": sha256_bytes(payload),
    }
    header_bytes = json.dumps(header, sort_keys=True).encode("utf-8")
    return ENGINE_MAGIC + _HEADER_LENGTH.pack(len(header_bytes)) + header_bytes + payload


def decode_engine_file(data: bytes, key: EngineKey) -> bytes:
    """Return the engine payload of a cache file's bytes if it is intact and built for ``key``.

    Raises :class:`EngineCacheMismatch` naming the first problem found (bad magic,
    unreadable header, another format, which key field differs, size or hash mismatch).
    """
    prefix = len(ENGINE_MAGIC) + _HEADER_LENGTH.size
    if len(data) < prefix or not data.startswith(ENGINE_MAGIC):
        raise EngineCacheMismatch("not a hit_ros engine file (bad magic bytes)")
    (header_length,) = _HEADER_LENGTH.unpack_from(data, len(ENGINE_MAGIC))
    if header_length > _MAX_HEADER_BYTES or prefix + header_length > len(data):
        raise EngineCacheMismatch("the engine header is truncated or corrupt")
    try:
        header = json.loads(data[prefix : prefix + header_length].decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise EngineCacheMismatch(f"the engine header is not valid JSON ({error})") from error
    if not isinstance(header, dict) or header.get("format") != ENGINE_FORMAT:
        raise EngineCacheMismatch(f"unknown engine file format {header.get('format') if isinstance(header, dict) else header!r}")
    stored = header.get("key")
    wanted = key.as_json()
    if not isinstance(stored, dict):
        raise EngineCacheMismatch("the engine header has no key")
    for field_name, value in wanted.items():
        if stored.get(field_name) != value:
            raise EngineCacheMismatch(
                f"the engine was built for {field_name}={stored.get(field_name)!r}, this run needs {value!r}"
            )
    payload = data[prefix + header_length :]
    if len(payload) != header.get("payload_size"):
        raise EngineCacheMismatch(
            f"the engine payload has {len(payload)} bytes, the header says {header.get('payload_size')} (truncated file)"
        )
    if sha256_bytes(payload) != header.get("payload_sha256"):
        raise EngineCacheMismatch("the engine payload's sha256 does not match its header (corrupt file)")
    return payload


def read_engine_file(path: str | Path, key: EngineKey) -> bytes:
    """Read and validate a cache file; :class:`EngineCacheMismatch` if missing or invalid."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError as error:
        raise EngineCacheMismatch(f"no cached engine at {path}") from error
    return decode_engine_file(data, key)


def write_engine_file(path: str | Path, key: EngineKey, payload: bytes) -> None:
    """Write a cache file atomically (temporary file + ``os.replace``)."""
    atomic_write_bytes(path, encode_engine_file(key, payload))


@dataclass(frozen=True)
class EngineLoad:
    """Result of :func:`load_or_build_engine`.

    ``built`` is False on a cache hit; ``reason`` says why it was (re)built ("" on a hit);
    ``build_seconds`` is 0.0 on a hit.
    """

    payload: bytes
    path: Path
    built: bool
    reason: str
    build_seconds: float


def load_or_build_engine(
    path: str | Path,
    key: EngineKey,
    build: Callable[[], bytes],
    *,
    force: bool = False,
    validate: Callable[[bytes], str | None] | None = None,
) -> EngineLoad:
    """Return a valid engine for ``key`` from ``path``, building and caching it when needed.

    ``build()`` returns the serialized engine; it runs under an exclusive lock on ``path``
    so concurrent processes build once. ``validate(payload)`` may return a reason string
    when a payload that passed the header checks still cannot be used (e.g. TensorRT
    fails to deserialize it); that also triggers a rebuild. ``force`` rebuilds always.
    Every rebuild of an existing file is logged as a warning with its reason.
    """
    path = Path(path)
    with exclusive_lock(path):
        reason = "forced rebuild" if force else ""
        if not force:
            try:
                payload = read_engine_file(path, key)
                invalid = validate(payload) if validate is not None else None
                if invalid is None:
                    return EngineLoad(payload=payload, path=path, built=False, reason="", build_seconds=0.0)
                reason = invalid
            except EngineCacheMismatch as mismatch:
                reason = str(mismatch)
        if path.exists():
            LOGGER.warning("rebuilding TensorRT engine %s: %s", path, reason)
        else:
            LOGGER.info("building TensorRT engine %s (first use; this takes a while)", path)
        start = time.perf_counter()
        payload = build()
        build_seconds = time.perf_counter() - start
        if not payload:
            raise ExportError("TensorRT returned an empty engine; see the TensorRT log above for the cause")
        write_engine_file(path, key, payload)
        return EngineLoad(payload=payload, path=path, built=True, reason=reason, build_seconds=build_seconds)


def tensorrt_major(trt: ModuleType) -> int:
    """Major version of a ``tensorrt`` module (from ``__version__``, e.g. "10.3.0" -> 10)."""
    version = str(getattr(trt, "__version__", ""))
    try:
        return int(version.split(".", 1)[0])
    except ValueError as error:
        raise ExportError(f"cannot read the TensorRT version from {version!r}") from error


def precision_strategy(trt: ModuleType, precision: str) -> str:
    """How to get ``precision`` from this TensorRT: "fp32", "builder-flag" or "fp16-onnx".

    TensorRT < 11 with ``BuilderFlag.FP16``: the builder flag on the FP32 graph.
    TensorRT >= 11 (no FP16 flag, strongly typed networks): an FP16 ONNX.
    """
    if precision not in ENGINE_PRECISIONS:
        raise ExportError(f"TensorRT precision {precision!r} is not supported; choose one of {ENGINE_PRECISIONS}")
    if precision == "fp32":
        return "fp32"
    has_flag = hasattr(getattr(trt, "BuilderFlag", None), "FP16")
    if tensorrt_major(trt) < 11 and has_flag:
        return "builder-flag"
    return "fp16-onnx"


def build_serialized_engine(
    trt: ModuleType,
    onnx_bytes: bytes,
    *,
    use_fp16_flag: bool,
    workspace_bytes: int = DEFAULT_WORKSPACE_BYTES,
) -> bytes:
    """Parse ``onnx_bytes`` and build a serialized engine with the TensorRT 10/11 Python API.

    ``use_fp16_flag`` sets ``BuilderFlag.FP16`` (TensorRT 10 only; with TensorRT 11 pass an
    FP16 ONNX instead, see :func:`precision_strategy`). ``workspace_bytes`` limits the
    builder's scratch memory (``MemoryPoolType.WORKSPACE``).
    """
    logger = trt.Logger(trt.Logger.WARNING)
    builder = trt.Builder(logger)
    network = builder.create_network(0)
    parser = trt.OnnxParser(network, logger)
    if not parser.parse(onnx_bytes):
        errors = "; ".join(str(parser.get_error(index)) for index in range(parser.num_errors))
        raise ExportError(f"TensorRT could not parse the ONNX graph: {errors or 'no details'}")
    config = builder.create_builder_config()
    config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, int(workspace_bytes))
    if use_fp16_flag:
        config.set_flag(trt.BuilderFlag.FP16)
    serialized = builder.build_serialized_network(network, config)
    if serialized is None:
        raise ExportError("TensorRT failed to build the engine; see the TensorRT log above for the cause")
    return bytes(serialized)
