"""TensorRT engine cache and build configuration (everything that runs without a GPU), plus the GPU test."""

from __future__ import annotations

import json
import os
import types

import numpy as np
import pytest

from hit_core.errors import ExportError
from hit_core.export import tensorrt_engine as te

SHAPES = {"search": (1, 3, 256, 256), "template": (1, 3, 128, 128)}
KEY_ARGS = dict(tensorrt_version="10.3.0", gpu_name="Orin", compute_capability="8.7", precision="fp16",
                input_shapes=SHAPES)


def _key(model: bytes = b"onnx-bytes", **overrides) -> te.EngineKey:
    return te.make_engine_key(model, **{**KEY_ARGS, **overrides})


def test_key_changes_with_every_component():
    base = _key()
    variants = {
        "model": _key(b"other-onnx"),
        "tensorrt_version": _key(tensorrt_version="10.4.0"),
        "gpu_name": _key(gpu_name="RTX 4090"),
        "compute_capability": _key(compute_capability="8.9"),
        "precision": _key(precision="fp32"),
        "input_shapes": _key(input_shapes={**SHAPES, "search": (1, 3, 320, 320)}),
    }
    digests = {base.digest()} | {key.digest() for key in variants.values()}
    assert len(digests) == len(variants) + 1
    names = {base.file_name("hit_tiny")} | {key.file_name("hit_tiny") for key in variants.values()}
    assert len(names) == len(variants) + 1
    assert base.file_name("hit_tiny").startswith("hit_tiny_fp16_sm87_trt10.3.0_")
    assert _key().digest() == base.digest()  # deterministic
    with pytest.raises(ExportError, match="precision"):
        _key(precision="int8")


@pytest.mark.parametrize(
    "field,other",
    [("tensorrt_version", "10.4.0"), ("gpu_name", "Xavier"), ("compute_capability", "7.2"), ("precision", "fp32")],
)
def test_cached_engine_for_another_setup_is_rejected(tmp_path, field, other):
    path = tmp_path / "engine.engine"
    te.write_engine_file(path, _key(), b"payload")
    assert te.read_engine_file(path, _key()) == b"payload"
    with pytest.raises(te.EngineCacheMismatch, match=field):
        te.read_engine_file(path, _key(**{field: other}))


def test_cached_engine_for_another_model_or_shape_is_rejected(tmp_path):
    path = tmp_path / "engine.engine"
    te.write_engine_file(path, _key(), b"payload")
    with pytest.raises(te.EngineCacheMismatch, match="model_sha256"):
        te.read_engine_file(path, _key(b"retrained"))
    with pytest.raises(te.EngineCacheMismatch, match="input_shapes"):
        te.read_engine_file(path, _key(input_shapes={**SHAPES, "template": (1, 3, 64, 64)}))


@pytest.mark.parametrize(
    "damage,reason",
    [
        (lambda data: data[:-5], "truncated"),
        (lambda data: data[:-1] + bytes([data[-1] ^ 0xFF]), "sha256"),
        (lambda data: b"XXXXXXXX" + data[8:], "magic"),
        (lambda data: data[:12] + b"{not json" + data[21:], "JSON"),
        (lambda data: data[:20], "truncated or corrupt"),
    ],
)
def test_damaged_cache_files_are_detected(tmp_path, damage, reason):
    path = tmp_path / "engine.engine"
    te.write_engine_file(path, _key(), b"serialized-engine-bytes")
    path.write_bytes(damage(path.read_bytes()))
    with pytest.raises(te.EngineCacheMismatch, match=reason):
        te.read_engine_file(path, _key())


def test_header_records_key_size_and_hash(tmp_path):
    path = tmp_path / "engine.engine"
    te.write_engine_file(path, _key(), b"abc")
    data = path.read_bytes()
    assert data.startswith(te.ENGINE_MAGIC)
    length = int.from_bytes(data[8:12], "little")
    header = json.loads(data[12 : 12 + length])
    assert header["payload_size"] == 3 and header["key"]["gpu_name"] == "Orin"
    assert header["key_digest"] == _key().digest()


