"""Training configuration: dataclasses, YAML loading and ``key=value`` overrides.

A recipe is a YAML file whose sections mirror :class:`TrainingConfig`. Everything is
resolved once, at the edge (``hit train``), into one frozen-in-practice object that the
trainer reads; no training module looks at files, environment variables or globals.

Path rule: a relative path is relative to where it was written — to the YAML file's
folder for values in the file, to the current directory for ``key=value`` overrides.
"""

from __future__ import annotations

import dataclasses
import difflib
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hit_core.config_file import read_yaml_mapping
from hit_core.errors import ConfigError
from hit_core.models import list_variants

#: Keys that may differ between a checkpoint's run and a resumed run (they do not change what is computed).
RESUME_FREE_KEYS = (
    "train.epochs",
    "train.num_workers",
    "train.log_interval",
    "train.output_dir",
    "train.checkpoint_interval",
    "train.keep_last_epochs",
    "train.tensorboard",
    "train.device",
    "validation.",
    "data.val.",
)


def _choices(*values: str) -> dict:
    return {"choices": values}


def _path(default: str | None = None) -> Any:
    return field(default=default, metadata={"path": True})


@dataclass
class DatasetSpec:
    """One training or validation data source."""

    #: A name of ``hit_core.data.load_dataset`` (folder, lasot, got10k, trackingnet, ...) or "coco".
    loader: str = "folder"
    root: str | None = _path()
    split: str | None = None
    #: Relative sampling weight of this source (0 disables it).
    ratio: float = 1.0
    #: "video": template and search from two frames of a sequence (causal, within max_interval).
    #: "still": template and search from the same frame (how COCO images are used).
    mode: str = field(default="video", metadata=_choices("video", "still"))
    #: For "still" pairs: the annotated box, or a random box (any image region is a trackable target).
    still_box: str = field(default="ground_truth", metadata=_choices("ground_truth", "random"))
    #: Keep only these sequence names (null = all).
    sequences: list[str] | None = None


@dataclass
class ModelConfig:
    variant: str = field(default="tiny", metadata=_choices(*list_variants()))
    #: "imagenet" copies the LeViT ImageNet weights from ``pretrained_backbone``; "scratch" keeps random init.
    backbone_init: str = field(default="imagenet", metadata=_choices("imagenet", "scratch"))
    #: Local file of the ImageNet LeViT checkpoint (LeViT-384 / LeViT-128 / LeViT-128S for Base / Small / Tiny).
    pretrained_backbone: str | None = _path()
    #: Start from these HiT weights (fine-tuning); overrides backbone_init.
    init_checkpoint: str | None = _path()


@dataclass
class SamplingConfig:
    #: Search frame drawn from the visible frames in [t+1, t+max_interval) after template frame t.
    max_interval: int = 200
    #: A video is used only with at least this many frames and visible frames.
    min_frames: int = 20
    min_visible_frames: int = 5
    #: Random boxes of still pairs: sqrt(area) as a fraction of sqrt(image area), log-uniform in [lo, hi] ...
    random_box_scale: list[float] = field(default_factory=lambda: [0.03, 0.4])
    #: ... and aspect ratio w/h log-uniform in [1/a, a].
    random_box_aspect: float = 3.0
    #: Rejected draws (box too small, crop all padding, unreadable frame) before giving up.
    max_attempts: int = 100


@dataclass
class ProcessingConfig:
    search_factor: float = 4.0
    template_factor: float = 2.0
    #: Box size multiplied by exp(N(0,1) * scale_jitter) per axis; centre moved by
    #: (U(0,1) - 0.5) * sqrt(w'h') * center_jitter per axis (spec section 5).
    search_scale_jitter: float = 0.5
    search_center_jitter: float = 3.5
    template_scale_jitter: float = 0.0
    template_center_jitter: float = 0.0


@dataclass
class AugmentConfig:
    #: Same draw for template and search: both crops grey.
    grayscale_prob: float = 0.05
    flip_prob: float = 0.5
    #: The official recipe flips the template and the search crop independently, so about half of
    #: the pairs show the template mirrored relative to the search (inherited from STARK, spec 5/12.9).
    #: Default false: one draw flips both, so the pair stays geometrically consistent.
    independent_template_search_flip: bool = False
    #: Per crop, pixel values multiplied by U(1 - b, 1 + b).
    brightness: float = 0.2
    #: Per crop, blend with the grey mean by U(1 - c, 1 + c) (0 = off).
    contrast: float = 0.0
    #: Per crop, blend with the crop's grey version by U(1 - s, 1 + s) (0 = off).
    saturation: float = 0.0
    #: Per crop, Gaussian blur with sigma U(blur_sigma) with this probability.
    blur_prob: float = 0.0
    blur_sigma: list[float] = field(default_factory=lambda: [0.1, 2.0])


