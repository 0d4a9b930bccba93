"""The HiT network family (HiT-Tiny, -Small, -Base), numerically identical to the official implementation.

Importing this package does not import torch; the functions below import it when called.
``create_model`` builds a variant (optionally from a checkpoint), ``hit_core.models.checkpoint`` reads and
writes weights without executing pickled code, ``hit_core.models.complexity`` counts parameters and MACs.
"""

from hit_core.models.checkpoint import load_state_dict, read_checkpoint, resolve_checkpoint, save_checkpoint
from hit_core.models.complexity import count_macs, count_parameters, measure_latency
from hit_core.models.registry import VariantSpec, canonical_variant, create_model, get_variant, list_variants

__all__ = [
    "VariantSpec",
    "canonical_variant",
    "count_macs",
    "count_parameters",
    "create_model",
    "get_variant",
    "list_variants",
    "load_state_dict",
    "measure_latency",
    "read_checkpoint",
    "resolve_checkpoint",
    "save_checkpoint",
]
