"""``asd``: ASD (Duan, Qi, Shi, Gao; "An Adaptor for Triggering Semi-Supervised Learning to
Out-of-Box Serve Deep Image Clustering", arXiv 2509.20976, IEEE TIP 2025), a documented
reconstruction.

Only the abstract (and a secondary review) could be read and no official code exists
(research/asd-simgcd.md §1.0). What the abstract states: (a) randomly sample pseudo-labelled
images from all the unlabelled data; (b) train an instance-level classifier on them with
semantically aligned instance-level labels; (c) track the class transitions of its predictions
on the unlabelled data to obtain high-level similarities of the instance classes, and give the
pseudo-labelled images cluster-level labels from them; a general SSL learner trained on all the
data then clusters. Everything below that the abstract does not say is reconstructed, each
choice a named parameter:

1. Sampling (the review's coverage formula; ``sampling.py``): n_l = the smallest size whose
   uniform draw covers all K classes with probability >= ``coverage`` = 0.99; ``rounds`` disjoint
   draws (resampling "without repeats"). [reconstructed: the number of rounds, see 2]
2. Instance classifier [reconstructed]: a head with n_l outputs, CE on the drawn images' weak
   views (image j of round 0 is instance class j) plus FixMatch consistency over the n_l classes
   on every image (``instance_confidence``, ``instance_lambda_u``). Alignment across rounds
   (``rounds`` > 1): a new draw is matched one-to-one to the instance classes the current
   classifier gives its images (Hungarian on -log p), so an id keeps its meaning;
   ``alignment=argmax`` lets each image inherit its argmax class instead. ``rounds=3``: one
   round collapsed on digits (17-30% ACC, 3 seeds) and Fashion-MNIST (15%), three gave 59-73% on
   digits; on separable synthetic clusters one round is better (docs/methods/asd.md).
3. Transition tracking (the first author's PRG/SoC code; ``transitions.py``): a bank of each
   image's last weak-view argmax, counts of b -> c changes in a ring buffer of ``window`` steps.
4. Similarity and grouping (SoC precedent): S = (A + A^T) / 2 of the windowed counts A, grouped
   into K clusters by SoC's k-medoids (``grouping="spectral"``: spectral clustering of S), with
   ``medoid_restarts`` = 10 seeded restarts where SoC runs its local search once.
   Every drawn image takes its instance class's group as its cluster label.
5. SSL learner: FixMatch (``fixmatch.py``; PRG's defaults: confidence 0.95, lambda_u 1, ratio 7,
   batch 64, SGD lr 0.03 momentum 0.9 wd 5e-4, cosine cos(7 pi k / 16 K), EMA 0.999), on a
   fresh K-way head over every image; the EMA head's argmax is the clustering.

Backbone (``finetune``): ``none`` (default) trains heads over the frozen backbone's cached
weak/strong view features (``views`` weak and ``strong_views`` strong cached draws,
``unic_bench.api.views``). ``last-block`` sends every image of a step through the frozen trunk
and the backbone's trainable last block (``Encoder``, as UNIC): the labelled images and the
unlabelled images' weak view under the dataset's train transform, the unlabelled images' strong
view under the views cache's strong transform (the same + RandAugment,
``ImageAccess.train_strong``), all in one pass through the block. Fresh draws every step
(FixMatch), or with ``train_views=V`` V seeded draws per image of each of the two transforms
whose trunk outputs are cached once (``trunk_cache.py``). ``train_augment=none`` is refused:
FixMatch's weak and strong views are augmentations. Both stages train the block: the instance
stage's rounds carry it on like the head, and the FixMatch stage starts from the **pretrained**
block again (a fresh learner, like its fresh head), so the instance classifier's training
reaches FixMatch only through the pseudo-labels. The FixMatch EMA covers block + head, and the
EMA block and head give the clustering. Each stage and round checkpoints (and resumes) its own
head, block and EMA (exactly with ``train_views``; fresh draws after a resume are other draws).

Deviations: a **pretrained backbone**, frozen or with its last block trained (ASD needs "no
prerequisites" and trains a network from scratch: here the harness's pretrained backbone is the
input, which is a prerequisite); heads instead of a WRN; in frozen mode, augmentation from the
views cache rather than fresh per step; epochs (one pass of the unlabelled images at
``ratio * batch_size`` a step) instead of 2^20 iterations; each stage and round restarts the SGD
momentum; no Nesterov momentum (the shared Trainer's SGD has none).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any, ClassVar, Literal

import numpy as np
import torch
from pydantic import Field
from scipy.optimize import linear_sum_assignment
from torch import nn

from unic_bench.api.component import Task
from unic_bench.api.hookspecs import hookimpl
from unic_bench.api.method import Method
from unic_bench.api.taskdata import Prediction, RunContext, TaskData
from unic_bench.errors import BenchError
from unic_bench.methods.asd.fixmatch import EMAModel, fixmatch_loss
from unic_bench.methods.asd.sampling import coverage_n_l, round_samples
from unic_bench.methods.asd.transitions import Grouping, TransitionTracker, group_classes
from unic_bench.methods.common.heads import HeadKind, build_head
from unic_bench.methods.common.training import Column, Encoder, Trainer, TrainParams, resolve_finetune, seeded
from unic_bench.methods.common.views import ViewParams, cached_views

Alignment = Literal["argmax", "hungarian"]


class ASDParams(TrainParams, ViewParams):
    finetune: Literal["none", "last-block"] = Field(
        "none", description="none: heads on cached views; last-block: images through the trainable last block"
    )
    epochs: int = Field(100, ge=1, description="FixMatch epochs (a pass of the unlabelled images each)")
    batch_size: int = Field(64, ge=1, description="labelled images per step (PRG: 64)")
    lr: float = Field(0.03, gt=0)
    weight_decay: float = Field(5e-4, ge=0)
    optimizer: Literal["adam", "adamw", "sgd"] = "sgd"
    decay_1d: bool = Field(False, description="FixMatch: no weight decay on biases and norms")
    ratio: int = Field(7, ge=1, description="mu: unlabelled images per labelled one in a step")
    confidence: float = Field(0.95, gt=0, le=1, description="FixMatch pseudo-label threshold")
    lambda_u: float = Field(1.0, ge=0)
    ema: float = Field(0.999, ge=0, lt=1, description="EMA decay of the evaluated head")
    head: HeadKind = Field("mlp", description="head of both stages (the paper's learner is a WRN)")
    hidden: int = Field(2048, ge=1)
    coverage: float = Field(0.99, gt=0, lt=1, description="n_l: P(every class drawn) >= coverage")
    n_l: int | None = Field(None, ge=2, description="pseudo-labelled images per round; None = coverage formula")
    rounds: int = Field(3, ge=1, description="disjoint draws of n_l images [reconstructed]")
    instance_epochs: int = Field(30, ge=1, description="instance-classifier epochs per round [reconstructed]")
    instance_confidence: float = Field(0.95, gt=0, le=1, description="consistency threshold over instance classes")
    instance_lambda_u: float = Field(1.0, ge=0)
    window: int = Field(128, ge=1, description="transition ring buffer, steps (PRG N_b = 128)")
    grouping: Grouping = Field("k-medoids", description="k-medoids (SoC) or spectral")
    medoid_max_iter: int = Field(2000, ge=1)
    medoid_restarts: int = Field(10, ge=1, description="k-medoids restarts, best within-group similarity kept (SoC: 1)")
    alignment: Alignment = Field("hungarian", description="a new draw's ids: the classifier's argmax, or hungarian (one-to-one)")
    label_all_rounds: bool = Field(True, description="pseudo-label every round's draw (False: the last round's)")
    views: int = Field(1, ge=1, description="cached weak views per image")
    strong_views: int = Field(1, ge=1, description="cached strong (RandAugment) views per image")


class SSLTuples:
    """Each epoch: every image once as unlabelled (a permutation cut to whole groups of ``ratio``),
    each group with one labelled row drawn uniformly: (n // ratio, 1 + 2 ratio) train rows, the
    labelled row, the unlabelled rows (weak view), the same unlabelled rows again (strong view;
    ``ssl_columns``)."""

    def __init__(self, labelled: np.ndarray, n: int, ratio: int) -> None:
        self.labelled = torch.from_numpy(labelled)
        self.n, self.ratio = n, ratio

    def __call__(self, epoch: int, generator: torch.Generator) -> torch.Tensor:
        groups = max(self.n // self.ratio, 1)
        unlabelled = torch.randperm(self.n, generator=generator, device=generator.device)[: groups * self.ratio]
        pick = torch.randint(len(self.labelled), (groups,), generator=generator, device=generator.device)
        labelled = self.labelled.to(generator.device)[pick]
        unlabelled = unlabelled.view(groups, self.ratio)
        return torch.cat([labelled[:, None], unlabelled, unlabelled], dim=1)


def ssl_columns(ratio: int) -> tuple[Column, ...]:
    """The image set of each ``SSLTuples`` column in last-block mode: train transform for the
    labelled row and the weak views, the strong transform for the strong views."""
    weak: tuple[Column, ...] = ("train",)
    strong: tuple[Column, ...] = ("strong",)
    return weak * (1 + ratio) + strong * ratio


class _FixMatchCosine(Trainer):
    """FixMatch's schedule lr * cos(7 pi k / (16 K)), here per epoch."""

    def __post_init__(self) -> None:
        super().__post_init__()
        p = self.params
        self.lr_schedule = p.lr * np.cos(7 * np.pi * np.arange(p.epochs) / (16 * p.epochs))


class ViewBank:
    """Frozen mode: the cached weak/strong view features; a random draw per image and step."""

    def __init__(self, weak: torch.Tensor, strong: torch.Tensor, generator: Callable[[], torch.Generator]) -> None:
        self.weak, self.strong, self.generator = weak, strong, generator

    def take(self, which: Literal["weak", "strong"], rows: torch.Tensor) -> torch.Tensor:
        views = self.weak if which == "weak" else self.strong
        if len(views) == 1:
            return views[0, rows]
        gen = self.generator()
        draw = torch.randint(len(views), rows.shape, generator=gen, device=gen.device).to(rows.device)
        return views[draw, rows]


class ASD(Method[ASDParams]):
    name = "asd"
    display_name = "ASD"
    description = "Random pseudo-labels, instance classifier, class-transition grouping, then FixMatch (reconstruction)"
    paper = "Duan et al., IEEE TIP 2025 (arXiv 2509.20976); reconstructed from the abstract"
    tasks: ClassVar[frozenset[Task]] = frozenset({"clustering"})
    Params = ASDParams
    model_selection = "last epoch of the FixMatch stage, its EMA model (label-free)"

    @classmethod
    def defaults_for(cls, dataset: str, task: Task) -> dict[str, Any]:
        """Digits (the CPU demo; not a paper dataset): un-augmented views (a 1-pixel shift of an 8x8
        digit is a different image to a pixel-space head) and hidden 256 (docs/methods/asd.md)."""
        return {"augment": False, "hidden": 256} if dataset == "digits" else {}

    def fit_predict(self, data: TaskData, ctx: RunContext) -> Prediction:
        p = self.params
        n, k = len(data.train), data.num_classes
        n_l = min(p.n_l or coverage_n_l(k, n, p.coverage), n)
        if n_l < k:
            raise BenchError(f"asd: n_l={n_l} pseudo-labelled images cannot form {k} clusters (valid: n_l >= {k})")
        mode = resolve_finetune(p.finetune, data)
        if mode == "last-block" and p.train_augment == "none":
            raise BenchError(
                "asd: finetune=last-block needs train_augment=paper: FixMatch's weak and strong views are augmentations (got none)"
            )
        draws = round_samples(n, n_l, p.rounds, ctx.seed)
        encoder = Encoder(data, mode, ctx.device, p.workers, columns=ssl_columns(p.ratio))
        generator: list[torch.Generator] = []  # the running stage's trainer generator
        bank, views_note = _view_bank(data, p, ctx.device, mode, lambda: generator[0])

        instance_of, groups, tracker = self._instance_stage(data, p, ctx, encoder, bank, draws, generator)
        cluster_of = np.full(n, -1, dtype=np.int64)
        for r, rows in enumerate(draws):
            if p.label_all_rounds or r == len(draws) - 1:
                cluster_of[rows] = groups[instance_of[r]]
        labelled = np.flatnonzero(cluster_of >= 0)

        encoder.restart_tail()  # FixMatch is a fresh learner: the pretrained block, not the instance stage's
        with seeded(ctx.seed + 1):
            head = build_head(p.head, data.train.features.shape[1], k, p.hidden)
        learner = head if encoder.tail is None else nn.ModuleDict({"tail": encoder.tail, "head": head})
        ema = EMAModel(learner, p.ema)  # FixMatch evaluates the EMA of the whole trained model
        targets = torch.from_numpy(cluster_of).to(ctx.device)
        sub = _stage_context(ctx, "fixmatch")
        trainer = _FixMatchCosine(
            encoder, {"head": head}, p, sub, followers={"ema": ema}, after_step=lambda step: ema.follow(learner)
        )
        generator[:] = [trainer.generator]

        def objective(rows: torch.Tensor, embeddings: torch.Tensor) -> dict[str, torch.Tensor]:
            lab, _, logits_l, logits_w, logits_s = _ssl_logits(head, rows, embeddings, bank, p.ratio)
            return fixmatch_loss(logits_l, targets[lab], logits_w, logits_s, p.confidence, p.lambda_u)

        trainer.fit(SSLTuples(labelled, n, p.ratio), objective)
        _merge_log(ctx, sub, stage=2)
        evaluated = ema.model
        if isinstance(evaluated, nn.ModuleDict):  # last-block: the EMA block under the EMA head
            labels, confidence, train_assignments = encoder.assign(evaluated["head"], tail=evaluated["tail"])
        else:
            labels, confidence, train_assignments = encoder.assign(ema)
        return Prediction(
            labels=labels,
            train_assignments=train_assignments,
            confidence=confidence,
            diagnostics={
                "n_l": int(n_l),
                "rounds": len(draws),
                "pseudo_labelled": int(len(labelled)),
                "groups_used": int(len(np.unique(groups))),
                "transitions_in_window": float(tracker.transitions().sum()),
                "finetune": mode,
                "views": views_note,
                "clusters_used": int(len(np.unique(labels))),
            },
            report=_pseudo_label_report(cluster_of),
        )

    def _instance_stage(
        self,
        data: TaskData,
        p: ASDParams,
        ctx: RunContext,
        encoder: Encoder,
        bank: ViewBank | None,
        draws: list[np.ndarray],
        generator: list[torch.Generator],
    ) -> tuple[list[np.ndarray], np.ndarray, TransitionTracker]:
        """Train the instance classifier round by round, tracking its transitions; returns each
        round's instance ids (aligned), the instance class -> group map, and the tracker."""
        n, n_l = len(data.train), len(draws[0])
        with seeded(ctx.seed):
            head = build_head(p.head, data.train.features.shape[1], n_l, p.hidden)
        tracker = TransitionTracker(n, n_l, p.window)
        instance_params = p.model_copy(update={"epochs": p.instance_epochs})
        instance_of: list[np.ndarray] = []
        targets = torch.full((n,), -1, dtype=torch.long, device=ctx.device)

        def objective(rows: torch.Tensor, embeddings: torch.Tensor) -> dict[str, torch.Tensor]:
            lab, unl, logits_l, logits_w, logits_s = _ssl_logits(head, rows, embeddings, bank, p.ratio)
            tracker.update(unl, logits_w.detach().argmax(1))
            return fixmatch_loss(logits_l, targets[lab], logits_w, logits_s, p.instance_confidence, p.instance_lambda_u)

        for r, rows in enumerate(draws):
            head.to(ctx.device)
            if r == 0:
                ids = np.arange(n_l)
            else:  # frozen: the draw's first cached weak view; last-block: its images through the current block
                drawn = encoder.embed("train", rows=rows) if bank is None else bank.weak[0, torch.from_numpy(rows).to(ctx.device)]
                ids = _aligned_ids(head, drawn, p.alignment)
            instance_of.append(ids)
            targets.fill_(-1)
            targets[torch.from_numpy(rows).to(ctx.device)] = torch.from_numpy(ids).to(ctx.device)
            sub = _stage_context(ctx, f"instance-round{r}")
            trainer = _FixMatchCosine(encoder, {"head": head}, instance_params, sub, followers={"tracker": tracker})
            generator[:] = [trainer.generator]
            trainer.fit(SSLTuples(rows, n, p.ratio), objective)
            _merge_log(ctx, sub, stage=1, round_=r)
        groups = group_classes(
            tracker.transitions(), data.num_classes, p.grouping, ctx.seed, p.medoid_max_iter, p.medoid_restarts
        )
        return instance_of, groups, tracker


def _view_bank(
    data: TaskData, p: ASDParams, device: str, mode: Literal["none", "last-block"], generator: Callable[[], torch.Generator]
) -> tuple[ViewBank | None, str]:
    """Frozen mode: the cached weak/strong views (extracted on first use); last-block: none (the
    images go through the block), and what the views are, for the diagnostics."""
    if mode == "last-block":
        draws = "fresh every step" if p.train_views is None else f"{p.train_views} cached trunk outputs per image each"
        return None, f"last-block: weak = the train transform, strong = + RandAugment; {draws}"
    weak, weak_note = cached_views(data, "weak", p.views, p, device)
    strong, strong_note = cached_views(data, "strong", p.strong_views, p, device)
    return ViewBank(weak, strong, generator), f"weak: {weak_note}; strong: {strong_note}"


def _ssl_logits(
    head: nn.Module, rows: torch.Tensor, embeddings: torch.Tensor, bank: ViewBank | None, ratio: int
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """(labelled rows, unlabelled rows, logits of the labelled, weak and strong views) of a batch of
    ``SSLTuples``, in one pass through the head: from the cached views (frozen) or from the
    embeddings of the tuple columns through the block (last-block)."""
    lab, unl = rows[:, 0], rows[:, 1 : 1 + ratio].reshape(-1)
    if bank is None:
        views = [embeddings[:, 0], embeddings[:, 1 : 1 + ratio].flatten(0, 1), embeddings[:, 1 + ratio :].flatten(0, 1)]
    else:
        views = [bank.take("weak", lab), bank.take("weak", unl), bank.take("strong", unl)]
    logits_l, logits_w, logits_s = head(torch.cat(views)).split([len(lab), len(unl), len(unl)])
    return lab, unl, logits_l, logits_w, logits_s


@torch.no_grad()
def _aligned_ids(head: nn.Module, features: torch.Tensor, alignment: Alignment) -> np.ndarray:
    """A new draw's instance ids: the class the current classifier gives each image (``argmax``),
    or a one-to-one match of images to classes (``hungarian`` on -log p)."""
    head.eval()
    log_p = torch.log_softmax(head(features).float(), dim=1).cpu().numpy()
    head.train()
    if alignment == "argmax":
        return log_p.argmax(1).astype(np.int64)
    rows, cols = linear_sum_assignment(-log_p)
    ids = np.empty(len(rows), dtype=np.int64)
    ids[rows] = cols
    return ids


def _stage_context(ctx: RunContext, name: str) -> RunContext:
    """A stage's own checkpoint folder and log (each stage resumes on its own)."""
    folder = None if ctx.checkpoint_dir is None else ctx.checkpoint_dir / name
    return dataclasses.replace(ctx, checkpoint_dir=folder, log=[])


def _merge_log(ctx: RunContext, sub: RunContext, stage: int, round_: int = 0) -> None:
    """A stage's epochs join the run's log; a stage that resumed marks the run as resumed (the
    record's ``resumed_from_epoch``: the epochs the last resumed stage had done)."""
    ctx.log.extend({**entry, "stage": float(stage), "round": float(round_)} for entry in sub.log)
    if sub.resumed_from_epoch is not None:
        ctx.resumed_from_epoch = sub.resumed_from_epoch


def _pseudo_label_report(cluster_of: np.ndarray) -> Callable[[np.ndarray], dict[str, float]]:
    """Accuracy of the cluster-level pseudo-labels against the truth (Hungarian), reporting only."""

    def report(truth: np.ndarray) -> dict[str, float]:
        from unic_bench.run.metrics import cluster_acc

        known = cluster_of >= 0
        return {"pseudo_label_acc": float(cluster_acc(truth[known], cluster_of[known]))}

    return report


@hookimpl
def register_methods(register: Callable[[type], None]) -> None:
    register(ASD)
