"""The node's parameters: declared with descriptors on a real rclpy node, validated, and config/tracker.yaml in step."""

from __future__ import annotations

import pytest
import yaml

rclpy = pytest.importorskip("rclpy", reason="rclpy (ROS 2 Python client library) is not installed")

from rclpy.context import Context  # noqa: E402
from rclpy.node import Node  # noqa: E402
from rclpy.parameter import Parameter  # noqa: E402

from hit_core.errors import ConfigError  # noqa: E402
from hit_ros.parameters import PARAMETER_SPECS, declare_parameters  # noqa: E402


@pytest.fixture(scope="module")
def context():
    ctx = Context()
    rclpy.init(context=ctx)
    yield ctx
    rclpy.shutdown(context=ctx)


def _declare(context, **overrides):
    parameters = [Parameter(name.replace("__", "."), value=value) for name, value in overrides.items()]
    node = Node("parameter_test", context=context, parameter_overrides=parameters)
    try:
        return declare_parameters(node), node.describe_parameters([spec.name for spec in PARAMETER_SPECS])
    finally:
        node.destroy_node()


def test_defaults_are_declared_read_only_with_descriptions(context):
    values, descriptors = _declare(context)
    assert values.variant == "tiny" and values.backend == "auto" and values.image_transport == "raw"
    assert values.checkpoint is None and values.threads is None and values.engine_cache_dir is None
    assert values.max_image_age_ms == 500.0 and values.frame_buffer_size == 15
    assert values.diagnostics.period_s == 1.0
    for spec, descriptor in zip(PARAMETER_SPECS, descriptors):
        assert descriptor.read_only, spec.name
        assert len(descriptor.description) > 20, spec.name
    backend = descriptors[[spec.name for spec in PARAMETER_SPECS].index("backend")]
    assert "onnxruntime" in backend.additional_constraints
    age = descriptors[[spec.name for spec in PARAMETER_SPECS].index("max_image_age_ms")]
    assert age.floating_point_range[0].from_value == 0.0


def test_overrides_are_read(context):
    values, _ = _declare(
        context,
        backend="onnxruntime",
        threads=2,
        checkpoint=" /tmp/weights.pth ",
        image_transport="compressed",
        set_target__min_box_size=8.0,
        diagnostics__max_latency_ms=50.0,
        device="CUDA:1",
    )
    assert (values.backend, values.threads, values.checkpoint) == ("onnxruntime", 2, "/tmp/weights.pth")
    assert values.image_transport == "compressed" and values.min_box_size == 8.0
    assert values.diagnostics.max_latency_ms == 50.0 and values.device == "cuda:1"


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        ({"backend": "trt"}, "parameter 'backend' must be one of auto, onnxruntime, tensorrt, torch, got 'trt'"),
        ({"image_transport": "theora"}, "parameter 'image_transport' must be one of raw, compressed"),
        ({"precision": "fp8"}, "parameter 'precision' must be one of fp32, fp16, int8"),
        ({"max_image_age_ms": -5.0}, "parameter 'max_image_age_ms' must be between 0 and"),
        ({"max_image_age_ms": 500}, "parameter 'max_image_age_ms' must be of type double .*decimal point"),
        ({"threads": "two"}, "parameter 'threads' must be of type integer"),
        ({"lost_score_threshold": 1.5}, "parameter 'lost_score_threshold' must be between 0 and 1"),
        ({"frame_buffer_size": 0}, "parameter 'frame_buffer_size' must be between 1 and"),
        ({"device": "gpu"}, "parameter 'device' must be cpu, cpu:openvino, cpu:onnxruntime, cuda or cuda:N, got 'gpu'"),
        ({"variant": "  "}, "parameter 'variant' is empty"),
        ({"diagnostics__period_s": 0.0}, "parameter 'diagnostics.period_s' must be between"),
    ],
)
def test_bad_values_stop_start_up_with_one_clear_message(context, overrides, expected):
    with pytest.raises(ConfigError, match=expected):
        _declare(context, **overrides)


def _flatten(tree: dict, prefix: str = "") -> dict:
    flat = {}
    for key, value in tree.items():
        if isinstance(value, dict):
            flat.update(_flatten(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


def test_config_file_lists_every_parameter_with_its_default(repo_root):
    config = yaml.safe_load((repo_root / "config" / "tracker.yaml").read_text())
    listed = _flatten(config["/**"]["ros__parameters"])
    declared = {spec.name: spec.default for spec in PARAMETER_SPECS}
    assert listed.keys() == declared.keys()
    for name, default in declared.items():
        value = "" if listed[name] is None else listed[name]
        assert value == default and type(value) is type(default), name
