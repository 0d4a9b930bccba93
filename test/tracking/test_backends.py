"""Backend creation by name, ``auto`` selection, and the Backend API's refusals."""

from __future__ import annotations

import logging

import numpy as np
import pytest

from hit_core.errors import BackendError, ConfigError
from hit_core.tracking import Tracker
from hit_core.tracking.backends import BACKEND_NAMES, backend_availability, create_backend
from hit_core.tracking.backends.onnxruntime_backend import openvino_available

TEMPLATE = np.zeros((128, 128, 3), np.uint8)
SEARCH = np.zeros((256, 256, 3), np.uint8)


def test_backend_names():
    assert BACKEND_NAMES == ("torch", "onnxruntime", "tensorrt", "auto")
    for name in BACKEND_NAMES[:-1]:
        available, reason = backend_availability(name)
        assert isinstance(available, bool) and isinstance(reason, str)
        assert available or reason


@pytest.mark.parametrize(
    "name, options, message",
    [
        ("tensorflow", {}, "unknown backend 'tensorflow'; choose one of torch, onnxruntime, tensorrt, auto"),
        ("torch", {"precision": "fp8"}, "unknown precision 'fp8'"),
        ("torch", {"threads": 0}, "threads must be a positive integer"),
        ("torch", {"precision": "int8"}, "fp32 only"),
        ("torch", {"device": "gpu7"}, "invalid torch device"),
        ("onnxruntime", {"device": "cpu:tvm"}, "invalid device 'cpu:tvm' for onnxruntime; use 'cpu', 'cpu:openvino', 'cpu:onnxruntime', 'cuda'"),
    ],
)
def test_bad_options_are_config_errors(name, options, message):
    with pytest.raises(ConfigError, match=message):
        create_backend(name, variant="tiny", checkpoint=None, **options)


def test_torch_backend_refuses_a_missing_gpu():
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has a CUDA GPU, so asking for one succeeds")
    with pytest.raises(BackendError, match="no CUDA GPU"):
        create_backend("torch", variant="tiny", checkpoint=None, device="cuda")


def test_tensorrt_without_a_gpu_is_a_backend_error_with_the_reason():
    available, reason = backend_availability("tensorrt")
    if available:
        pytest.skip("TensorRT can run here")
    with pytest.raises(BackendError, match="backend 'tensorrt' is not available: "):
        create_backend("tensorrt", variant="tiny", checkpoint=None)


def test_auto_falls_back_to_onnxruntime_and_says_why(fixture_checkpoint, backend_cache_dir, caplog):
    available, reason = backend_availability("tensorrt")
    if available:
        pytest.skip("TensorRT can run here, so auto picks it")
    with caplog.at_level(logging.WARNING, logger="hit_core.tracking"):
        backend = create_backend(
            "auto", variant="tiny", checkpoint=fixture_checkpoint("tiny"), engine_cache_dir=backend_cache_dir
        )
    try:
        assert backend.name == "onnxruntime"
        warnings = [record.getMessage() for record in caplog.records if record.levelno == logging.WARNING]
        assert any("TensorRT not used" in message and reason in message for message in warnings), warnings
    finally:
        backend.close()


def test_onnxruntime_cpu_devices_pick_their_provider_and_say_so(fixture_checkpoint, backend_cache_dir, caplog):
    def providers(device: str) -> list[str]:
        with create_backend(
            "onnxruntime", variant="tiny", checkpoint=fixture_checkpoint("tiny"), engine_cache_dir=backend_cache_dir,
            device=device,
        ) as backend:
            assert backend.runtime == {"OpenVINOExecutionProvider": "openvino", "CPUExecutionProvider": "cpu"}[
                backend.providers[0]
            ]
            return backend.providers

    with caplog.at_level(logging.INFO, logger="hit_core.tracking"):
        assert providers("cpu:onnxruntime") == ["CPUExecutionProvider"]
        default = providers("cpu")
        if openvino_available():
            assert default[0] == "OpenVINOExecutionProvider"
            assert providers("cpu:openvino")[0] == "OpenVINOExecutionProvider"
        else:
            assert default == ["CPUExecutionProvider"]
    messages = [record.getMessage() for record in caplog.records]
    assert any("HiT graphs on the CPUExecutionProvider" in m for m in messages), messages
    if openvino_available():
        assert any("HiT graphs on the OpenVINOExecutionProvider" in m for m in messages), messages