def test_build_once_then_hit_then_rebuild_on_mismatch_or_damage(tmp_path):
    path = tmp_path / "engine.engine"
    builds = []

    def build() -> bytes:
        builds.append(1)
        return f"engine-{len(builds)}".encode()

    first = te.load_or_build_engine(path, _key(), build)
    assert first.built and first.payload == b"engine-1" and first.reason.startswith("no cached engine")
    second = te.load_or_build_engine(path, _key(), build)
    assert not second.built and second.payload == b"engine-1" and len(builds) == 1
    upgraded = te.load_or_build_engine(path, _key(tensorrt_version="10.4.0"), build)
    assert upgraded.built and "tensorrt_version" in upgraded.reason
    path.write_bytes(path.read_bytes()[:-3])
    repaired = te.load_or_build_engine(path, _key(tensorrt_version="10.4.0"), build)
    assert repaired.built and "truncated" in repaired.reason and len(builds) == 3
    forced = te.load_or_build_engine(path, _key(tensorrt_version="10.4.0"), build, force=True)
    assert forced.built and forced.reason == "forced rebuild"


def test_engine_that_fails_to_deserialize_is_rebuilt(tmp_path):
    path = tmp_path / "engine.engine"
    te.write_engine_file(path, _key(), b"stale")
    result = te.load_or_build_engine(path, _key(), lambda: b"fresh",
                                     validate=lambda payload: "cannot deserialize" if payload == b"stale" else None)
    assert result.built and result.reason == "cannot deserialize"
    assert te.read_engine_file(path, _key()) == b"fresh"


