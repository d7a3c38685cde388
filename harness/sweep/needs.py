"""What a set of runs needs on disk (dataset folders, weights files), checked before anything runs.

Each missing item is reported once with where to put it and where to get it, so a fresh
machine learns everything it lacks from one command instead of one failure per run. Datasets
are checked by loading them as a run would (``datasets check``: layout and annotation files,
no image decoded); weights by looking for the official file in the HF and torch caches.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from unic_bench.cli.dataset_check import check_dataset
from unic_bench.plugins.host import PluginHost
from unic_bench.run.protocol import DATA_ENV
from unic_bench.run.spec import RunSpec


@dataclass(frozen=True)
class MissingItem:
    kind: str  # "dataset" | "weights"
    name: str
    put: str
    get: str

    def line(self) -> str:
        return f"  - {self.kind} '{self.name}': put it at {self.put}; get it from {self.get}"


@dataclass
class Needs:
    """The missing items and, per spec, which of them it needs."""

    missing: list[MissingItem]
    by_spec: dict[str, list[MissingItem]]

    def runnable(self, specs: Sequence[RunSpec]) -> list[RunSpec]:
        return [s for s in specs if not self.by_spec.get(s.run_id)]

    def block(self, what: str) -> str:
        """The message printed before exit 2: every missing item, one per line."""
        lines = [f"{what} needs {len(self.missing)} item(s) that are not on this machine:"]
        lines += [item.line() for item in self.missing]
        lines.append("then run it again (or add --skip-missing to run only what is there)")
        return "\n".join(lines)


def _dataset_item(host: PluginHost, name: str, data_root: Path | None, splits_dir: Path | None) -> MissingItem | None:
    cls = host.datasets.get(name)
    if not cls.needs_root:
        return None
    folder = getattr(cls, "folder", "")
    source = getattr(cls, "source", "the dataset's official release")
    raw = data_root or os.environ.get(DATA_ENV)
    if not raw:
        return MissingItem("dataset", cls.name, f"DATA_ROOT/{folder} (pass --data-root DATA_ROOT or set {DATA_ENV})", source)
    root = Path(raw).expanduser()
    if not root.is_dir():
        return MissingItem("dataset", cls.name, f"{root / folder} (the data root '{root}' does not exist)", source)
    result = check_dataset(cls, root, splits_dir)
    if result.status != "missing":
        return None
    # the loader's one-line message already names the folder, the files it lacks and the source
    return MissingItem("dataset", cls.name, f"{root / folder} ({result.detail.split(': ', 1)[-1]})", source)


def _weights_item(host: PluginHost, spec: RunSpec) -> MissingItem | None:
    cls = host.backbones.get(spec.backbone)
    source = getattr(cls, "weight_source", None)
    if source is None or spec.weights_sha256 is not None or source.find_local() is not None:
        return None
    cache_path = getattr(source, "torch_cache_path", None)
    put = str(cache_path()) if cache_path is not None else "(installed by pip)"
    return MissingItem("weights", cls.name, put, f"{source.describe()}, or pass --weights FILE")


def check_needs(
    specs: Sequence[RunSpec], host: PluginHost, data_root: Path | None = None, splits_dir: Path | None = None
) -> Needs:
    datasets = {s.dataset: _dataset_item(host, s.dataset, data_root, splits_dir) for s in specs}
    weights = {s.backbone: _weights_item(host, s) for s in specs if s.weights_sha256 is None}
    by_spec = {s.run_id: [i for i in (datasets[s.dataset], weights.get(s.backbone)) if i is not None] for s in specs}
    missing = [i for i in (*datasets.values(), *weights.values()) if i is not None]
    return Needs(missing, by_spec)