@dataclass
class LossConfig:
    giou_weight: float = 2.0
    l1_weight: float = 5.0
    #: The official loss zeroes the GIoU term of the whole batch when any predicted box has
    #: x2 < x1 or y2 < y1 (its GIoU asserts, the exception is swallowed; spec 6/12.9). Default false:
    #: GIoU is defined for every box (negative widths count as zero area), so one bad box only
    #: affects itself.
    giou_drop_batch_on_degenerate: bool = False


@dataclass
class OptimConfig:
    lr: float = 5e-4
    weight_decay: float = 1e-4
    backbone_lr_multiplier: float = 1.0
    #: StepLR stepped once per epoch.
    lr_drop_epoch: int = 1200
    lr_drop_gamma: float = 0.1
    #: Global L2 norm of all gradients is clipped to this (0 = off).
    grad_clip_norm: float = 0.1
    #: fp32 (the paper), or autocast mixed precision: bf16, or fp16 with gradient scaling.
    precision: str = field(default="fp32", metadata=_choices("fp32", "bf16", "fp16"))


@dataclass
class RunConfig:
    epochs: int = 1500
    #: Pairs per epoch over all processes (split between them, last partial batch dropped).
    samples_per_epoch: int = 60000
    #: Pairs per process and step.
    batch_size: int = 32
    num_workers: int = 8
    seed: int = 42
    device: str = field(default="auto", metadata=_choices("auto", "cpu", "cuda"))
    checkpoint_interval: int = 10
    #: Also keep a checkpoint for each of the last this-many epochs.
    keep_last_epochs: int = 10
    log_interval: int = 50
    tensorboard: bool = True
    #: null: runs/<recipe name> in the current directory.
    output_dir: str | None = _path()


@dataclass
class ValidationConfig:
    #: Fixed validation pairs, loss only; 0 disables validation.
    samples: int = 10000
    #: Validate every this-many epochs (and after the last one).
    interval: int = 20


@dataclass
class DataConfig:
    train: dict[str, DatasetSpec] = field(default_factory=dict)
    val: dict[str, DatasetSpec] = field(default_factory=dict)
    sampling: SamplingConfig = field(default_factory=SamplingConfig)


