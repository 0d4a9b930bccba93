"""The training loop: HiT recipe (spec sections 5-8) on one process or many (torchrun + DDP).

Reproducibility: the pairs are a function of (seed, epoch, index) (see ``loader``), and
PyTorch's generator is re-seeded from (seed, epoch, rank) at the start of every epoch (it
drives drop-path), so resuming from an epoch checkpoint repeats the uninterrupted run
exactly on the CPU. On GPUs cuDNN autotuning is on (as in the official recipe), which
trades bit-exactness for speed.
"""

from __future__ import annotations

import contextlib
import copy
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from hit_core.errors import ConfigError, HitError
from hit_core.models.checkpoint import load_into
from hit_core.train import distributed
from hit_core.train.checkpoint import check_resumable, last_file, read_training_state, save_training_state
from hit_core.train.config import TrainingConfig, output_dir
from hit_core.train.distributed import DistributedContext
from hit_core.train.loader import (
    TRAIN_STREAM,
    VALIDATION_STREAM,
    EpochSampler,
    PairDataset,
    ShardSampler,
    make_loader,
)
from hit_core.train.logs import MetricsLog, say
from hit_core.train.loss import LossTerms, box_loss
from hit_core.train.processing import PairProcessor
from hit_core.train.sampler import PairSampler, build_sources

_TERMS = ("loss", "giou", "l1", "iou")
_MODEL_STREAM = 2


@dataclass(frozen=True)
class TrainResult:
    """Where a run stands after :func:`train` returns."""

    run_dir: Path
    last_checkpoint: Path | None
    epoch: int
    step: int


@dataclass
class _Setup:
    config: TrainingConfig
    context: DistributedContext
    device: torch.device
    core: torch.nn.Module
    model: torch.nn.Module
    optimizer: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.LRScheduler
    scaler: torch.amp.GradScaler | None
    train_loader: torch.utils.data.DataLoader
    train_sampler: EpochSampler
    val_loader: torch.utils.data.DataLoader | None
    steps_per_epoch: int

    def autocast(self) -> contextlib.AbstractContextManager:
        dtype = {"fp16": torch.float16, "bf16": torch.bfloat16}.get(self.config.optim.precision)
        if dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(self.device.type, dtype=dtype)


def _derived_seed(*words: int) -> int:
    return int(np.random.SeedSequence(list(words)).generate_state(1)[0])


def steps_per_epoch(config: TrainingConfig, world_size: int) -> int:
    """Optimizer steps per epoch and process: samples_per_epoch // (batch_size * processes)."""
    steps = config.train.samples_per_epoch // (config.train.batch_size * world_size)
    if steps < 1:
        raise ConfigError(
            f"train.samples_per_epoch={config.train.samples_per_epoch} gives no full batch of "
            f"{config.train.batch_size} for each of {world_size} processes; raise samples_per_epoch"
        )
    return steps


def build_model(config: TrainingConfig, device: torch.device) -> torch.nn.Module:
    """The network in train mode: from ``init_checkpoint``, else random with ImageNet LeViT backbone if asked."""
    from hit_core.models import create_model
    from hit_core.models.pretrained import load_imagenet_levit

    model_config = config.model
    torch.manual_seed(config.train.seed)
    if model_config.init_checkpoint is not None:
        model = create_model(model_config.variant, checkpoint=model_config.init_checkpoint)
    else:
        model = create_model(model_config.variant)
        if model_config.backbone_init == "imagenet":
            load_imagenet_levit(model, model_config.pretrained_backbone)
    return model.to(device).train()


def build_optimizer(
    model: torch.nn.Module, config: TrainingConfig
) -> tuple[torch.optim.Optimizer, torch.optim.lr_scheduler.LRScheduler]:
    """AdamW over two groups (head = everything but the backbone, backbone at lr * multiplier) and StepLR."""
    optim = config.optim
    head = [p for name, p in model.named_parameters() if p.requires_grad and not name.startswith("backbone.")]
    backbone = [p for name, p in model.named_parameters() if p.requires_grad and name.startswith("backbone.")]
    optimizer = torch.optim.AdamW(
        [
            {"params": head, "lr": optim.lr, "name": "head"},
            {"params": backbone, "lr": optim.lr * optim.backbone_lr_multiplier, "name": "backbone"},
        ],
        lr=optim.lr,
        weight_decay=optim.weight_decay,
    )
    scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=optim.lr_drop_epoch, gamma=optim.lr_drop_gamma)
    return optimizer, scheduler