def test_onnxruntime_cpu_openvino_is_refused_without_the_provider(fixture_checkpoint, backend_cache_dir):
    if openvino_available():
        pytest.skip("this onnxruntime has the OpenVINO execution provider, so asking for it succeeds")
    with pytest.raises(BackendError, match="no OpenVINO execution provider"):
        create_backend("onnxruntime", variant="tiny", checkpoint=fixture_checkpoint("tiny"), device="cpu:openvino")


def test_onnxruntime_falls_back_to_its_own_kernels_when_openvino_fails(
    fixture_checkpoint, backend_cache_dir, caplog, monkeypatch
):
    import onnxruntime as ort

    if not openvino_available():
        pytest.skip("this onnxruntime has no OpenVINO execution provider to fail")
    real_session = ort.InferenceSession

    def openvino_fails(path, options=None, providers=None):
        first = providers[0][0] if isinstance(providers[0], tuple) else providers[0]
        if first == "OpenVINOExecutionProvider":
            raise RuntimeError("injected OpenVINO compile failure")
        return real_session(path, options, providers=providers)

    monkeypatch.setattr(ort, "InferenceSession", openvino_fails)
    with caplog.at_level(logging.WARNING, logger="hit_core.tracking"):
        backend = create_backend(
            "onnxruntime", variant="tiny", checkpoint=fixture_checkpoint("tiny"), engine_cache_dir=backend_cache_dir,
            device="cpu:openvino",
        )
    try:
        assert backend.providers == ["CPUExecutionProvider"]
        warnings = [record.getMessage() for record in caplog.records if record.levelno == logging.WARNING]
        assert any("OpenVINO execution provider failed" in m and "injected OpenVINO" in m for m in warnings), warnings
        backend.set_template(TEMPLATE)
        assert backend.infer(SEARCH).box.shape == (4,)
    finally:
        backend.close()


def test_untrained_network_is_announced_loudly(caplog):
    from hit_core.models.checkpoint import bundled_checkpoint

    if bundled_checkpoint("tiny").is_file():
        pytest.skip("demo weights are bundled, so checkpoint=None uses them")
    with caplog.at_level(logging.WARNING, logger="hit_core.tracking"):
        backend = create_backend("torch", variant="tiny", checkpoint=None)
    backend.close()
    assert any("UNTRAINED" in record.getMessage() for record in caplog.records)


def test_torch_backend_api(torch_tiny_backend):
    backend = torch_tiny_backend
    assert backend.name == "torch" and backend.variant == "tiny"
    with pytest.raises(ConfigError, match="template crop must be uint8"):
        backend.set_template(SEARCH)
    backend.set_template(TEMPLATE)
    with pytest.raises(ConfigError, match="search crop must be uint8"):
        backend.infer(TEMPLATE)
    output = backend.infer(SEARCH)
    assert output.box.shape == (4,) and output.box.dtype == np.float32
    assert output.score_tl.shape == output.score_br.shape == (16, 16)
    assert output.score_tl.dtype == output.score_br.dtype == np.float32


def test_fresh_and_closed_backends_refuse_work(fixture_checkpoint):
    backend = create_backend("torch", variant="tiny", checkpoint=fixture_checkpoint("tiny"))
    with backend:
        with pytest.raises(ConfigError, match="set_template"):
            backend.infer(SEARCH)
        backend.set_template(TEMPLATE)
    with pytest.raises(BackendError, match="closed"):
        backend.infer(SEARCH)


def test_tracker_from_options(fixture_checkpoint, sequence_frames):
    frames = sequence_frames("Crossing")
    with Tracker.from_options(variant="HiT-Tiny", checkpoint=fixture_checkpoint("tiny"), backend="torch") as tracker:
        assert tracker.backend_name == "torch" and tracker.variant == "tiny"
        tracker.initialize(frames[0], (205, 151, 17, 50))
        result = tracker.track(frames[1])
        assert np.isfinite(result.box).all() and 0.0 <= result.score <= 1.0