def test_write_is_atomic(tmp_path, monkeypatch):
    path = tmp_path / "engine.engine"
    te.write_engine_file(path, _key(), b"old engine")

    def failing_replace(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", failing_replace)
    with pytest.raises(OSError, match="disk full"):
        te.write_engine_file(path, _key(), b"new engine")
    monkeypatch.undo()
    assert te.read_engine_file(path, _key()) == b"old engine"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["engine.engine"]  # no temporary file left behind


def test_failed_build_leaves_the_old_file(tmp_path):
    path = tmp_path / "engine.engine"
    te.write_engine_file(path, _key(), b"old")

    def broken_build() -> bytes:
        raise ExportError("builder crashed")

    with pytest.raises(ExportError, match="builder crashed"):
        te.load_or_build_engine(path, _key(), broken_build, force=True)
    assert te.read_engine_file(path, _key()) == b"old"


# --- Build configuration. A fake `tensorrt` module that records calls (used ONLY here, to check which
# --- builder calls are made for TensorRT 10 and 11 without a GPU; it is not a stand-in for TensorRT).


class _Recorder:
    def __init__(self, calls: list, name: str, result=None) -> None:
        self._calls, self._name, self._result = calls, name, result

    def __getattr__(self, attribute: str):
        def method(*args):
            self._calls.append((f"{self._name}.{attribute}", args))
            if attribute == "parse":
                return True
            if attribute == "build_serialized_network":
                return self._result
            return _Recorder(self._calls, attribute, self._result)

        return method


def _fake_trt(version: str, has_fp16_flag: bool, calls: list, serialized=b"engine"):
    flags = types.SimpleNamespace(**({"FP16": "FLAG_FP16"} if has_fp16_flag else {}))
    logger = type("Logger", (), {"WARNING": "WARN", "__init__": lambda self, level: calls.append(("Logger", (level,)))})
    return types.SimpleNamespace(
        __version__=version,
        BuilderFlag=flags,
        MemoryPoolType=types.SimpleNamespace(WORKSPACE="POOL_WORKSPACE"),
        Logger=logger,
        Builder=lambda log: _Recorder(calls, "builder", serialized),
        OnnxParser=lambda network, log: _Recorder(calls, "parser"),
    )


def test_precision_strategy_per_tensorrt_version():
    assert te.precision_strategy(_fake_trt("10.3.0", True, []), "fp16") == "builder-flag"
    assert te.precision_strategy(_fake_trt("11.4.0", False, []), "fp16") == "fp16-onnx"
    assert te.precision_strategy(_fake_trt("11.0.0", True, []), "fp16") == "fp16-onnx"
    assert te.precision_strategy(_fake_trt("10.3.0", True, []), "fp32") == "fp32"


@pytest.mark.parametrize("version,flag", [("10.3.0", True), ("11.4.0", False)])
def test_builder_configuration(version, flag):
    calls: list = []
    trt = _fake_trt(version, flag, calls)
    use_flag = te.precision_strategy(trt, "fp16") == "builder-flag"
    assert te.build_serialized_engine(trt, b"onnx", use_fp16_flag=use_flag, workspace_bytes=1 << 28) == b"engine"
    names = [name for name, _ in calls]
    assert ("builder.create_network", (0,)) in calls
    assert ("parser.parse", (b"onnx",)) in calls
    assert ("create_builder_config.set_memory_pool_limit", ("POOL_WORKSPACE", 1 << 28)) in calls
    assert (("create_builder_config.set_flag", ("FLAG_FP16",)) in calls) == flag
    assert names[-1] == "builder.build_serialized_network"


def test_failed_build_is_an_export_error():
    with pytest.raises(ExportError, match="failed to build"):
        te.build_serialized_engine(_fake_trt("10.3.0", True, [], serialized=None), b"onnx", use_fp16_flag=True)


def test_fp16_onnx_for_tensorrt_11(tiny_network_graph, tmp_path):
    import onnx

    from hit_core.tracking.backends.tensorrt_backend import engine_onnx_bytes

    path = tmp_path / "network.onnx"
    path.write_bytes(tiny_network_graph.SerializeToString())
    fp32 = onnx.load_from_string(engine_onnx_bytes(path, "builder-flag"))
    assert [v.name for v in fp32.graph.output] == ["box", "score_tl", "score_br"]
    assert {init.data_type for init in fp32.graph.initializer if init.data_type in (1, 10)} == {onnx.TensorProto.FLOAT}
    converted = onnx.load_from_string(engine_onnx_bytes(path, "fp16-onnx"))
    floats = {init.data_type for init in converted.graph.initializer if init.data_type in (1, 10)}
    assert floats == {onnx.TensorProto.FLOAT16}
    io_types = {v.type.tensor_type.elem_type for v in (*converted.graph.input, *converted.graph.output)}
    assert io_types == {onnx.TensorProto.FLOAT}  # float32 at the boundary, float16 inside


@pytest.mark.gpu
def test_tensorrt_backend_on_a_gpu_matches_torch(tiny_checkpoint, tmp_path, crossing_dir):
    from hit_core.tracking.backends import backend_availability, create_backend

    available, reason = backend_availability("tensorrt")
    if not available:
        pytest.skip(f"TensorRT cannot run here: {reason}")
    from hit_core.export.crops import real_crop_pairs

    pairs = real_crop_pairs([crossing_dir], pairs_per_source=3)
    reference = create_backend("torch", variant="tiny", checkpoint=tiny_checkpoint)
    for precision, tolerance in (("fp32", 1e-4), ("fp16", 2e-2)):
        backend = create_backend("tensorrt", variant="tiny", checkpoint=tiny_checkpoint, device="cuda",
                                 engine_cache_dir=tmp_path, precision=precision)
        for pair in pairs:
            backend.set_template(pair.template)
            reference.set_template(pair.template)
            np.testing.assert_allclose(backend.infer(pair.search).box, reference.infer(pair.search).box,
                                       atol=tolerance, rtol=0)
        assert not backend.engine_load.built or backend.engine_load.path.is_file()
        backend.close()
        cached = create_backend("tensorrt", variant="tiny", checkpoint=tiny_checkpoint, device="cuda",
                                engine_cache_dir=tmp_path, precision=precision)
        assert not cached.engine_load.built
        cached.close()
