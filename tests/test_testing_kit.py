"""The conformance kit catches each broken contract it claims to check (a check that cannot fail is no check)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pytest
import torch
from pydantic import Field

from unic_bench import Backbone, Dataset, Method, ParamsModel, Prediction, RunContext, TaskData
from unic_bench.api.backbone import InputConfig
from unic_bench.api.dataset import DatasetSplits
from unic_bench.datasets.digits import Digits
from unic_bench.methods.kmeans import KMeans
from unic_bench.plugins.host import get_host
from unic_bench.testing import check_backbone, check_dataset, check_method


class NearestMeanParams(ParamsModel):
    epochs: int = Field(2, ge=1)


class NearestMean(Method[NearestMeanParams]):
    """A correct little method: k-means-like assignment to k random train rows (seeded)."""

    name = "nearest-mean"
    tasks = frozenset({"clustering", "gcd"})
    Params = NearestMeanParams

    def centres(self, data: TaskData, ctx: RunContext) -> torch.Tensor:
        rows = np.random.default_rng(ctx.seed).choice(len(data.train), data.num_classes, replace=False)
        return data.train.features[rows]

    def fit_predict(self, data: TaskData, ctx: RunContext) -> Prediction:
        distances = torch.cdist(data.eval.features, self.centres(data, ctx))
        return Prediction(labels=distances.argmin(1).numpy())


def test_a_correct_method_passes_and_reports_no_training() -> None:
    report = check_method(NearestMean)
    assert "gcd: labels only for D_L" in report.passed and "resume" in report.skipped


class FloatLabels(NearestMean):
    def fit_predict(self, data: TaskData, ctx: RunContext) -> Prediction:
        return Prediction(labels=super().fit_predict(data, ctx).labels.astype(np.float32))


class TrainShaped(NearestMean):
    def fit_predict(self, data: TaskData, ctx: RunContext) -> Prediction:
        return Prediction(labels=np.zeros(len(data.train), dtype=np.int64))


class Unseeded(NearestMean):
    def centres(self, data: TaskData, ctx: RunContext) -> torch.Tensor:
        return data.train.features[np.random.default_rng().choice(len(data.train), data.num_classes, replace=False)]


class Mutating(NearestMean):
    def fit_predict(self, data: TaskData, ctx: RunContext) -> Prediction:
        data.train.features.mul_(1.0001)
        return super().fit_predict(data, ctx)


class ReadsDatasetLabels(NearestMean):
    """Cheats: reloads its dataset by name and copies the true labels of the eval rows."""

    def fit_predict(self, data: TaskData, ctx: RunContext) -> Prediction:
        truth = get_host().datasets.get(data.dataset)().load(None, None).splits["train"].labels
        return Prediction(
            labels=truth[data.eval.indices].astype(np.int64) if data.task == "gcd" else super().fit_predict(data, ctx).labels
        )


class UnknownKeysAccepted(NearestMean):
    class Params(ParamsModel):  # type: ignore[no-redef]  # a deliberately broken Params
        model_config = {"extra": "allow", "frozen": True}


@pytest.mark.parametrize(
    "cls, message",
    [
        (FloatLabels, "integer dtype"),
        (TrainShaped, "shape"),
        (Unseeded, "same seed"),
        (Mutating, "modified the features"),
        (ReadsDatasetLabels, "reads labels beyond data.train_labels"),
        (UnknownKeysAccepted, "unknown parameter was accepted"),
    ],
    ids=lambda v: v.__name__ if isinstance(v, type) else "",
)
def test_broken_methods_fail_naming_the_contract(cls: type[Method[Any]], message: str) -> None:
    with pytest.raises(AssertionError, match=message):
        check_method(cls)


def test_the_poisoned_dataset_is_restored_afterwards() -> None:
    with pytest.raises(AssertionError):
        check_method(ReadsDatasetLabels)
    assert "load" in Digits.__dict__ and np.array_equal(Digits().load(None, None).splits["train"].labels[:10], np.arange(10))


def test_a_trainer_that_does_not_resume_is_caught(tmp_path: Path) -> None:
    class ForgetfulTrainer(NearestMean):
        """Iterates epochs and writes a checkpoint, but always restarts from scratch."""

        def fit_predict(self, data: TaskData, ctx: RunContext) -> Prediction:
            for epoch in ctx.progress(range(self.params.epochs), "epochs", self.params.epochs):
                if ctx.checkpoint_dir is not None:
                    ctx.checkpoint_dir.mkdir(parents=True, exist_ok=True)
                    (ctx.checkpoint_dir / "epoch.txt").write_text(str(epoch))
            return super().fit_predict(data, ctx)

    with pytest.raises(AssertionError, match="trained all 2 epochs again"):
        check_method(ForgetfulTrainer)


def test_kmeans_bad_params_are_checked_one_line() -> None:
    assert "bad params" in check_method(KMeans, {"n_init": 1}).passed


class TrainModeBackbone(Backbone):
    name = "dropout-net"
    accepts: ClassVar = "features"

    def build(self) -> torch.nn.Module:
        return torch.nn.Sequential(torch.nn.Linear(16, 4), torch.nn.Dropout(0.5))


class ConvNet(Backbone):
    name = "tiny-conv"
    tail_unit = "layer"

    def input_config(self) -> InputConfig:
        return InputConfig(8, (0.5, 0.5, 0.5), (0.2, 0.2, 0.2))

    def build(self) -> torch.nn.Module:
        torch.manual_seed(0)
        return torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.Flatten(), torch.nn.Linear(144, 5)).eval()

    def trainable_tail(self, model: torch.nn.Module, n: int = 1) -> Any:
        from unic_bench.api.backbone import TailSplit

        trunk, tail = model[:2], model[2:]
        trunk.requires_grad_(False)
        return TailSplit(trunk=trunk, tail=tail)


class WrongTail(ConvNet):
    name = "wrong-tail"

    def trainable_tail(self, model: torch.nn.Module, n: int = 1) -> Any:
        from unic_bench.api.backbone import TailSplit

        return TailSplit(trunk=model[:1].requires_grad_(False), tail=model[2:])


def test_backbone_checks() -> None:
    assert "trainable tail: tail(trunk(x)) == model(x)" in check_backbone(ConvNet).passed
    with pytest.raises(AssertionError, match="eval mode"):
        check_backbone(TrainModeBackbone)
    with pytest.raises(AssertionError, match="tail\\(trunk\\(x\\)\\) differs|trainable tail"):
        check_backbone(WrongTail)


class OutOfRangeLabels(Digits):
    name = "bad-digits"

    def load(self, root: Path | None, input_config: InputConfig | None) -> DatasetSplits:
        import dataclasses

        loaded = super().load(root, input_config)
        split = loaded.splits["train"]
        return dataclasses.replace(loaded, splits={"train": dataclasses.replace(split, labels=split.labels + 1)})


class UnstableManifest(Digits):
    name = "unstable-digits"
    loads: ClassVar[list[int]] = []

    def load(self, root: Path | None, input_config: InputConfig | None) -> DatasetSplits:
        import dataclasses

        loaded = super().load(root, input_config)
        self.loads.append(1)
        split = dataclasses.replace(loaded.splits["train"], manifest=f"m{len(self.loads)}")
        return dataclasses.replace(loaded, splits={"train": split})


def test_dataset_checks() -> None:
    assert "manifest stable" in check_dataset(Digits).passed
    with pytest.raises(AssertionError, match="labels must lie in"):
        check_dataset(OutOfRangeLabels)
    with pytest.raises(AssertionError, match="manifest stable"):
        check_dataset(UnstableManifest)
    needs_files = type("NeedsFiles", (Digits,), {"name": "needs-files", "needs_root": True})
    with pytest.raises(AssertionError, match="pass root="):
        check_dataset(needs_files)
    assert issubclass(needs_files, Dataset)