def _loaders(
    config: TrainingConfig, context: DistributedContext, device: torch.device, steps: int
) -> tuple[torch.utils.data.DataLoader, EpochSampler, torch.utils.data.DataLoader | None]:
    sampling = config.data.sampling
    processor = PairProcessor(config)
    run = config.train
    pin = device.type == "cuda"
    train_sources = build_sources(config.data.train, sampling)
    if context.is_main:
        for source in train_sources:
            say(f"train data {source.name}: {len(source)} usable sequences ({source.spec.mode} pairs), "
                f"ratio {source.spec.ratio:g}")
    train_dataset = PairDataset(PairSampler(train_sources, sampling), processor, run.seed, TRAIN_STREAM)
    train_sampler = EpochSampler(run.batch_size, steps, context.rank, context.world_size)
    train_loader = make_loader(train_dataset, train_sampler, run.batch_size, run.num_workers, pin)
    val_loader = None
    if config.validation.samples > 0:
        val_sources = build_sources(config.data.val, sampling)
        val_dataset = PairDataset(PairSampler(val_sources, sampling), processor, run.seed, VALIDATION_STREAM)
        val_sampler = ShardSampler(config.validation.samples, context.rank, context.world_size)
        val_loader = make_loader(val_dataset, val_sampler, run.batch_size, min(run.num_workers, 2), pin)
    return train_loader, train_sampler, val_loader


def _prepare(config: TrainingConfig, context: DistributedContext, device: torch.device) -> _Setup:
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True
    steps = steps_per_epoch(config, context.world_size)
    core = build_model(config, device)
    model = core
    if context.distributed:
        model = torch.nn.parallel.DistributedDataParallel(
            core, device_ids=[device.index] if device.type == "cuda" else None, broadcast_buffers=False
        )
    optimizer, scheduler = build_optimizer(core, config)
    scaler = torch.amp.GradScaler(device.type) if config.optim.precision == "fp16" else None
    train_loader, train_sampler, val_loader = _loaders(config, context, device, steps)
    return _Setup(config, context, device, core, model, optimizer, scheduler, scaler,
                  train_loader, train_sampler, val_loader, steps)


def _step(setup: _Setup, batch: dict[str, torch.Tensor]) -> LossTerms:
    """One optimisation step on a batch; returns the loss terms (not synchronised with the device)."""
    device = setup.device
    search = batch["search"].to(device, non_blocking=True)
    template = batch["template"].to(device, non_blocking=True)
    target = batch["search_box"].to(device, non_blocking=True)
    with setup.autocast():
        outputs = setup.model(search, template)
    terms = box_loss(outputs["pred_boxes"], target, setup.config.loss)
    setup.optimizer.zero_grad(set_to_none=True)
    clip = setup.config.optim.grad_clip_norm
    if setup.scaler is not None:
        setup.scaler.scale(terms.total).backward()
        if clip > 0:
            setup.scaler.unscale_(setup.optimizer)
            torch.nn.utils.clip_grad_norm_(setup.core.parameters(), clip)
        setup.scaler.step(setup.optimizer)
        setup.scaler.update()
    else:
        terms.total.backward()
        if clip > 0:
            torch.nn.utils.clip_grad_norm_(setup.core.parameters(), clip)
        setup.optimizer.step()
    return terms


def _terms_vector(terms: LossTerms, count: int) -> torch.Tensor:
    return torch.stack([terms.total.detach(), terms.giou, terms.l1, terms.iou]).float() * count


def _learning_rates(optimizer: torch.optim.Optimizer) -> dict[str, float]:
    return {f"lr_{group['name']}": float(group["lr"]) for group in optimizer.param_groups}


