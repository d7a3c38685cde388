"""Shared training machinery for methods that learn a clustering head: UNIC, SCAN, TEMI.

A method supplies three things: which dataset rows go together in a training example (an
``(n, m)`` array of train-row tuples per epoch, e.g. anchor/positive/negative), its own
trainable parts (heads) by name, and an objective mapping a batch of embeddings ``(B, m, D)`` to
named loss terms. This module does the rest the same way for every method:

- ``finetune=none``: the head trains on the cached frozen features, already on the device
  (fast on CPU; no image is decoded).
- ``finetune=last-block``: images (the dataset's train transform) go through the backbone's
  frozen trunk under ``no_grad`` and its trainable tail (``Backbone.trainable_tail``), with
  autocast on CUDA, pinned memory and persistent workers. When the train images are fixed
  (``train_augment=none`` or ``train_views=V``) the trunk's outputs are cached once and epochs
  run only the tail (``trunk_cache.py``). A method may take each tuple column from its own
  image set (``columns``: FixMatch's unlabelled images once weak, once ``strong``); each set has
  its own trunk cache, and every column of a batch goes through the tail in one pass.
- Adam/AdamW/SGD; lr and weight decay precomputed as arrays in facebookresearch/dino's
  ``cosine_scheduler`` form (linear warm-up, then cosine or constant), indexed per epoch or per
  step as the method's official code does; optional DINO-style parameter groups (no weight
  decay on biases and 1-d parameters).
- A per-epoch log of every loss term, a one-line stop when a term is not finite (dino's
  ``math.isfinite`` check, on the per-epoch sums so it costs no extra host sync), and a
  checkpoint of every named module after every epoch that a rerun resumes from.
"""

from __future__ import annotations

import math
import os
import pickle
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
from pydantic import Field
from torch import nn
from torch.utils.data import DataLoader, Dataset, Sampler, Subset

from unic_bench.api.taskdata import Progress, RunContext, TaskData, no_progress
from unic_bench.atomic import atomic_write
from unic_bench.errors import BenchError
from unic_bench.methods.common.probe import kmeans_probe
from unic_bench.methods.common.trunk_cache import (
    TrainInputParams,
    TrunkCache,
    build_trunk_cache,
    describe_images,
    trunk_cache_key,
)

Finetune = Literal["auto", "none", "last-block"]
# The images of a tuple column in last-block mode: ``train`` = the train images ``train_augment``
# names (the dataset's train transform, or none); ``strong`` = ``ImageAccess.train_strong`` (the
# train transform + RandAugment, the views cache's strong view).
Column = Literal["train", "strong"]
STRONG_SEED_OFFSET = 1  # cached strong draws are seeded apart from the train images' draws
CHECKPOINT_NAME = "training.pt"


class TrainParams(TrainInputParams):
    """Optimisation settings every trained method shares; each method sets its paper's defaults."""

    finetune: Finetune = Field("auto", description="auto = last-block when the backbone has blocks, else none")
    epochs: int = Field(100, ge=1)
    batch_size: int = Field(128, ge=1)
    lr: float = Field(1e-4, gt=0)
    weight_decay: float = Field(0.0, ge=0)
    optimizer: Literal["adam", "adamw", "sgd"] = "adam"
    momentum: float = Field(0.9, ge=0, lt=1, description="SGD momentum (ignored by Adam/AdamW)")
    schedule: Literal["cosine", "constant"] = Field("cosine", description="lr after the warm-up: cosine to 0, or constant")
    warmup_epochs: int = Field(0, ge=0, description="linear warm-up from 0 before the schedule (dino's cosine_scheduler)")
    decay_1d: bool = Field(True, description="False = no weight decay on biases and 1-d parameters (DINO/TEMI param groups)")
    workers: int = Field(4, ge=0, description="DataLoader workers when images are decoded (last-block)")
    probe_every: int = Field(0, ge=0, description="kMeans probe on the train embeddings every N epochs (Fig. 6); 0 = off")


def resolve_finetune(mode: Finetune, data: TaskData) -> Literal["none", "last-block"]:
    """``auto`` finetunes the last block whenever the backbone has one (the UNIC/SCAN-ViT setting)."""
    can = data.images is not None and data.images.backbone.finetunable
    if mode == "auto":
        return "last-block" if can else "none"
    if mode == "last-block" and not can:
        name = data.images.backbone.name if data.images is not None else "identity"
        raise BenchError(f"finetune=last-block needs a backbone with blocks; '{name}' has none (valid: auto, none)")
    return mode


