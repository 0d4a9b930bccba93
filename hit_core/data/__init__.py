"""Dataset readers shared by training and evaluation."""

from hit_core.data.registry import dataset_names, load_dataset
from hit_core.data.sequence import Sequence, read_frame_rgb

__all__ = ["Sequence", "dataset_names", "load_dataset", "read_frame_rgb"]