def _means(sums: torch.Tensor, count: int, context: DistributedContext) -> dict[str, float]:
    totals = distributed.sum_across(torch.cat([sums, sums.new_tensor([count])]), context).cpu()
    return {name: float(value) / float(totals[-1]) for name, value in zip(_TERMS, totals[:-1], strict=True)}


def validate(setup: _Setup) -> dict[str, float]:
    """Mean loss terms over the fixed validation pairs (eval mode, no gradients, all processes)."""
    setup.core.eval()
    sums = torch.zeros(len(_TERMS), device=setup.device)
    count = 0
    with torch.no_grad():
        for batch in setup.val_loader:
            with setup.autocast():
                outputs = setup.core(batch["search"].to(setup.device), batch["template"].to(setup.device))
            size = len(batch["search"])
            sums += _terms_vector(box_loss(outputs["pred_boxes"], batch["search_box"].to(setup.device),
                                           setup.config.loss), size)
            count += size
    setup.core.train()
    return _means(sums, count, setup.context)


def _resume(setup: _Setup, path: Path) -> tuple[int, int]:
    state = read_training_state(path)
    check_resumable(state, setup.config, path)
    load_into(setup.core, state["net"])
    setup.core.train()
    setup.optimizer.load_state_dict(state["optimizer"])
    setup.scheduler.load_state_dict(state["scheduler"])
    if setup.scaler is not None and state.get("scaler"):
        setup.scaler.load_state_dict(state["scaler"])
    if setup.context.is_main:
        say(f"resumed from {path} at epoch {state['epoch']} (step {state['step']})")
        if int(state.get("world_size", 1)) != setup.context.world_size:
            say(f"warning: the checkpoint was trained with {state['world_size']} processes, this run has "
                f"{setup.context.world_size}: training continues correctly but not bit-for-bit as it would have")
    return int(state["epoch"]), int(state["step"])


def resolve_resume(resume: str | Path | None, run_dir: Path) -> Path | None:
    """``"auto"``: ``<run>/checkpoints/last.pth`` if present (else start fresh); a path: that file."""
    if resume is None:
        return None
    if str(resume) == "auto":
        last = last_file(run_dir)
        return last if last.is_file() else None
    return Path(resume)


def train(
    config: TrainingConfig,
    context: DistributedContext | None = None,
    resume: str | Path | None = None,
    progress: bool = True,
) -> TrainResult:
    """Train (or resume, see :func:`resolve_resume`) until ``train.epochs``.

    Checkpoints and logs go to the run folder (``train.output_dir``). ``context``: this
    process's place in a torchrun job (None: a single process).
    """
    context = context or DistributedContext()
    run_dir = output_dir(config)
    resume_path = resolve_resume(resume, run_dir)
    if resume is not None and resume_path is None and context.is_main:
        say(f"no checkpoint at {last_file(run_dir)}: starting a new run")
    device = distributed.select_device(config.train.device, context)
    with distributed.joined(context, device):
        setup = _prepare(config, context, device)
        start_epoch, step = _resume(setup, resume_path) if resume_path is not None else (0, 0)
        run = config.train
        log = None
        if context.is_main:
            log = MetricsLog(run_dir, run.tensorboard, start_epoch if resume_path else None, step)
            say(f"HiT-{config.model.variant}: {sum(p.numel() for p in setup.core.parameters()):,} parameters on "
                f"{device}, {context.world_size} process(es) x batch {run.batch_size}, "
                f"{setup.steps_per_epoch} steps/epoch, epochs {start_epoch + 1}..{run.epochs}, run folder {run_dir}")
        last = None
        try:
            for epoch in range(start_epoch + 1, run.epochs + 1):
                step = _train_epoch(setup, epoch, step, log, progress)
                setup.scheduler.step()
                if setup.val_loader is not None and (epoch % config.validation.interval == 0 or epoch == run.epochs):
                    means = validate(setup)
                    if log is not None:
                        log.write({"epoch": epoch, "step": step, "split": "val", **means})
                        say(f"epoch {epoch}: validation loss {means['loss']:.4f}, IoU {means['iou']:.3f}")
                if context.is_main:
                    last = save_training_state(run_dir, setup.core, config.model.variant, epoch, step,
                                               setup.optimizer, setup.scheduler, setup.scaler, config,
                                               context.world_size)
                distributed.barrier(context)
        finally:
            if log is not None:
                log.close()
    return TrainResult(run_dir, last, max(start_epoch, run.epochs), step)