@dataclass
class TrainingConfig:
    """A whole recipe. Sections: model, data, processing, augment, still_augment, loss, optim, train, validation."""

    model: ModelConfig = field(default_factory=ModelConfig)
    data: DataConfig = field(default_factory=DataConfig)
    processing: ProcessingConfig = field(default_factory=ProcessingConfig)
    augment: AugmentConfig = field(default_factory=AugmentConfig)
    #: Augmentation of "still" pairs (template and search cut from one frame); null = ``augment``.
    #: (A ``still_augment.<key>=`` override on a recipe without this section starts from the defaults.)
    still_augment: AugmentConfig | None = None
    loss: LossConfig = field(default_factory=LossConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    train: RunConfig = field(default_factory=RunConfig)
    validation: ValidationConfig = field(default_factory=ValidationConfig)
    #: Recipe name (the YAML file's stem), used for the default output folder.
    name: str = "hit"

    def to_dict(self) -> dict:
        """Plain nested dict (str/int/float/bool/None/list/dict) — what checkpoints store."""
        return dataclasses.asdict(self)

    def augment_for(self, mode: str) -> AugmentConfig:
        """Augmentation settings of pairs of a source mode ("video" or "still")."""
        return self.still_augment if mode == "still" and self.still_augment is not None else self.augment


# ----------------------------------------------------------------------------------------------------------------
# Building dataclasses from plain data


def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def _suggest(word: str, options: list[str]) -> str:
    close = difflib.get_close_matches(word, options, n=1, cutoff=0.6)
    return f" (did you mean {close[0]}?)" if close else ""


def _is_optional(tp: Any) -> tuple[bool, Any]:
    if isinstance(tp, types.UnionType) or typing.get_origin(tp) is typing.Union:
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        if len(args) == 1 and len(typing.get_args(tp)) == 2:
            return True, args[0]
    return False, tp


def _resolve_path(value: str, base: Path | None) -> str:
    path = Path(value).expanduser()
    if not path.is_absolute() and base is not None:
        path = base / path
    return str(path.resolve()) if base is not None else str(path)


def _convert(value: Any, tp: Any, key: str, meta: dict, base: Path | None) -> Any:
    optional, inner = _is_optional(tp)
    if value is None:
        if optional:
            return None
        raise ConfigError(f"{key} must not be null")
    tp = inner
    if dataclasses.is_dataclass(tp):
        if not isinstance(value, dict):
            raise ConfigError(f"{key} must be a mapping of {', '.join(f.name for f in dataclasses.fields(tp))}")
        return _build(tp, value, key, base)
    origin = typing.get_origin(tp)
    if origin is dict:
        item_type = typing.get_args(tp)[1]
        if not isinstance(value, dict):
            raise ConfigError(f"{key} must be a mapping of names to entries")
        return {str(k): _convert(v, item_type, f"{key}.{k}", {}, base) for k, v in value.items()}
    if origin is list:
        item_type = typing.get_args(tp)[0]
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{key} must be a list such as [a, b], got {value!r}")
        return [_convert(v, item_type, f"{key}[{i}]", {}, base) for i, v in enumerate(value)]
    if tp is bool:
        if isinstance(value, bool):
            return value
        raise ConfigError(f"{key} must be true or false, got {value!r}")
    if tp in (int, float) and isinstance(value, str):
        # YAML 1.1 reads 1e-4 (no dot) as a string; accept what Python reads as a number
        try:
            value = float(value) if tp is float else int(value)
        except ValueError:
            kind = "a number" if tp is float else "an integer"
            raise ConfigError(f"{key} must be {kind}, got {value!r}") from None
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            if isinstance(value, float) and value.is_integer():
                return int(value)
            raise ConfigError(f"{key} must be an integer, got {value!r}")
        return value
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{key} must be a number, got {value!r}")
        return float(value)
    if tp is str:
        if isinstance(value, bool) or not isinstance(value, (str, int, float)):
            raise ConfigError(f"{key} must be a string, got {value!r}")
        value = str(value)
        choices = meta.get("choices")
        if choices:
            lowered = value.lower()
            if lowered not in choices:
                raise ConfigError(
                    f"{key} = {value!r} is not one of {', '.join(choices)}{_suggest(lowered, list(choices))}"
                )
            return lowered
        if meta.get("path"):
            return _resolve_path(value, base)
        return value
    raise ConfigError(f"{key}: unsupported configuration type {tp}")


def _build(cls: type, raw: dict, prefix: str, base: Path | None) -> Any:
    hints = _hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    kwargs = {}
    for name, value in raw.items():
        key = f"{prefix}.{name}" if prefix else str(name)
        if name not in fields:
            raise ConfigError(f"unknown configuration key {key}{_suggest(str(name), list(fields))}")
        kwargs[name] = _convert(value, hints[name], key, dict(fields[name].metadata), base)
    return cls(**kwargs)


def config_keys(config: TrainingConfig) -> list[str]:
    """Every dotted key that ``key=value`` can set on this config (dataset entries included)."""
    keys: list[str] = []

    def walk(obj: Any, prefix: str) -> None:
        if dataclasses.is_dataclass(obj):
            for f in dataclasses.fields(obj):
                value = getattr(obj, f.name)
                key = f"{prefix}{f.name}"
                if dataclasses.is_dataclass(value) or isinstance(value, dict):
                    walk(value, key + ".")
                else:
                    keys.append(key)
        elif isinstance(obj, dict):
            for name, value in obj.items():
                walk(value, f"{prefix}{name}.")

    walk(config, "")
    return keys


def _parse_value(text: str) -> Any:
    import yaml

    try:
        return yaml.safe_load(text) if text.strip() else None
    except yaml.YAMLError:
        return text


def apply_override(config: TrainingConfig, assignment: str, base: Path | None = None) -> None:
    """Set one ``dotted.key=value`` (value parsed as YAML: ``8``, ``1e-4``, ``true``, ``null``, ``[a, b]``).

    Relative paths are resolved against ``base`` (the current directory when None).
    """
    if "=" not in assignment:
        raise ConfigError(f"override {assignment!r} is not key=value (e.g. train.batch_size=16)")
    key, text = assignment.split("=", 1)
    key = key.strip()
    parts = key.split(".")
    target: Any = config
    for depth, part in enumerate(parts):
        last = depth == len(parts) - 1
        if dataclasses.is_dataclass(target):
            fields = {f.name: f for f in dataclasses.fields(target)}
            if part not in fields:
                break
            if last:
                f = fields[part]
                hint = _hints(type(target))[part]
                value = _convert(_parse_value(text), hint, key, dict(f.metadata), base or Path.cwd())
                setattr(target, part, value)
                return
            child = getattr(target, part)
            if child is None:
                optional, inner = _is_optional(_hints(type(target))[part])
                if optional and dataclasses.is_dataclass(inner):
                    child = inner()
                    setattr(target, part, child)
            target = child
        elif isinstance(target, dict):
            if part not in target or last:
                break
            target = target[part]
        else:
            break
    raise ConfigError(f"unknown configuration key {key}{_suggest(key, config_keys(config))}")


def load_config(
    path: str | Path,
    overrides: list[str] | tuple[str, ...] = (),
    environ: dict[str, str] | None = None,
) -> TrainingConfig:
    """Read a recipe, apply ``key=value`` overrides, fill dataset roots from ``environ``, validate.

    ``environ`` (the CLI passes ``os.environ``) supplies ``HIT_<LOADER>_ROOT`` (e.g.
    ``HIT_LASOT_ROOT``, ``HIT_COCO_ROOT``) for entries whose root is null after the file
    and the overrides.
    """
    path = Path(path).expanduser()
    raw = read_yaml_mapping(
        path,
        missing=f"training recipe {path} not found; pass a YAML file such as training/hit_tiny.yaml",
        not_mapping=f"{path} must hold a mapping of sections (model, data, train, ...)",
    )
    raw.setdefault("name", path.stem)
    config = _build(TrainingConfig, raw, "", path.parent.resolve())
    for assignment in overrides:
        apply_override(config, assignment)
    if environ is not None:
        fill_roots_from_environment(config, environ)
    validate(config)
    return config


def root_variable(loader: str) -> str:
    """Environment variable that supplies a null root for ``loader`` (e.g. ``HIT_LASOT_ROOT``)."""
    return f"HIT_{loader.upper()}_ROOT"


def fill_roots_from_environment(config: TrainingConfig, environ: dict[str, str]) -> None:
    """Give every dataset entry without a root the one from ``HIT_<LOADER>_ROOT``, if set."""
    for entries in (config.data.train, config.data.val):
        for spec in entries.values():
            if spec.root is None and environ.get(root_variable(spec.loader)):
                spec.root = _resolve_path(environ[root_variable(spec.loader)], Path.cwd())


def _check(condition: bool, message: str) -> None:
    if not condition:
        raise ConfigError(message)


def validate(config: TrainingConfig) -> None:
    """Raise ConfigError naming the first inconsistent value and how to fix it."""
    _check(bool(config.data.train), "data.train lists no dataset; add at least one entry (see training/*.yaml)")
    from hit_core.data import dataset_names

    loaders = [*dataset_names(), "coco"]
    for section, entries in (("data.train", config.data.train), ("data.val", config.data.val)):
        for name, spec in entries.items():
            key = f"{section}.{name}"
            _check(
                spec.loader in loaders,
                f"{key}.loader = {spec.loader!r} is not a known dataset{_suggest(spec.loader, loaders)}; "
                f"choose one of {', '.join(loaders)}",
            )
            _check(spec.ratio >= 0, f"{key}.ratio must be >= 0, got {spec.ratio}")
            if spec.ratio > 0:
                _check(
                    spec.root is not None,
                    f"{key}.root is not set: pass {key}.root=/path/to/data or set {root_variable(spec.loader)}",
                )
            _check(
                spec.loader != "coco" or spec.mode == "still",
                f"{key}: COCO holds single images; set {key}.mode=still",
            )
    _check(
        any(spec.ratio > 0 for spec in config.data.train.values()),
        "every data.train entry has ratio 0; give at least one a positive ratio",
    )
    sampling = config.data.sampling
    _check(sampling.max_interval >= 1, "data.sampling.max_interval must be >= 1")
    _check(sampling.max_attempts >= 1, "data.sampling.max_attempts must be >= 1")
    lo_hi = sampling.random_box_scale
    _check(
        len(lo_hi) == 2 and 0 < lo_hi[0] <= lo_hi[1] <= 1,
        f"data.sampling.random_box_scale must be [lo, hi] with 0 < lo <= hi <= 1, got {lo_hi}",
    )
    _check(sampling.random_box_aspect >= 1, "data.sampling.random_box_aspect must be >= 1")
    processing = config.processing
    for name in ("search_factor", "template_factor"):
        _check(getattr(processing, name) > 0, f"processing.{name} must be > 0")
    for name in ("search_scale_jitter", "search_center_jitter", "template_scale_jitter", "template_center_jitter"):
        _check(getattr(processing, name) >= 0, f"processing.{name} must be >= 0")
    for section, augment in (("augment", config.augment), ("still_augment", config.still_augment)):
        if augment is None:
            continue
        for name in ("grayscale_prob", "flip_prob", "blur_prob"):
            value = getattr(augment, name)
            _check(0 <= value <= 1, f"{section}.{name} must be a probability in [0, 1], got {value}")
        for name in ("brightness", "contrast", "saturation"):
            value = getattr(augment, name)
            _check(0 <= value < 1, f"{section}.{name} must be in [0, 1), got {value}")
        sigma = augment.blur_sigma
        _check(
            len(sigma) == 2 and 0 < sigma[0] <= sigma[1],
            f"{section}.blur_sigma must be [lo, hi] with 0 < lo <= hi, got {sigma}",
        )
    _check(config.loss.giou_weight >= 0 and config.loss.l1_weight >= 0, "loss weights must be >= 0")
    optim = config.optim
    _check(optim.lr > 0, f"optim.lr must be > 0, got {optim.lr}")
    _check(optim.weight_decay >= 0, "optim.weight_decay must be >= 0")
    _check(optim.backbone_lr_multiplier >= 0, "optim.backbone_lr_multiplier must be >= 0")
    _check(optim.lr_drop_epoch >= 1, "optim.lr_drop_epoch must be >= 1")
    _check(optim.grad_clip_norm >= 0, "optim.grad_clip_norm must be >= 0 (0 = no clipping)")
    run = config.train
    _check(run.epochs >= 1, f"train.epochs must be >= 1, got {run.epochs}")
    _check(run.batch_size >= 1, f"train.batch_size must be >= 1, got {run.batch_size}")
    _check(
        run.samples_per_epoch >= run.batch_size,
        f"train.samples_per_epoch ({run.samples_per_epoch}) must be at least train.batch_size ({run.batch_size})",
    )
    _check(run.num_workers >= 0, "train.num_workers must be >= 0")
    _check(run.seed >= 0, "train.seed must be >= 0")
    _check(run.checkpoint_interval >= 1, "train.checkpoint_interval must be >= 1")
    _check(run.keep_last_epochs >= 0, "train.keep_last_epochs must be >= 0")
    _check(run.log_interval >= 1, "train.log_interval must be >= 1")
    validation = config.validation
    _check(validation.samples >= 0 and validation.interval >= 1, "validation.samples >= 0 and interval >= 1")
    if validation.samples > 0:
        _check(
            any(spec.ratio > 0 for spec in config.data.val.values()),
            "validation.samples > 0 but data.val has no entry with a positive ratio; "
            "add one or set validation.samples=0",
        )
    model = config.model
    if model.init_checkpoint is None and model.backbone_init == "imagenet":
        _check(
            model.pretrained_backbone is not None,
            "model.backbone_init is imagenet but model.pretrained_backbone is not set: pass "
            "model.pretrained_backbone=/path/to/LeViT-*.pth (the ImageNet LeViT checkpoint file), "
            "or model.backbone_init=scratch to train from random weights",
        )


def differing_keys(saved: dict, current: dict, prefix: str = "") -> list[str]:
    """Dotted keys whose values differ between two ``to_dict()`` configs (for resume checks)."""
    keys = sorted(set(saved) | set(current))
    found: list[str] = []
    for key in keys:
        a, b = saved.get(key), current.get(key)
        dotted = f"{prefix}{key}"
        if isinstance(a, dict) and isinstance(b, dict):
            found.extend(differing_keys(a, b, dotted + "."))
        elif a != b:
            found.append(dotted)
    return found


def output_dir(config: TrainingConfig) -> Path:
    """The run folder: ``train.output_dir`` or ``runs/<recipe name>`` in the current directory."""
    return Path(config.train.output_dir) if config.train.output_dir else Path.cwd() / "runs" / config.name
