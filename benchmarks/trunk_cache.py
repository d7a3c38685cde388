"""UNIC last-block epochs with the trunk-output cache vs without, side by side in one run.

    python benchmarks/trunk_cache.py                        # Lite0 at 112 px, 5,000 Fashion-MNIST images, CPU
    python benchmarks/trunk_cache.py --n 1000 --epochs 2    # a quick look
    python benchmarks/trunk_cache.py --tuples 640 --reuse-cache   # a loaded machine: 5 steps an epoch

``--tuples T`` trains each epoch on the tuples of the first T anchors only (the same ones in both
runs) and scales the epoch times by N / T: the per-step cost is what differs between the paths,
and a loaded 2-core machine cannot afford full uncached epochs. ``--reuse-cache`` takes the trunk
cache from its usual place (``$UNIC_BENCH_TRUNK_CACHE`` or ``~/.cache/unic-bench/trunk``) when a run
of the same configuration stored it, so the first cached epoch then loads instead of building.

Both runs train UNIC's real objective (mined tuples, MLP head, Adam) with ``finetune=last-block``
and ``train_augment=none`` from the same seed: ``trunk_cache=off`` pushes the 3 N images of an
epoch through the frozen trunk and the tail; ``trunk_cache=auto`` builds the trunk outputs once
(in its first epoch) and then runs only the tail. Prints per-epoch seconds, the speed-up of the
epochs after the first (target >= 5x) and both loss trajectories (target: equal within float
tolerance, since the inputs of every step are the same; the lr is constant, so that the cached run's
extra epoch leaves the schedule of the others alone). The trunk cache is written to a
temporary folder so that a stored entry is not reused; the features for mining come from the
shared feature cache.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from typing import Any, Literal

import torch


def make_data(n: int, img_size: int, device: str) -> Any:
    from unic_bench.backbones.efficientnet import EfficientNetLite0
    from unic_bench.datasets.fashion_mnist import FashionMnist
    from unic_bench.run.features import cached_features
    from unic_bench.run.protocol import task_inputs
    from unic_bench.run.spec import RunSpec

    backbone = EfficientNetLite0(img_size=img_size)
    dataset = FashionMnist(n_train=n)
    splits = dataset.load(None, backbone.input_config())
    params = dataset.params.model_dump(mode="json")
    features = {"train": cached_features(backbone, dataset.name, params, splits.splits["train"], device)[0]}
    spec = RunSpec.model_construct(task="clustering", dataset=dataset.name)
    splits = type(splits)(splits.class_names, splits.splits, ("train", "train"))  # eval = train: no test features needed
    return task_inputs(spec, splits, features, backbone=backbone).data


class TimedContext:
    """A RunContext that stamps the wall clock at every logged epoch."""

    def __init__(self, seed: int, device: str) -> None:
        from unic_bench.api.taskdata import RunContext

        self.ctx = RunContext(device=device, seed=seed)
        self.stamps = [time.perf_counter()]
        log_epoch = self.ctx.log_epoch

        def stamped(epoch: int, **values: float) -> None:
            log_epoch(epoch, **values)
            self.stamps.append(time.perf_counter())

        self.ctx.log_epoch = stamped  # type: ignore[method-assign]

    def epoch_seconds(self) -> list[float]:
        return [b - a for a, b in zip(self.stamps, self.stamps[1:])]


def train(
    data: Any, epochs: int, cache: Literal["auto", "off"], seed: int, device: str, workers: int = 2, tuples: int | None = None
) -> TimedContext:
    """UNIC's training loop (fit_predict without the final predictions)."""
    from unic_bench.methods.common.heads import build_head
    from unic_bench.methods.common.training import Encoder, Trainer, seeded
    from unic_bench.methods.unic import UNIC, TupleSampler, UNICParams, resolve_mining, unic_loss
    from unic_bench.methods.unic.mining import mine

    # A constant lr: the cached run trains one epoch more, and a cosine schedule would then differ per epoch.
    p = UNICParams(
        **UNIC.defaults_for(data.dataset or "fashion-mnist", "clustering"),
        finetune="last-block",
        train_augment="none",
        trunk_cache=cache,
        epochs=epochs,
        workers=workers,
        schedule="constant",
    )
    d = resolve_mining(p, len(data.train), data.num_classes)
    mined = mine(data.train.features, d.tau1, d.tau2, d.eta, p.metric, device, seed)
    timed = TimedContext(seed, device)
    encoder = Encoder(data, "last-block", device, p.workers)
    with seeded(seed):
        head = build_head(p.head, data.train.features.shape[1], data.num_classes, p.hidden, p.activation)
    trainer = Trainer(encoder, {"head": head}, p, timed.ctx)

    def objective(rows: torch.Tensor, embeddings: torch.Tensor) -> dict[str, torch.Tensor]:
        b, m, dim = embeddings.shape
        logits = head(embeddings.reshape(b * m, dim)).view(b, m, -1)
        return unic_loss(logits[:, 0], logits[:, 1], logits[:, 2], (p.lambda_pos, p.lambda_neg, p.lambda_ent))

    timed.stamps[0] = time.perf_counter()
    sampler = TupleSampler(mined, None, False)
    trainer.fit(lambda epoch, generator: sampler(epoch, generator)[:tuples], objective)
    return timed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=5000, help="Fashion-MNIST train images")
    parser.add_argument("--img-size", type=int, default=112)
    parser.add_argument("--epochs", type=int, default=2, help="uncached epochs; the cached run does one more")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--tuples", type=int, default=None, help="anchors per epoch (default: all N); times scaled by N / T")
    parser.add_argument("--reuse-cache", action="store_true", help="use a stored trunk cache of this configuration")
    args = parser.parse_args()
    device = "cpu"
    print(f"threads {torch.get_num_threads()}, load average {os.getloadavg()}", flush=True)
    data = make_data(args.n, args.img_size, device)
    with tempfile.TemporaryDirectory() as tmp:
        if not args.reuse_cache:
            os.environ["UNIC_BENCH_TRUNK_CACHE"] = tmp  # a fresh build, not a stored entry
        cached = train(data, args.epochs + 1, "auto", args.seed, device, tuples=args.tuples)
    plain = train(data, args.epochs, "off", args.seed, device, tuples=args.tuples)
    scale = args.n / args.tuples if args.tuples else 1.0
    if args.tuples:
        print(f"epochs of {args.tuples} tuples; times below (but the first cached epoch's) scaled by N / T = {scale:.2f}")
    on = cached.epoch_seconds()[:1] + [
        s * scale for s in cached.epoch_seconds()[1:]
    ]  # building/loading is per image, not per tuple
    off = [s * scale for s in plain.epoch_seconds()]
    print("| epoch | no cache (s) | trunk cache (s) | loss, no cache | loss, cache |\n|---|---|---|---|---|")
    for e in range(args.epochs + 1):
        no_cache = f"{off[e]:.1f} | " if e < len(off) else "- | "
        loss_off = f"{plain.ctx.log[e]['loss']:.6f}" if e < len(off) else "-"
        print(f"| {e} | {no_cache}{on[e]:.1f} | {loss_off} | {cached.ctx.log[e]['loss']:.6f} |")
    later = sum(on[1:]) / len(on[1:])
    ratio = (sum(off) / len(off)) / later
    diffs = [abs(a["loss"] - b["loss"]) / abs(a["loss"]) for a, b in zip(plain.ctx.log, cached.ctx.log)]
    first = "loads a stored cache" if args.reuse_cache else "builds the cache"
    print(f"\nper-epoch speed-up after the first: {ratio:.1f}x (target >= 5x); first cached epoch ({first}): {on[0]:.1f} s")
    print(f"loss trajectories: max relative difference {max(diffs):.2e} over {len(diffs)} epochs (target: float tolerance)")
    print(f"load average after: {os.getloadavg()}")


if __name__ == "__main__":
    main()