def _train_epoch(setup: _Setup, epoch: int, step: int, log: MetricsLog | None, progress: bool) -> int:
    """One epoch of optimisation with interval logging; returns the global step count after it."""
    from tqdm import tqdm

    run, context = setup.config.train, setup.context
    torch.manual_seed(_derived_seed(run.seed, _MODEL_STREAM, epoch, context.rank))
    setup.train_sampler.set_epoch(epoch)
    bar = tqdm(total=setup.steps_per_epoch, desc=f"epoch {epoch}/{run.epochs}", leave=False,
               disable=not (progress and context.is_main), dynamic_ncols=True)
    sums = torch.zeros(len(_TERMS), device=setup.device)
    count = 0
    tick = time.perf_counter()
    for index, batch in enumerate(setup.train_loader, start=1):
        terms = _step(setup, batch)
        step += 1
        sums += _terms_vector(terms, len(batch["search"]))
        count += len(batch["search"])
        bar.update()
        if index % run.log_interval and index != setup.steps_per_epoch:
            continue
        means = _means(sums, count, context)
        elapsed = time.perf_counter() - tick
        if not np.isfinite(means["loss"]):
            raise HitError(
                f"training diverged at epoch {epoch}, step {step} (loss {means['loss']}); lower optim.lr "
                f"or keep optim.grad_clip_norm > 0, then resume from the last checkpoint"
            )
        row = {"epoch": epoch, "step": step, "split": "train", **means, **_learning_rates(setup.optimizer),
               "pairs_per_s": count * context.world_size / elapsed, "elapsed_s": elapsed}
        if log is not None:
            log.write(row)
        bar.set_postfix(loss=f"{means['loss']:.4f}", iou=f"{means['iou']:.3f}", pairs_s=f"{row['pairs_per_s']:.1f}")
        sums.zero_()
        count = 0
        tick = time.perf_counter()
    bar.close()
    return step


def measure_throughput(
    config: TrainingConfig, context: DistributedContext | None = None, steps: int = 50, warmup: int = 10
) -> dict[str, float | int | str]:
    """Training speed in pairs/s over all processes, after ``warmup`` steps.

    ``pairs_per_s``: with the configured data pipeline; ``compute_pairs_per_s``: the same
    steps on one batch kept on the device (the network's limit, independent of data loading).
    Nothing is saved.
    """
    if steps < 1 or warmup < 0:
        raise HitError(f"benchmark needs steps >= 1 and warmup >= 0, got {steps} and {warmup}")
    context = context or DistributedContext()
    config = copy.deepcopy(config)
    config.train.samples_per_epoch = (steps + warmup) * config.train.batch_size * context.world_size
    config.validation.samples = 0
    device = distributed.select_device(config.train.device, context)
    synchronize = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    with distributed.joined(context, device):
        setup = _prepare(config, context, device)
        setup.train_sampler.set_epoch(1)
        batches = iter(setup.train_loader)
        for _ in range(warmup):
            batch = next(batches)
            _step(setup, batch)
        synchronize()
        start = time.perf_counter()
        for _ in range(steps):
            batch = next(batches)
            _step(setup, batch)
        synchronize()
        with_data = time.perf_counter() - start
        resident = {key: value.to(setup.device) for key, value in batch.items()}
        synchronize()
        start = time.perf_counter()
        for _ in range(steps):
            _step(setup, resident)
        synchronize()
        compute = time.perf_counter() - start
    pairs = steps * config.train.batch_size * context.world_size
    return {
        "variant": config.model.variant,
        "device": str(device) if device.type == "cpu" else torch.cuda.get_device_name(device),
        "processes": context.world_size,
        "batch_size": config.train.batch_size,
        "precision": config.optim.precision,
        "steps": steps,
        "pairs_per_s": pairs / with_data,
        "compute_pairs_per_s": pairs / compute,
        "step_ms": 1000.0 * compute / steps,
    }
