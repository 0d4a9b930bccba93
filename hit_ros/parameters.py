"""The tracker node's ROS parameters: one table of names, defaults and descriptions, validated once at start.

``config/tracker.yaml`` lists the same parameters with the same defaults (a test keeps them in step).
Every parameter is read-only after start-up: changing the model or the input needs a restart anyway, and a
half-applied change at run time is worse than a clear refusal.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any

from hit_core.errors import ConfigError

__all__ = [
    "BACKENDS",
    "DiagnosticsBounds",
    "IMAGE_TRANSPORTS",
    "NodeParameters",
    "PARAMETER_SPECS",
    "PRECISIONS",
    "ParameterSpec",
    "declare_parameters",
    "parameters_from_values",
]

BACKENDS: tuple[str, ...] = ("auto", "onnxruntime", "tensorrt", "torch")
IMAGE_TRANSPORTS: tuple[str, ...] = ("raw", "compressed")
PRECISIONS: tuple[str, ...] = ("fp32", "fp16", "int8")
_DEVICE_PATTERN = re.compile(r"^(cpu(:openvino|:onnxruntime)?|cuda(:\d+)?)$")


@dataclass(frozen=True)
class ParameterSpec:
    """One declared parameter: its default fixes its type; ``choices`` or ``minimum``/``maximum`` bound it."""

    name: str
    default: bool | int | float | str
    description: str
    choices: tuple[str, ...] = ()
    minimum: float | None = None
    maximum: float | None = None


PARAMETER_SPECS: tuple[ParameterSpec, ...] = (
    ParameterSpec("variant", "tiny", "HiT variant: tiny, small or base (aliases such as HiT-Tiny are accepted)."),
    ParameterSpec(
        "checkpoint",
        "",
        "HiT weights: a PyTorch checkpoint (our format, a plain state dict or an official training checkpoint) "
        "or, for the onnxruntime backend, an ONNX model written by 'hit export'. Empty: the bundled demo weights "
        "when installed, otherwise an UNTRAINED network (logged as a warning and shown in diagnostics).",
    ),
    ParameterSpec(
        "backend",
        "auto",
        "Inference runtime. auto = TensorRT when it can run, else ONNX Runtime (the fallback is logged).",
        choices=BACKENDS,
    ),
    ParameterSpec(
        "precision",
        "fp32",
        "Inference precision: fp32, fp16 (TensorRT, GPU) or int8 (ONNX Runtime on CPU); what each backend "
        "supports is checked at start.",
        choices=PRECISIONS,
    ),
    ParameterSpec(
        "device",
        "cpu",
        "Device: cpu, cuda or cuda:N. With onnxruntime, cpu runs its OpenVINO execution provider when installed "
        "(x86-64 Linux), else ONNX Runtime's own kernels; cpu:openvino or cpu:onnxruntime choose one.",
    ),
    ParameterSpec(
        "engine_cache_dir",
        "",
        "Directory for built ONNX models and TensorRT engines. Empty: the runtime's default cache directory.",
    ),
    ParameterSpec("threads", 0, "CPU threads for inference; 0 = the runtime's default.", minimum=0, maximum=256),
    ParameterSpec(
        "image_transport",
        "raw",
        "raw: subscribe to 'image' (sensor_msgs/Image); compressed: subscribe to 'image/compressed' "
        "(sensor_msgs/CompressedImage, JPEG or PNG).",
        choices=IMAGE_TRANSPORTS,
    ),
    ParameterSpec(
        "max_image_age_ms",
        500.0,
        "Frames older than this (node clock minus header.stamp) are dropped, on arrival and again before "
        "tracking. 0 = no limit.",
        minimum=0.0,
        maximum=3_600_000.0,
    ),
    ParameterSpec("class_id", "target", "class_id written into the published detection's hypothesis."),
    ParameterSpec(
        "lost_score_threshold",
        0.25,
        "A frame whose tracker confidence (score in [0, 1]) is below this counts as target lost: the node "
        "publishes an empty detection array for it.",
        minimum=0.0,
        maximum=1.0,
    ),
    ParameterSpec(
        "frame_buffer_size",
        15,
        "How many recent frames set_target can pick from by stamp (memory: this many images).",
        minimum=1,
        maximum=1000,
    ),
    ParameterSpec(
        "set_target.stamp_tolerance_ms",
        1.0,
        "A set_target request matches the buffered frame whose stamp is within this of the request stamp.",
        minimum=0.0,
        maximum=10_000.0,
    ),
    ParameterSpec(
        "set_target.min_box_size",
        4.0,
        "Smallest accepted width and height, in pixels, of a set_target box after clipping to the image.",
        minimum=1.0,
        maximum=10_000.0,
    ),
    ParameterSpec(
        "diagnostics.period_s", 1.0, "Seconds between /diagnostics messages.", minimum=0.05, maximum=60.0
    ),
    ParameterSpec(
        "diagnostics.window_s",
        5.0,
        "Rates and latency percentiles in diagnostics cover this many recent seconds.",
        minimum=0.5,
        maximum=600.0,
    ),
    ParameterSpec(
        "diagnostics.hardware_id", "", "hardware_id of the diagnostics status. Empty: '<device>/<backend>'."
    ),
    ParameterSpec(
        "diagnostics.min_input_rate_hz",
        1.0,
        "WARN when images arrive slower than this (ERROR when none arrived in the window). 0 = no check.",
        minimum=0.0,
        maximum=10_000.0,
    ),
    ParameterSpec(
        "diagnostics.min_output_rate_hz",
        1.0,
        "WARN when, while a target is set, detections are published slower than this. 0 = no check.",
        minimum=0.0,
        maximum=10_000.0,
    ),
    ParameterSpec(
        "diagnostics.max_latency_ms",
        200.0,
        "WARN when the p95 of the node's per-frame processing time (convert to publish) exceeds this. "
        "0 = no check.",
        minimum=0.0,
        maximum=3_600_000.0,
    ),
    ParameterSpec(
        "diagnostics.max_image_age_ms",
        500.0,
        "WARN when the p95 image age at publish (node clock minus header.stamp) exceeds this. 0 = no check.",
        minimum=0.0,
        maximum=3_600_000.0,
    ),
)


@dataclass(frozen=True)
class DiagnosticsBounds:
    """When diagnostics turn WARN or ERROR; a bound of 0 switches its check off."""

    period_s: float
    window_s: float
    hardware_id: str
    min_input_rate_hz: float
    min_output_rate_hz: float
    max_latency_ms: float
    max_image_age_ms: float


@dataclass(frozen=True)
class NodeParameters:
    """The validated parameter values. Empty strings and 0 threads are resolved to None ("use the default")."""

    variant: str
    checkpoint: str | None
    backend: str
    precision: str
    device: str
    engine_cache_dir: str | None
    threads: int | None
    image_transport: str
    max_image_age_ms: float
    class_id: str
    lost_score_threshold: float
    frame_buffer_size: int
    stamp_tolerance_ms: float
    min_box_size: float
    diagnostics: DiagnosticsBounds


def declare_parameters(node: Any) -> NodeParameters:
    """Declare every parameter of :data:`PARAMETER_SPECS` on ``node`` and return the validated values.

    Raises :class:`ConfigError` naming the parameter, the value given and what is accepted, for a value of
    the wrong type, out of range or not among the choices.
    """
    from rclpy.exceptions import InvalidParameterTypeException, InvalidParameterValueException

    values: dict[str, Any] = {}
    for spec in PARAMETER_SPECS:
        try:
            parameter = node.declare_parameter(spec.name, spec.default, _descriptor(spec))
        except InvalidParameterTypeException as error:
            hint = " (write doubles with a decimal point, e.g. 500.0)" if isinstance(spec.default, float) else ""
            raise ConfigError(
                f"parameter '{spec.name}' must be of type {_type_name(spec.default)}{hint}: {error}"
            ) from None
        except InvalidParameterValueException as error:
            raise ConfigError(f"parameter '{spec.name}' {_accepted(spec)}: {error}") from None
        values[spec.name] = parameter.value
    return parameters_from_values(values)


def parameters_from_values(values: dict[str, Any]) -> NodeParameters:
    """Validate a ``{name: value}`` mapping (every name of :data:`PARAMETER_SPECS`) into :class:`NodeParameters`."""
    for spec in PARAMETER_SPECS:
        if spec.name not in values:
            raise ConfigError(f"parameter '{spec.name}' is missing")
        _validate(spec, values[spec.name])
    device = values["device"].strip().lower()
    if not _DEVICE_PATTERN.match(device):
        raise ConfigError(
            f"parameter 'device' must be cpu, cpu:openvino, cpu:onnxruntime, cuda or cuda:N, got {values['device']!r}"
        )
    if not values["variant"].strip():
        raise ConfigError("parameter 'variant' is empty: set tiny, small or base")
    return NodeParameters(
        variant=values["variant"].strip(),
        checkpoint=values["checkpoint"].strip() or None,
        backend=values["backend"],
        precision=values["precision"],
        device=device,
        engine_cache_dir=values["engine_cache_dir"].strip() or None,
        threads=values["threads"] or None,
        image_transport=values["image_transport"],
        max_image_age_ms=float(values["max_image_age_ms"]),
        class_id=values["class_id"],
        lost_score_threshold=float(values["lost_score_threshold"]),
        frame_buffer_size=int(values["frame_buffer_size"]),
        stamp_tolerance_ms=float(values["set_target.stamp_tolerance_ms"]),
        min_box_size=float(values["set_target.min_box_size"]),
        diagnostics=DiagnosticsBounds(
            period_s=float(values["diagnostics.period_s"]),
            window_s=float(values["diagnostics.window_s"]),
            hardware_id=values["diagnostics.hardware_id"].strip(),
            min_input_rate_hz=float(values["diagnostics.min_input_rate_hz"]),
            min_output_rate_hz=float(values["diagnostics.min_output_rate_hz"]),
            max_latency_ms=float(values["diagnostics.max_latency_ms"]),
            max_image_age_ms=float(values["diagnostics.max_image_age_ms"]),
        ),
    )


def _validate(spec: ParameterSpec, value: Any) -> None:
    expected = type(spec.default)
    if type(value) is not expected:
        hint = f" (write {float(value)!r})" if expected is float and type(value) is int else ""
        raise ConfigError(f"parameter '{spec.name}' must be of type {_type_name(spec.default)}, got {value!r}{hint}")
    if spec.choices and value not in spec.choices:
        raise ConfigError(f"parameter '{spec.name}' {_accepted(spec)}, got {value!r}")
    if expected in (int, float):
        if not math.isfinite(value) or (spec.minimum is not None and value < spec.minimum) or (
            spec.maximum is not None and value > spec.maximum
        ):
            raise ConfigError(f"parameter '{spec.name}' {_accepted(spec)}, got {value!r}")


def _accepted(spec: ParameterSpec) -> str:
    if spec.choices:
        return f"must be one of {', '.join(spec.choices)}"
    return f"must be between {spec.minimum:g} and {spec.maximum:g}"


def _type_name(default: Any) -> str:
    return {bool: "bool", int: "integer", float: "double", str: "string"}[type(default)]


def _descriptor(spec: ParameterSpec) -> Any:
    from rcl_interfaces.msg import FloatingPointRange, IntegerRange, ParameterDescriptor, ParameterType

    parameter_type = {
        bool: ParameterType.PARAMETER_BOOL,
        int: ParameterType.PARAMETER_INTEGER,
        float: ParameterType.PARAMETER_DOUBLE,
        str: ParameterType.PARAMETER_STRING,
    }[type(spec.default)]
    descriptor = ParameterDescriptor(
        name=spec.name, type=parameter_type, description=spec.description, read_only=True
    )
    if spec.choices:
        descriptor.additional_constraints = f"one of: {', '.join(spec.choices)}"
    elif isinstance(spec.default, float) and spec.minimum is not None:
        descriptor.floating_point_range = [
            FloatingPointRange(from_value=float(spec.minimum), to_value=float(spec.maximum), step=0.0)
        ]
    elif isinstance(spec.default, int) and spec.minimum is not None:
        descriptor.integer_range = [IntegerRange(from_value=int(spec.minimum), to_value=int(spec.maximum), step=1)]
    return descriptor
