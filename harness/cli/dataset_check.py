"""``unic-bench datasets check``: which datasets are present under a data root, with their counts.

Each dataset is loaded exactly as a run loads it (layout, annotation files, class lists; images are
not decoded), so "ok" means a run will find its data; its split sizes are compared with the
official release's (``expected_counts``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from unic_bench.api.dataset import Dataset
from unic_bench.datasets.common.split_lists import splits_dir
from unic_bench.errors import BenchError
from unic_bench.plugins.host import PluginHost


@dataclass
class CheckResult:
    dataset: str
    status: str  # "ok", "missing", "count mismatch"
    counts: dict[str, int] = field(default_factory=dict)
    expected: dict[str, int] = field(default_factory=dict)
    detail: str = ""

    @property
    def ok(self) -> bool:
        return self.status == "ok"


def check_dataset(cls: type[Dataset], root: Path, local_splits: Path | None = None) -> CheckResult:
    """Load ``cls`` (default params) from ``root`` and compare its split sizes with the expected ones."""
    expected = dict(cls.expected_counts)
    try:
        with splits_dir(local_splits):
            loaded = cls().load(root, None)
    except BenchError as exc:
        return CheckResult(cls.name, "missing", expected=expected, detail=str(exc))
    counts = {name: len(split) for name, split in loaded.splits.items()}
    wrong = [f"{name} {counts.get(name, 0):,} != {n:,}" for name, n in expected.items() if counts.get(name) != n]
    return CheckResult(cls.name, "count mismatch" if wrong else "ok", counts, expected, "; ".join(wrong))


def check_datasets(
    host: PluginHost, root: Path, names: list[str] | None = None, local_splits: Path | None = None
) -> list[CheckResult]:
    """Every dataset that reads files from the data root (or the ``names`` given)."""
    if not Path(root).is_dir():
        raise BenchError(f"data root '{root}' does not exist or is not a folder")
    if names:
        classes = [host.datasets.get(name) for name in names]
    else:
        classes = [cls for cls in host.datasets if cls.needs_root and cls.in_data_root]
    return [check_dataset(cls, Path(root), local_splits) for cls in classes]
