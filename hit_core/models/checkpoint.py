"""Checkpoint reading and writing that never executes code from the file.

Reading: a file in PyTorch's zip format is first given to ``torch.load(weights_only=True)``; when that
refuses it because the pickle names classes that are not plain data (the authors' training checkpoints
pickle their ``Settings``/``AverageMeter`` objects beside ``net``), the zip is read again by a restricted
unpickler that rebuilds tensors and containers itself and turns every other referenced global into an
inert ``ForeignObject`` without importing or calling anything.

Writing: ``save_checkpoint`` writes ``{"net": state_dict, "variant": ..., "format": FORMAT, **extra}``
atomically (temporary file + rename).
"""

from __future__ import annotations

import io
import os
import pickle
import zipfile
from collections import OrderedDict
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hit_core.errors import CheckpointError

if TYPE_CHECKING:
    import torch

    from hit_core.models.hit import HiT

FORMAT = "hit_ros.checkpoint/1"
ASSETS_DIR = Path(__file__).resolve().parents[1] / "assets"
_ZIP_MAGIC = b"PK\x03\x04"
_RESERVED_KEYS = ("net", "variant", "format")


class ForeignObject:
    """Inert stand-in for an object of a class the safe loader does not know.

    Records the class name, constructor arguments and pickled state as plain data; nothing of the
    original class is imported or run.
    """

    module = ""
    qualname = ""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.args = args
        self.kwargs = kwargs
        self.state: Any = None

    def __setstate__(self, state: Any) -> None:
        self.state = state

    def __repr__(self) -> str:
        return f"<ForeignObject {self.module}.{self.qualname}>"


def _foreign_class(module: str, qualname: str) -> type:
    return type("ForeignObject", (ForeignObject,), {"module": module, "qualname": qualname})


class _StorageType:
    """What the restricted unpickler returns for a ``torch.<Dtype>Storage`` global."""

    def __init__(self, dtype: "torch.dtype") -> None:
        self.dtype = dtype


def _rebuild_tensor(storage: "torch.Tensor", offset: int, size: tuple, stride: tuple, *_: Any) -> "torch.Tensor":
    import torch

    return torch.as_strided(storage, tuple(size), tuple(stride), offset)


def _rebuild_parameter(data: "torch.Tensor", *_: Any) -> "torch.Tensor":
    return data


def _restricted_globals() -> dict[tuple[str, str], Any]:
    import torch

    storages = {
        "FloatStorage": torch.float32, "DoubleStorage": torch.float64, "HalfStorage": torch.float16,
        "BFloat16Storage": torch.bfloat16, "LongStorage": torch.int64, "IntStorage": torch.int32,
        "ShortStorage": torch.int16, "CharStorage": torch.int8, "ByteStorage": torch.uint8,
        "BoolStorage": torch.bool, "ComplexFloatStorage": torch.complex64,
        "ComplexDoubleStorage": torch.complex128,
    }
    allowed: dict[tuple[str, str], Any] = {("torch", name): _StorageType(dtype) for name, dtype in storages.items()}
    dtypes = {str(dtype).removeprefix("torch."): dtype for dtype in storages.values()}
    allowed.update({("torch", name): dtype for name, dtype in dtypes.items()})
    allowed.update({
        ("collections", "OrderedDict"): OrderedDict,
        ("torch._utils", "_rebuild_tensor_v2"): _rebuild_tensor,
        ("torch._utils", "_rebuild_parameter"): _rebuild_parameter,
        ("torch", "device"): torch.device,
        ("torch", "Size"): torch.Size,
        ("builtins", "set"): set,
        ("builtins", "frozenset"): frozenset,
        ("__builtin__", "set"): set,
        ("__builtin__", "frozenset"): frozenset,
        ("_codecs", "encode"): _latin1_encode,
    })
    return allowed


def _latin1_encode(text: str, encoding: str = "latin1") -> bytes:
    # Protocol-2 pickles store bytes as _codecs.encode(text, "latin1"); only that plain conversion is allowed.
    if encoding not in ("latin1", "latin-1"):
        raise pickle.UnpicklingError(f"refusing _codecs.encode with encoding {encoding!r}")
    return text.encode("latin1")


class _RestrictedUnpickler(pickle.Unpickler):
    def __init__(self, data: bytes, archive: zipfile.ZipFile, prefix: str) -> None:
        super().__init__(io.BytesIO(data))
        self._archive = archive
        self._prefix = prefix
        self._globals = _restricted_globals()
        self._storages: dict[str, Any] = {}

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) not in self._globals:
            self._globals[(module, name)] = _foreign_class(module, name)
        return self._globals[(module, name)]

    def persistent_load(self, pid: Any) -> Any:
        import torch

        if not (isinstance(pid, tuple) and len(pid) == 5 and pid[0] == "storage"
                and isinstance(pid[1], _StorageType)):
            raise pickle.UnpicklingError(f"unsupported persistent id {pid!r}")
        _, storage_type, key, _location, numel = pid
        if key not in self._storages:
            raw = self._archive.read(f"{self._prefix}/data/{key}")
            dtype = storage_type.dtype
            expected = int(numel) * torch.empty((), dtype=dtype).element_size()
            if len(raw) != expected:
                raise pickle.UnpicklingError(f"storage {key}: {len(raw)} bytes, expected {expected}")
            flat = torch.frombuffer(bytearray(raw), dtype=dtype) if raw else torch.empty(0, dtype=dtype)
            self._storages[key] = flat
        return self._storages[key]


