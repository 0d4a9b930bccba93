"""The re-implementation reproduces the official network's outputs on the parity fixtures (README §7)."""

from __future__ import annotations

import numpy as np
import pytest

VARIANTS = ("tiny", "small", "base")

# fixtures README §7: about 10-20x the float32 noise of the official code, far below any injected bug
TOLERANCE = {"xz1": 1e-4, "xz2": 1e-4, "cxz": 1e-4, "neck": 1e-4, "score_tl": 1e-3, "score_br": 1e-3, "box": 2e-5}


def _max_errors(model, parity_inputs, reference) -> dict[str, float]:
    import torch

    search, template = parity_inputs
    full_pairs = list(reference["full_pairs"])
    errors = dict.fromkeys(TOLERANCE, 0.0)

    def record(name: str, ours, theirs) -> None:
        errors[name] = max(errors[name], float(np.abs(ours.numpy() - theirs).max()))

    with torch.no_grad():
        for pair in range(search.shape[0]):
            features = model.forward_backbone(search[pair:pair + 1], template[pair:pair + 1])
            outputs = model.forward_head(features)
            record("box", outputs["pred_boxes"], reference["box"][pair])
            record("score_tl", outputs["score_tl"], reference["score_tl"][pair])
            record("score_br", outputs["score_br"], reference["score_br"][pair])
            record("cxz", features[2], reference["cxz"][pair])
            if pair in full_pairs:
                row = full_pairs.index(pair)
                record("xz1", features[0], reference["xz1"][row])
                record("xz2", features[1], reference["xz2"][row])
                record("neck", outputs["neck"], reference["neck"][row])
    return errors


@pytest.mark.parametrize("variant", VARIANTS)
def test_matches_official_outputs_unfused_and_fused(variant, official_checkpoint, parity_inputs, parity_dir):
    from hit_core.models import create_model

    model = create_model(variant, official_checkpoint(variant))
    assert not model.training
    reference = np.load(parity_dir / f"variant_{variant}.npz")
    for form in ("unfused", "fused"):
        if form == "fused":
            model.fuse()
        errors = _max_errors(model, parity_inputs, reference)
        too_large = {name: error for name, error in errors.items() if error > TOLERANCE[name]}
        assert not too_large, f"HiT-{variant} ({form}) outside the README §7 tolerances: {too_large}"


@pytest.fixture(scope="module")
def fused_tiny(official_checkpoint):
    from hit_core.models import create_model

    return create_model("tiny", official_checkpoint("tiny"), fuse=True)


def test_forward_matches_official_onnx_boxes(fused_tiny, parity_inputs, parity_dir):
    import torch

    model = fused_tiny
    search, template = parity_inputs
    onnx_box = np.load(parity_dir / "variant_tiny.npz")["onnx_box"]
    with torch.no_grad():
        for pair in range(search.shape[0]):
            outputs = model(search[pair:pair + 1], template[pair:pair + 1])
            assert set(outputs) == {"pred_boxes", "score_tl", "score_br"}
            assert outputs["pred_boxes"].shape == (1, 1, 4) and outputs["score_tl"].shape == (1, 1, 16, 16)
            np.testing.assert_allclose(outputs["pred_boxes"].numpy(), onnx_box[pair], rtol=0, atol=2e-5)


def test_batched_forward_equals_single_pairs(fused_tiny, parity_inputs):
    import torch

    model = fused_tiny
    search, template = parity_inputs
    with torch.no_grad():
        batched = model(search, template)["pred_boxes"]
        single = torch.cat([model(search[i:i + 1], template[i:i + 1])["pred_boxes"] for i in range(4)])
    assert batched.shape == (4, 1, 4)
    torch.testing.assert_close(batched, single, rtol=0, atol=2e-6)


def test_cuda_gives_the_same_boxes(official_checkpoint, parity_inputs, parity_dir):
    import torch

    from hit_core.models import create_model

    if not torch.cuda.is_available():
        pytest.skip("no CUDA GPU visible to PyTorch here; the CUDA parity check runs on GPU machines only")
    model = create_model("tiny", official_checkpoint("tiny"), device="cuda", fuse=True)
    search, template = parity_inputs
    reference = np.load(parity_dir / "variant_tiny.npz")["box"]
    tf32 = torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32
    # TF32 (cuDNN's default for convolutions) rounds inputs to 10 mantissa bits: compare true float32
    torch.backends.cudnn.allow_tf32 = torch.backends.cuda.matmul.allow_tf32 = False
    try:
        with torch.no_grad():
            boxes = [model(search[i:i + 1].cuda(), template[i:i + 1].cuda())["pred_boxes"].cpu() for i in range(4)]
    finally:
        torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32 = tf32
    np.testing.assert_allclose(torch.stack(boxes).numpy(), reference, rtol=0, atol=TOLERANCE["box"])
