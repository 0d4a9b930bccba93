"""Dataset readers shared by training and evaluation."""

from hit_core.data.sequence import Sequence, read_frame_rgb

__all__ = ["Sequence", "read_frame_rgb"]