def _restricted_load_zip(path: Path) -> Any:
    with zipfile.ZipFile(path) as archive:
        pickles = [name for name in archive.namelist() if name.endswith("/data.pkl") and name.count("/") == 1]
        if len(pickles) != 1:
            raise CheckpointError(f"{path} is a zip file but not a PyTorch checkpoint (no single <name>/data.pkl)")
        prefix = pickles[0].split("/", 1)[0]
        if f"{prefix}/byteorder" in archive.namelist() and archive.read(f"{prefix}/byteorder") != b"little":
            raise CheckpointError(f"{path} was written on a big-endian machine; re-save it on a little-endian one")
        return _RestrictedUnpickler(archive.read(pickles[0]), archive, prefix).load()


def _existing_file(path: str | Path) -> Path:
    if not isinstance(path, (str, Path)) or str(path) == "":
        raise CheckpointError(f"checkpoint path must be a non-empty str or Path, got {path!r}")
    file = Path(path).expanduser()
    if not file.exists():
        raise CheckpointError(f"checkpoint {file} not found; check the path (train one or use the bundled weights)")
    if not file.is_file():
        raise CheckpointError(f"checkpoint {file} is not a file")
    if file.stat().st_size == 0:
        raise CheckpointError(f"checkpoint {file} is empty (0 bytes); the download or save was interrupted")
    return file


def read_checkpoint(path: str | Path) -> dict[str, Any]:
    """Safely load a whole checkpoint dict (for training resume), tensors on the CPU.

    Never executes pickled code. Objects of unknown classes come back as ``ForeignObject``. Raises
    CheckpointError when the file is missing, truncated, damaged or does not hold a dict.
    """
    import torch

    file = _existing_file(path)
    with open(file, "rb") as handle:
        is_zip_format = handle.read(4) == _ZIP_MAGIC
    try:
        if is_zip_format and not zipfile.is_zipfile(file):
            raise CheckpointError(f"checkpoint {file} is truncated or damaged (zip directory missing); "
                                  f"copy or save it again")
        try:
            loaded = torch.load(file, map_location="cpu", weights_only=True)
        except pickle.UnpicklingError:
            if not is_zip_format:
                raise
            loaded = _restricted_load_zip(file)
    except CheckpointError:
        raise
    except Exception as error:  # any parsing failure means the file is not a usable checkpoint
        first_line = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise CheckpointError(f"cannot read checkpoint {file}: not a PyTorch checkpoint, damaged, or an old "
                              f"format with non-tensor objects ({first_line})") from error
    if not isinstance(loaded, Mapping):
        raise CheckpointError(f"checkpoint {file} holds a {type(loaded).__name__}, not a dict of weights")
    return dict(loaded)


def load_state_dict(path: str | Path) -> dict[str, "torch.Tensor"]:
    """The network weights of a checkpoint as ``{key: tensor}`` (CPU, floats restored to float32).

    Accepts a plain state dict, our checkpoints (``save_checkpoint``) and the authors' training checkpoints
    (weights under ``net``). A ``module.`` prefix on every key (DistributedDataParallel) is removed.
    Never executes pickled code; raises CheckpointError if the file holds no weights.
    """
    import torch

    loaded = read_checkpoint(path)
    weights = loaded["net"] if isinstance(loaded.get("net"), Mapping) else loaded
    bad = [key for key, value in weights.items() if not (isinstance(key, str) and isinstance(value, torch.Tensor))]
    if bad or not weights:
        detail = f"entry {bad[0]!r} is a {type(weights[bad[0]]).__name__}" if bad else "it is empty"
        raise CheckpointError(f"checkpoint {path} holds no state dict ({detail}); top-level keys: "
                              f"{', '.join(map(str, list(loaded)[:8]))}")
    if all(key.startswith("module.") for key in weights):
        weights = {key.removeprefix("module."): value for key, value in weights.items()}
    return {key: value.float() if value.dtype in (torch.float16, torch.bfloat16) else value
            for key, value in weights.items()}


