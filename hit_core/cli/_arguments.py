"""Argument types and help texts shared by several ``hit`` subcommands."""

from __future__ import annotations

import argparse
import re

DEVICE_HELP = (
    "cpu, cuda or cuda:N (default: cpu). With onnxruntime, cpu runs its OpenVINO execution provider when "
    "installed, else its own kernels; cpu:openvino or cpu:onnxruntime choose one"
)


def parse_box(text: str) -> tuple[float, float, float, float]:
    """``"x,y,w,h"`` (commas and/or spaces between four numbers, image pixels) -> the box as floats.

    Raises ``argparse.ArgumentTypeError`` with what was expected, so argparse reports it as a usage error.
    """
    values = [value for value in re.split(r"[,\s]+", text.strip()) if value]
    try:
        box = tuple(float(value) for value in values)
    except ValueError:
        box = ()
    if len(box) != 4:
        raise argparse.ArgumentTypeError(f"expected x,y,w,h (four numbers, image pixels), got {text!r}")
    return box  # type: ignore[return-value]
