"""Training HiT: recipes (``config``), pair sampling and augmentation, the box loss, the loop
(one process or torchrun + DistributedDataParallel), checkpoints and logs.

Importing this package is cheap; ``hit_core.train.trainer`` and the data modules import torch
and OpenCV. Entry points: :func:`hit_core.train.config.load_config` and
:func:`hit_core.train.trainer.train` (what ``hit train`` calls).
"""
