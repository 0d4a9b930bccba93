"""Honest complexity numbers: parameters, MACs (two protocols) and CPU/GPU latency.

MACs are counted on the inference form (fused backbone, eval mode, batch 1) with one real forward pass on the
``meta`` device (shapes only, no arithmetic):

* ``protocol="complete"``: every multiply-accumulate of convolutions, linear layers and matrix products,
  including the attention products q·kᵀ and attn·v (``torch.utils.flop_counter``, FLOPs / 2).
* ``protocol="thop"``: the official profiling script's numbers (``thop.profile`` on the backbone call plus
  the head call), reproduced with thop's per-module rules: Conv2d and ConvTranspose2d = output elements ×
  input channels × kernel area (this over-counts transposed convolutions 4×), Linear = output elements ×
  input features, BatchNorm = 4 × input elements, everything else (activations, attention matrix products,
  softmax) 0. This is what the paper reports as "FLOPs".
"""

from __future__ import annotations

import copy
import statistics
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

from hit_core.errors import ConfigError

if TYPE_CHECKING:
    import torch

    from hit_core.models.hit import HiT

PROTOCOLS = ("complete", "thop")


def count_parameters(model: "torch.nn.Module") -> int:
    """Number of scalar parameters (every ``nn.Parameter``, shared ones once; buffers excluded).

    On an unfused HiT this is the training-graph count (Tiny 9,628,530; Small 11,069,794; Base 42,220,250),
    after ``fuse()`` the inference count (9,609,474; 11,046,258; 42,168,586).
    """
    import torch

    if not isinstance(model, torch.nn.Module):
        raise ConfigError(f"count_parameters needs a torch.nn.Module, got {type(model).__name__}")
    return sum(parameter.numel() for parameter in model.parameters())


def _inference_form_on_meta(variant_or_model: "str | HiT") -> "HiT":
    import torch

    from hit_core.models.hit import HiT
    from hit_core.models.registry import get_variant

    if isinstance(variant_or_model, str):
        with torch.device("meta"):
            model = HiT(get_variant(variant_or_model))
    elif isinstance(variant_or_model, HiT):
        model = copy.deepcopy(variant_or_model).to("meta")
    else:
        raise ConfigError(f"count_macs needs a variant name or a HiT model, got {type(variant_or_model).__name__}")
    return model.fuse()


def _thop_module_macs(module: "torch.nn.Module", inputs: tuple, output: "torch.Tensor") -> int:
    from torch import nn

    if isinstance(module, (nn.Conv2d, nn.ConvTranspose2d)):
        kernel_area = module.kernel_size[0] * module.kernel_size[1]
        return output.numel() * (module.in_channels // module.groups) * kernel_area
    if isinstance(module, nn.Linear):
        return output.numel() * module.in_features
    if isinstance(module, nn.modules.batchnorm._BatchNorm):
        return 4 * inputs[0].numel() if module.affine else 2 * inputs[0].numel()
    return 0


def count_macs(variant_or_model: "str | HiT", protocol: str = "complete") -> int:
    """Multiply-accumulates of one tracking step (batch 1, 256² search + 128² template) of the inference form.

    ``variant_or_model``: a variant name or a HiT model (not modified; a copy is fused). ``protocol``:
    "complete" (all conv/linear/matmul MACs, attention included) or "thop" (the official protocol, see the
    module docstring). Reference (spec §13): Tiny 1.016 G / 0.997 G, Small 1.193 G / 1.130 G,
    Base 4.431 G / 4.346 G (complete / thop).
    """
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    from hit_core.models.hit import SEARCH_SIZE, TEMPLATE_SIZE

    if protocol not in PROTOCOLS:
        raise ConfigError(f"unknown MAC counting protocol {protocol!r}; choose one of {', '.join(PROTOCOLS)}")
    model = _inference_form_on_meta(variant_or_model)
    search = torch.zeros(1, 3, SEARCH_SIZE, SEARCH_SIZE, device="meta")
    template = torch.zeros(1, 3, TEMPLATE_SIZE, TEMPLATE_SIZE, device="meta")
    with torch.no_grad():
        if protocol == "complete":
            counter = FlopCounterMode(display=False)
            with counter:
                model(search, template)
            return counter.get_total_flops() // 2
        total = 0

        def hook(module: "torch.nn.Module", inputs: tuple, output: "torch.Tensor") -> None:
            nonlocal total
            total += _thop_module_macs(module, inputs, output)

        handles = [module.register_forward_hook(hook) for module in model.modules()
                   if next(module.children(), None) is None]
        try:
            model(search, template)
        finally:
            for handle in handles:
                handle.remove()
        return total


def count_thop_parameters(model: "torch.nn.Module") -> int:
    """Parameters as thop reports them: only those of leaf modules (excludes the attention-bias tables)."""
    return sum(parameter.numel() for module in model.modules() if next(module.children(), None) is None
               for parameter in module.parameters(recurse=False))


@dataclass(frozen=True)
class LatencyStats:
    """Wall-clock latency of one network forward (search + template, batch 1), milliseconds."""

    median_ms: float
    p95_ms: float
    mean_ms: float
    runs: int
    threads: int
    device: str


def measure_latency(model: "HiT", threads: int | None = None, runs: int = 100, warmup: int = 20) -> LatencyStats:
    """Time ``runs`` forwards after ``warmup`` untimed ones, under ``no_grad``, on the model's device.

    ``threads``: torch intra-op threads for the measurement (restored afterwards); None keeps the current
    setting. CUDA is synchronised around every call. Use the inference form (``fuse()``) to time what the
    tracker runs.
    """
    import torch

    from hit_core.models.hit import SEARCH_SIZE, TEMPLATE_SIZE

    if runs < 1 or warmup < 0:
        raise ConfigError(f"need runs >= 1 and warmup >= 0, got runs={runs}, warmup={warmup}")
    if threads is not None and threads < 1:
        raise ConfigError(f"threads must be >= 1, got {threads}")
    parameter = next(model.parameters())
    device, dtype = parameter.device, parameter.dtype
    search = torch.randn(1, 3, SEARCH_SIZE, SEARCH_SIZE, device=device, dtype=dtype)
    template = torch.randn(1, 3, TEMPLATE_SIZE, TEMPLATE_SIZE, device=device, dtype=dtype)
    synchronize = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    previous_threads = torch.get_num_threads()
    if threads is not None:
        torch.set_num_threads(threads)
    times_ms = []
    try:
        with torch.no_grad():
            for index in range(warmup + runs):
                synchronize()
                start = time.perf_counter()
                model(search, template)
                synchronize()
                if index >= warmup:
                    times_ms.append((time.perf_counter() - start) * 1000.0)
    finally:
        torch.set_num_threads(previous_threads)
    ordered = sorted(times_ms)
    p95 = ordered[min(len(ordered) - 1, max(0, int(round(0.95 * len(ordered))) - 1))]
    return LatencyStats(statistics.median(times_ms), p95, statistics.fmean(times_ms), runs,
                        torch.get_num_threads() if threads is None else threads, str(device))