@contextmanager
def seeded(seed: int) -> Iterator[None]:
    """Initialise modules from ``seed`` without disturbing the global RNG (a method's result then
    depends on ``ctx.seed`` alone, also when called outside the protocol)."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        yield


def autocast(device: str) -> torch.autocast:
    """bf16 autocast on CUDA (no loss scaling needed); a no-op on the CPU."""
    return torch.autocast(device_type="cuda", dtype=torch.bfloat16, enabled=device.startswith("cuda"))


class _TupleImages(Dataset):
    """``dataset[(i, j, k)]`` = the images of train rows i, j, k stacked: ``(m, C, H, W)``;
    column c from ``sources[c]`` (a single source serves every column)."""

    def __init__(self, sources: list[Dataset]) -> None:
        self.sources = sources

    def __len__(self) -> int:
        return len(self.sources[0])  # type: ignore[arg-type]  # torch's Dataset declares no __len__; image splits have one

    def __getitem__(self, rows: tuple[int, ...]) -> torch.Tensor:
        if len(self.sources) == 1:
            return torch.stack([self.sources[0][row] for row in rows])
        return torch.stack([source[row] for source, row in zip(self.sources, rows, strict=True)])


class _EpochBatches(Sampler[list[tuple[int, ...]]]):
    """Batches of the current epoch's tuples. It lives in the main process, so one DataLoader
    with persistent workers serves every epoch although the tuples change each epoch."""

    def __init__(self, batch_size: int) -> None:
        self.batch_size = batch_size
        self.tuples = np.zeros((0, 1), dtype=np.int64)

    def __len__(self) -> int:
        return -(-len(self.tuples) // self.batch_size)

    def __iter__(self) -> Iterator[list[tuple[int, ...]]]:
        for start in range(0, len(self.tuples), self.batch_size):
            yield [tuple(map(int, row)) for row in self.tuples[start : start + self.batch_size]]


class Encoder(nn.Module):
    """Train rows -> the embeddings a head sees, frozen or through the trainable last block.

    ``frozen``: the cached features (moved to the device once). ``last-block``: the backbone's
    frozen trunk (no_grad) and trainable tail. ``embed(which)`` gives the embeddings used for
    prediction (``train`` or ``eval`` rows, the feature-extraction transform). ``columns`` names
    the image set of each tuple column in last-block mode (None: every column from ``train``).
    """

    def __init__(
        self,
        data: TaskData,
        mode: Literal["none", "last-block"],
        device: str,
        workers: int = 4,
        columns: tuple[Column, ...] | None = None,
    ) -> None:
        super().__init__()
        self.data, self.mode, self.device, self.workers, self.columns = data, mode, device, workers, columns
        self.train_features = data.train.features.to(device, non_blocking=True)
        self.trunk: nn.Module | None = None
        self.tail: nn.Module | None = None
        self._epoch_batches: _EpochBatches | None = None
        self._epoch_loader: DataLoader | None = None
        self.inputs = TrainInputParams()
        self._seed = 0
        self._progress: Progress = no_progress
        self._caches: dict[Column, TrunkCache] = {}
        self._pretrained_tail: dict[str, torch.Tensor] = {}
        if mode == "last-block":
            assert data.images is not None
            backbone = data.images.backbone
            split = backbone.trainable_tail(backbone.build(), n=1)
            self.trunk, self.tail = split.trunk.to(device).eval(), split.tail.to(device)
            self._pretrained_tail = {name: value.detach().to("cpu", copy=True) for name, value in self.tail.state_dict().items()}

    def _loader(self, dataset: Dataset, **batching: Any) -> DataLoader:
        workers = min(self.workers, os.cpu_count() or 1)
        persistent = workers > 0 and "batch_sampler" in batching  # the training loader is reused every epoch
        return DataLoader(
            dataset, num_workers=workers, pin_memory=self.device.startswith("cuda"), persistent_workers=persistent, **batching
        )

    def use_inputs(self, inputs: TrainInputParams, ctx: RunContext) -> None:
        """Train on the images ``inputs`` name (augmented or not, cached views); seed and progress from ``ctx``."""
        inputs.cached_views()  # validates the combination before any work
        if self.mode == "last-block" and "strong" in (self.columns or ()):
            if inputs.train_augment == "none":
                raise BenchError("strong views are the train transform + RandAugment: they need train_augment=paper; got none")
            if self.data.images is None or self.data.images.train_strong is None:
                raise BenchError("strong views: this dataset's train images cannot be given the strong transform")
        self.inputs, self._seed, self._progress = inputs, ctx.seed, ctx.progress

    def restart_tail(self) -> None:
        """Put the backbone's pretrained tail back (a method stage that must not start from what an
        earlier stage trained); the trunk caches stay, they do not depend on the tail."""
        if self.tail is not None:
            self.tail.load_state_dict(self._pretrained_tail)

    def _trunk(self, images: torch.Tensor) -> torch.Tensor:
        """Frozen trunk outputs of a batch of images, on the device (channels-last and autocast on CUDA)."""
        assert self.trunk is not None
        images = images.to(self.device, non_blocking=True)
        if self.device.startswith("cuda") and images.ndim == 4:
            images = images.contiguous(memory_format=torch.channels_last)
        with autocast(self.device), torch.no_grad():
            return self.trunk(images)

    def _tail(self, hidden: torch.Tensor, tail: nn.Module | None = None) -> torch.Tensor:
        tail = self.tail if tail is None else tail
        assert tail is not None
        with autocast(self.device):
            return tail(hidden).float()

    def _through_tail(self, images: torch.Tensor, tail: nn.Module | None = None) -> torch.Tensor:
        return self._tail(self._trunk(images), tail)

    def _train_images(self, column: Column = "train") -> Dataset:
        assert self.data.images is not None
        if column == "strong":
            assert self.data.images.train_strong is not None, "checked by use_inputs"
            return self.data.images.train_strong
        return self.data.images.train if self.inputs.train_augment == "none" else self.data.images.train_augmented

    def _column_sources(self, m: int) -> tuple[Column, ...]:
        if self.columns is None:
            every: tuple[Column, ...] = ("train",)
            return every * m
        if len(self.columns) != m:
            raise ValueError(f"tuples of {m} rows for {len(self.columns)} columns {self.columns}")
        return self.columns

    def trunk_cache(self, column: Column = "train") -> TrunkCache | None:
        """The trunk outputs of one image set, built on first use; None when epochs need fresh images."""
        views = self.inputs.cached_views() if self.mode == "last-block" else None
        if views is None or column in self._caches:
            return self._caches.get(column)
        assert self.data.images is not None
        images = self._train_images(column)
        augmented = describe_images(images) if self.inputs.train_augment == "paper" else None
        seed = self._seed + (STRONG_SEED_OFFSET if column == "strong" else 0)
        workers = min(self.workers, os.cpu_count() or 1)
        key = trunk_cache_key(self.data.images.backbone.identity(), self.data.train.features, views, augmented, seed, workers)
        fraction = self.inputs.trunk_cache_gpu_fraction
        self._caches[column] = build_trunk_cache(
            self._trunk, images, views, key, self.device, fraction, workers=workers, seed=seed, progress=self._progress
        )
        return self._caches[column]

    def _gather(self, rows: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        """Cached trunk outputs of a batch of tuples ``(B, m)``, each column from its image set,
        flattened to ``(B * m, ...)`` in row order."""
        sources = self._column_sources(rows.shape[1])
        out: torch.Tensor | None = None
        for column in dict.fromkeys(sources):
            cache = self.trunk_cache(column)
            assert cache is not None, "gathering needs cached views"
            picked = [c for c, source in enumerate(sources) if source == column]
            hidden = cache.gather(rows[:, picked], generator)
            if len(picked) == len(sources):
                return hidden
            if out is None:
                out = hidden.new_empty((*rows.shape, *hidden.shape[1:]))
            out[:, picked] = hidden.view(len(rows), len(picked), *hidden.shape[1:])
        assert out is not None
        return out.flatten(0, 1)

    def batches(
        self, tuples: torch.Tensor, batch_size: int, generator: torch.Generator
    ) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """Shuffled batches of one epoch: ``(rows (B, m) on the device, embeddings (B, m, D))``."""
        tuples = tuples.to(generator.device)
        tuples = tuples[torch.randperm(len(tuples), generator=generator, device=generator.device)].to(self.device)
        if self.mode == "none":
            for rows in tuples.split(batch_size):
                yield rows, self.train_features[rows]
            return
        if self.inputs.cached_views() is not None:
            for rows in tuples.split(batch_size):
                yield rows, self._tail(self._gather(rows, generator)).view(*rows.shape, -1)
            return
        if self._epoch_batches is None or self._epoch_batches.batch_size != batch_size:
            self._epoch_batches = _EpochBatches(batch_size)
            sources = [self._train_images()] if self.columns is None else [self._train_images(c) for c in self.columns]
            self._epoch_loader = self._loader(_TupleImages(sources), batch_sampler=self._epoch_batches)
        assert self._epoch_loader is not None
        self._epoch_batches.tuples = tuples.cpu().numpy()  # the loader's workers index images on the host
        for rows, images in zip(tuples.split(batch_size), self._epoch_loader):
            b, m = images.shape[:2]
            yield rows, self._through_tail(images.flatten(0, 1)).view(b, m, -1)

    @torch.no_grad()
    def embed(
        self,
        which: Literal["train", "eval"],
        batch_size: int = 256,
        rows: np.ndarray | None = None,
        tail: nn.Module | None = None,
    ) -> torch.Tensor:
        """Embeddings of all ``train`` or ``eval`` rows (or of ``rows`` only), on the device (no
        augmentation); through ``tail`` when given (e.g. an EMA copy), else the encoder's own."""
        if self.mode == "none":
            features = self.train_features if which == "train" else self.data.eval.features.to(self.device, non_blocking=True)
            return features if rows is None else features[torch.from_numpy(rows).to(features.device)]
        tail = self.tail if tail is None else tail
        assert self.data.images is not None and tail is not None
        was_training = tail.training
        tail.eval()
        cache = self._caches.get("train")
        if which == "train" and cache is not None and self.inputs.train_augment == "none":  # the same trunk outputs
            index = torch.arange(cache.n) if rows is None else torch.from_numpy(rows)
            out = torch.cat([self._tail(cache.gather(chunk), tail) for chunk in index.split(batch_size)])
        else:
            images = self.data.images.train if which == "train" else self.data.images.eval
            if rows is not None:
                images = Subset(images, rows.tolist())
            out = torch.cat([self._through_tail(batch, tail) for batch in self._loader(images, batch_size=batch_size)])
        tail.train(was_training)
        return out

    @torch.no_grad()
    def assign(
        self, head: nn.Module, temperature: float = 1.0, tail: nn.Module | None = None
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(eval clusters, eval confidence, train clusters): argmax of ``head``'s logits (over
        ``tail``'s embeddings when given), and the eval rows' max softmax probability at the
        method's ``temperature`` (the cluster-grid figure ranks images by it)."""
        probs = torch.softmax(head(self.embed("eval", tail=tail)).float() / temperature, dim=1)
        confidence, labels = probs.max(1)
        train = head(self.embed("train", tail=tail)).argmax(1)
        return labels.cpu().numpy(), confidence.cpu().numpy(), train.cpu().numpy()

    def trainable(self) -> list[nn.Parameter]:
        return [] if self.tail is None else [p for p in self.tail.parameters() if p.requires_grad]


Objective = Callable[[torch.Tensor, torch.Tensor], dict[str, torch.Tensor]]  # (rows, embeddings) -> {"loss": ..., terms}
EpochTuples = Callable[[int, torch.Generator], torch.Tensor]  # (epoch, generator) -> (n, m) train rows


def cosine_schedule(
    base: float, final: float, epochs: int, steps_per_epoch: int = 1, warmup_epochs: int = 0, start_warmup: float = 0.0
) -> np.ndarray:
    """One value per step: a linear warm-up from ``start_warmup`` to ``base`` over ``warmup_epochs``,
    then cosine from ``base`` to ``final`` over the remaining steps (``final == base``: constant).

    The formula of facebookresearch/dino ``utils.cosine_scheduler``, which TEMI's train_main.py
    uses for its lr, weight decay and teacher momentum; with ``steps_per_epoch=1`` it is a
    per-epoch schedule.
    """
    warmup_steps = warmup_epochs * steps_per_epoch
    warmup = np.linspace(start_warmup, base, warmup_steps) if warmup_steps > 0 else np.zeros(0)
    steps = np.arange(epochs * steps_per_epoch - warmup_steps)
    cosine = final + 0.5 * (base - final) * (1 + np.cos(np.pi * steps / max(len(steps), 1)))
    return np.concatenate((warmup, cosine))


@dataclass
class Trainer:
    """One training run: optimiser, precomputed schedules, per-epoch log, checkpoint and resume.

    ``trained`` are the method's own trainable parts (heads) by name; the encoder's tail joins
    them (as ``tail``) in last-block mode. ``followers`` are checkpointed but not optimised (TEMI's
    EMA teacher). ``after_step(it)`` runs after optimiser step ``it`` (0-based, global).

    ``steps_per_epoch``: None = lr and weight decay change once per epoch (UNIC; SCAN's
    configs); a count = once per optimiser step (dino's ``lr_schedule[it]``, TEMI's train_main.py),
    which the epoch's tuples must then yield exactly.
    """

    encoder: Encoder
    trained: dict[str, nn.Module]
    params: TrainParams
    ctx: RunContext
    followers: dict[str, nn.Module] = field(default_factory=dict)
    after_step: Callable[[int], None] | None = None
    steps_per_epoch: int | None = None

    def __post_init__(self) -> None:
        names = [*self.trained, *self._tail(), *self.followers]
        assert len(names) == len(set(names)), f"module names used twice: {names}"
        for module in self.modules().values():
            module.to(self.encoder.device)
        self.encoder.use_inputs(self.params, self.ctx)
        self.optimizer, self.decays = self._optimizer()
        p = self.params
        per_epoch = self.steps_per_epoch or 1
        final_lr = p.lr if p.schedule == "constant" else 0.0
        self.lr_schedule = cosine_schedule(p.lr, final_lr, p.epochs, per_epoch, p.warmup_epochs)
        self.wd_schedule = np.full(p.epochs * per_epoch, p.weight_decay)  # constant in every official config
        self.generator = torch.Generator(self.encoder.device).manual_seed(self.ctx.seed)  # shuffles and tuple draws
        self.step = 0
        self.on_epoch_end = kmeans_probe(self.encoder, self.ctx, self.params.probe_every, self.params.epochs)

    def _tail(self) -> dict[str, nn.Module]:
        return {} if self.encoder.tail is None else {"tail": self.encoder.tail}

    def modules(self) -> dict[str, nn.Module]:
        """Every checkpointed module by name: trained parts, the encoder's tail, followers."""
        return {**self.trained, **self._tail(), **self.followers}

    def _optimizer(self) -> tuple[torch.optim.Optimizer, list[bool]]:
        """The optimiser and, per parameter group, whether it takes weight decay."""
        p = self.params
        optimised = {**self.trained, **self._tail()}.values()
        named = [(n, q) for module in optimised for n, q in module.named_parameters() if q.requires_grad]
        if p.decay_1d:
            split: list[tuple[dict[str, Any], bool]] = [({"params": [q for _, q in named]}, True)]
        else:  # facebookresearch/dino utils.get_params_groups (TEMI's train_main.py uses it)
            flat = [n.endswith(".bias") or q.ndim == 1 for n, q in named]
            split = [
                ({"params": [q for (_, q), f in zip(named, flat) if not f]}, True),
                ({"params": [q for (_, q), f in zip(named, flat) if f], "weight_decay": 0.0}, False),
            ]
        groups, decays = [g for g, _ in split if g["params"]], [d for g, d in split if g["params"]]
        if p.optimizer == "sgd":
            return torch.optim.SGD(groups, lr=p.lr, momentum=p.momentum, weight_decay=p.weight_decay), decays
        optimiser = torch.optim.AdamW if p.optimizer == "adamw" else torch.optim.Adam
        return optimiser(groups, lr=p.lr, weight_decay=p.weight_decay), decays

    def _set_rates(self, index: int) -> None:
        for group, decays in zip(self.optimizer.param_groups, self.decays):
            group["lr"] = float(self.lr_schedule[index])
            if decays:
                group["weight_decay"] = float(self.wd_schedule[index])

    def fit(self, epoch_tuples: EpochTuples, objective: Objective) -> None:
        start = self._resume()
        for module in self.trained.values():
            module.train()
        for epoch in self.ctx.progress(range(start, self.params.epochs), "epochs", self.params.epochs - start):
            if self.steps_per_epoch is None:
                self._set_rates(epoch)
            tuples = epoch_tuples(epoch, self.generator)
            steps = -(-len(tuples) // self.params.batch_size)
            if self.steps_per_epoch is not None and steps != self.steps_per_epoch:
                raise RuntimeError(f"epoch {epoch} has {steps} steps, the per-step schedule {self.steps_per_epoch}")
            sums: dict[str, torch.Tensor] = {}  # on the device: one host sync per epoch, not per step
            count = 0
            for rows, embeddings in self.encoder.batches(tuples, self.params.batch_size, self.generator):
                if self.steps_per_epoch is not None:
                    self._set_rates(self.step)
                with autocast(self.encoder.device):
                    terms = objective(rows, embeddings)
                self.optimizer.zero_grad(set_to_none=True)
                terms["loss"].backward()
                self.optimizer.step()
                if self.after_step is not None:
                    self.after_step(self.step)
                self.step += 1
                n = len(rows)
                count += n
                for name, value in terms.items():
                    sums[name] = sums.get(name, 0) + value.detach().float() * n
            means = {name: float(total) / max(count, 1) for name, total in sums.items()}
            self._stop_if_not_finite(epoch, means)
            probed = self.on_epoch_end(epoch) if self.on_epoch_end is not None else {}
            self.ctx.log_epoch(epoch, lr=self.optimizer.param_groups[0]["lr"], **means, **probed)
            self._save(epoch + 1)
        for module in self.trained.values():
            module.eval()

    def _stop_if_not_finite(self, epoch: int, means: dict[str, float]) -> None:
        """dino's ``if not math.isfinite(loss)`` stop, on the epoch means (already synced once per
        epoch); the checkpoint of the last finite epoch is kept."""
        bad = [name for name, value in means.items() if not math.isfinite(value)]
        if bad:
            terms = ", ".join(f"'{name}' = {means[name]}" for name in bad)
            raise BenchError(
                f"training stopped: loss term {terms} is not finite in epoch {epoch + 1}/{self.params.epochs}"
                " (try a lower lr; the checkpoint of the previous epoch is kept)"
            )

    # -- checkpoint / resume -------------------------------------------------------------------

    def _path(self) -> Path | None:
        return None if self.ctx.checkpoint_dir is None else Path(self.ctx.checkpoint_dir) / CHECKPOINT_NAME

    def _state(self, epochs_done: int) -> dict[str, Any]:
        return {
            "epochs_done": epochs_done,
            "step": self.step,
            "modules": {name: module.state_dict() for name, module in self.modules().items()},
            "optimizer": self.optimizer.state_dict(),
            "generator": self.generator.get_state(),
            "log": list(self.ctx.log),
        }

    def _save(self, epochs_done: int) -> None:
        path = self._path()
        if path is None:
            return
        state = self._state(epochs_done)
        # temp file + rename: a crash, a full disk or a SIGTERM mid-write leaves the previous
        # epoch's checkpoint intact and no temp file
        atomic_write(path, lambda fh: torch.save(state, fh))

    def _resume(self) -> int:
        """Epochs already done, restoring everything from the checkpoint when one exists."""
        path = self._path()
        if path is None or not path.exists():
            return 0
        try:
            state = torch.load(path, map_location=self.encoder.device, weights_only=True)
            saved = state["modules"]
            missing = sorted(set(self.modules()) ^ set(saved))
            if missing:
                raise KeyError(f"modules {missing} differ between the checkpoint and this run")
            for name, module in self.modules().items():
                module.load_state_dict(saved[name])
            self.optimizer.load_state_dict(state["optimizer"])
            self.generator.set_state(state["generator"].cpu())  # generator states are CPU byte tensors
        except (OSError, RuntimeError, KeyError, IndexError, EOFError, ValueError, pickle.UnpicklingError) as err:
            reason = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
            raise BenchError(f"checkpoint '{path}' cannot be resumed ({reason}); delete it to start over") from None
        self.step = int(state["step"])
        self.ctx.log[:] = state["log"]
        done = int(state["epochs_done"])
        self.ctx.resumed_from_epoch = done
        print(f"unic-bench: resuming from checkpoint '{path}' ({done} of {self.params.epochs} epochs done)", file=sys.stderr)
        return done