def save_checkpoint(path: str | Path, state_dict: Mapping[str, "torch.Tensor"], *, variant: str,
                    extra: dict[str, Any] | None = None, half: bool = False) -> Path:
    """Write ``{"net": state_dict, "variant": ..., "format": FORMAT, **extra}`` atomically; returns the path.

    ``state_dict`` must be the unfused (checkpoint-layout) weights. ``half=True`` stores floating tensors as
    float16 (half the size); ``load_state_dict`` restores them to float32. Tensors are saved from the CPU.
    """
    import torch

    from hit_core.models.registry import canonical_variant

    name = canonical_variant(variant)
    if not isinstance(state_dict, Mapping) or not state_dict:
        raise CheckpointError("save_checkpoint needs a non-empty state dict (model.state_dict())")
    clash = sorted(set(extra or {}) & set(_RESERVED_KEYS))
    if clash:
        raise CheckpointError(f"extra must not use the reserved keys {', '.join(clash)}")
    net = OrderedDict()
    for key, value in state_dict.items():
        if not isinstance(value, torch.Tensor):
            raise CheckpointError(f"state dict entry {key!r} is a {type(value).__name__}, not a tensor")
        value = value.detach().cpu()
        net[key] = value.half() if half and value.is_floating_point() else value
    target = Path(path).expanduser()
    target.parent.mkdir(parents=True, exist_ok=True)
    temporary = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    try:
        torch.save({"net": net, "variant": name, "format": FORMAT, **(extra or {})}, temporary)
        os.replace(temporary, target)
    finally:
        temporary.unlink(missing_ok=True)
    return target


def bundled_checkpoint(variant: str) -> Path:
    """Where the demo weights of a variant live inside the package (the file may be absent)."""
    from hit_core.models.registry import canonical_variant

    return ASSETS_DIR / f"hit_{canonical_variant(variant)}.pth"


def resolve_checkpoint(checkpoint: str | Path | None, variant: str) -> Path | None:
    """The checkpoint to use: the given path (must exist), else the bundled demo weights, else None.

    None means no weights are available: callers must warn loudly that the network is untrained.
    """
    if checkpoint is not None and str(checkpoint) != "":
        return _existing_file(checkpoint)
    bundled = bundled_checkpoint(variant)
    return bundled if bundled.is_file() else None


def load_into(model: "HiT", checkpoint: str | Path | Mapping[str, "torch.Tensor"]) -> None:
    """Load weights into an unfused HiT strictly, after checking they belong to its variant.

    ``checkpoint`` is a path or an already loaded state dict. Raises CheckpointError naming the variant the
    weights fit and the first mismatching keys, or when the attention index tables differ from the official ones.
    """
    import torch

    if model.fused:
        raise CheckpointError("cannot load a checkpoint into a fused model; load first, then call fuse()")
    weights = checkpoint if isinstance(checkpoint, Mapping) else load_state_dict(checkpoint)
    source = "state dict" if isinstance(checkpoint, Mapping) else f"checkpoint {checkpoint}"
    problems = _mismatches(weights, _shapes_of(model))
    if problems:
        raise CheckpointError(f"{source} does not fit HiT-{model.variant}: {_fit_hint(weights, model.variant)}; "
                              f"first differences: {'; '.join(problems[:3])}")
    own = model.state_dict()
    for key, value in weights.items():
        if key.endswith("attention_bias_idxs") and not torch.equal(value.to(own[key].device), own[key]):
            raise CheckpointError(f"{source}: {key} differs from the official attention index table; "
                                  f"the checkpoint was made for other input sizes or by another implementation")
    model.load_state_dict(weights, strict=True)


def _shapes_of(model: "torch.nn.Module") -> dict[str, tuple[int, ...]]:
    return {key: tuple(value.shape) for key, value in model.state_dict().items()}


def _mismatches(weights: Mapping[str, "torch.Tensor"], expected: dict[str, tuple[int, ...]]) -> list[str]:
    problems = [f"{key}: file {list(weights[key].shape)} vs model {list(shape)}"
                for key, shape in expected.items() if key in weights and tuple(weights[key].shape) != shape]
    problems += [f"missing {key}" for key in expected if key not in weights]
    problems += [f"unexpected {key}" for key in weights if key not in expected]
    return problems


def _fit_hint(weights: Mapping[str, "torch.Tensor"], wanted: str) -> str:
    from hit_core.models.registry import list_variants

    fitting = [name for name in list_variants() if name != wanted and not _mismatches(weights, variant_shapes(name))]
    if fitting:
        return f"the weights fit HiT-{fitting[0]} (use variant '{fitting[0]}')"
    return "they fit no HiT variant (is this a HiT checkpoint?)"


def variant_shapes(variant: str) -> dict[str, tuple[int, ...]]:
    """``{key: shape}`` of a variant's checkpoint-layout state dict, built without allocating weights."""
    import torch

    from hit_core.models.hit import HiT
    from hit_core.models.registry import get_variant

    with torch.device("meta"):
        return _shapes_of(HiT(get_variant(variant)))
