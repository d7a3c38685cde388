"""Bad input: one line on stderr, exit code 2, no traceback, and no record written.

``BAD_INPUTS`` is the table of issue 15 (every input a skeptical user tried), also run through the
real executable by ``scripts/probe_bad_input.py`` for the count in docs/integrity.md.
"""

from __future__ import annotations

import os
import pickle
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from dataset_trees import write_image

BASE = ["run", "--method", "kmeans", "--backbone", "pixels", "--dataset", "digits"]
VIT = ["--backbone", "dinov1-vit-s-16", "--dataset", "digits"]
FOLDER = ["run", "--method", "kmeans", "--backbone", "pixels", "--dataset", "folder", "--set", "n_init=2"]


@dataclass
class Places:
    """A test's scratch space: ``tmp``, and read-only mounts made on demand (root only)."""

    tmp: Path
    mounts: list[Path] = field(default_factory=list)

    def readonly(self, name: str = "ro") -> Path:
        target = self.tmp / name
        target.mkdir()
        if os.geteuid() != 0 or subprocess.run(["mount", "-t", "tmpfs", "-o", "ro,size=64k", "tmpfs", str(target)]).returncode:
            pytest.skip("read-only places need root (mount -t tmpfs -o ro)")
        self.mounts.append(target)
        return target

    def file(self, name: str, data: bytes = b"hello world\n") -> Path:
        path = self.tmp / name
        path.write_bytes(data)
        return path

    def folder(self, name: str, classes: dict[str, int], size: tuple[int, int] = (12, 10)) -> Path:
        """``name/<class>/<i>.png`` (random pixels), or a flat folder for the class ``""``."""
        root = self.tmp / name
        root.mkdir()
        for cls, count in classes.items():
            for i in range(count):
                write_image(root / cls / f"{i}.png", size, seed=i + 100 * len(cls))
        return root

    def config(self, text: str) -> Path:
        return self.file("spec.yaml", f"method: kmeans\nbackbone: pixels\ndataset: digits\n{text}\n".encode())


@pytest.fixture
def places(tmp_path: Path) -> Iterator[Places]:
    made = Places(tmp_path)
    yield made
    for mount in made.mounts:
        subprocess.run(["umount", str(mount)], check=False)


class Evil:
    """A pickle that would run a shell command when loaded without weights_only."""

    def __reduce__(self) -> tuple[Any, ...]:
        return (os.system, ("echo pwned",))


def corrupt_folder(p: Places) -> Path:
    root = p.folder("data", {"a": 2, "b": 2})
    (root / "a" / "bad.png").write_bytes(b"not an image at all" * 20)
    return root


def truncated_folder(p: Places) -> Path:
    root = p.folder("data", {"a": 2, "b": 2}, size=(40, 30))
    whole = (root / "b" / "1.png").read_bytes()
    (root / "b" / "cut.png").write_bytes(whole[: len(whole) // 2])
    return root


@dataclass(frozen=True)
class Bad:
    """One bad input: ``args(places)`` -> CLI arguments, the text its one line must contain, and
    whether complete feature-cache entries of *valid* data may stay (the input is found bad only
    after features were extracted: a method parameter checked against N, a head too big)."""

    name: str
    args: Callable[[Places], list[str]]
    expected: str
    caches_valid_features: bool = False


def _flags(*args: str) -> Callable[[Places], list[str]]:
    return lambda p: list(args)


BAD_INPUTS = [
    Bad("seed negative", _flags(*BASE, "--seed", "-1"), "invalid seed -1: seeds must be integers in [0, 2**32 - 1]"),
    Bad("seed 2^32", _flags(*BASE, "--seed", "4294967296"), "invalid seed 4294967296"),
    Bad("seeds repeated", _flags(*BASE, "--seeds", "0,1,0"), "seed 0 is given more than once in seeds 0,1,0"),
    Bad("config seeds repeated", lambda p: ["run", "--config", str(p.config("seeds: [1, 1]"))], "seed 1 is given more than once"),
    Bad("config seed negative", lambda p: ["run", "--config", str(p.config("seed: -5"))], "invalid seed -5"),
    Bad(
        "corrupt image",
        lambda p: [*FOLDER, "--data-root", str(corrupt_folder(p))],
        "bad.png' (not an image file PIL can identify): replace or delete it, or skip unreadable images with --set dataset.skip_bad=true",
    ),
    Bad(
        "corrupt image, 2 workers",
        lambda p: [*FOLDER, "--data-root", str(corrupt_folder(p)), "--workers", "2"],
        "bad.png' (not an image file PIL can identify)",
    ),
    Bad("truncated image", lambda p: [*FOLDER, "--data-root", str(truncated_folder(p))], "cut.png' ("),
    Bad("batch size 0", _flags(*BASE, "--batch-size", "0"), "invalid --batch-size 0: must be an integer >= 1"),
    Bad("batch size negative", _flags(*BASE, "--batch-size", "-4"), "invalid --batch-size -4"),
    Bad("workers negative", _flags(*BASE, "--workers", "-1"), "invalid --workers -1: must be an integer >= 0"),
    Bad("extract batch size 0", _flags("extract", *VIT[:2], "--dataset", "digits", "--batch-size", "0"), "invalid --batch-size 0"),
    Bad("extract workers negative", _flags("extract", "--backbone", "pixels", "--dataset", "digits", "--workers", "-2"), "invalid --workers -2"),
    Bad(
        "num_clusters > images",
        lambda p: [*FOLDER, "--data-root", str(p.folder("flat", {"": 3})), "--set", "num_clusters=5"],
        "num_clusters=5 but '",
    ),
    Bad("text file as --weights (run)", lambda p: [*BASE[:3], *VIT, "--weights", str(p.file("w.txt"))], "w.txt': not a torch or safetensors weights file"),
    Bad("text file as --weights (extract)", lambda p: ["extract", *VIT, "--weights", str(p.file("w.txt"))], "w.txt': not a torch or safetensors"),
    Bad(
        "code pickle as --weights (run)",
        lambda p: [*BASE[:3], *VIT, "--weights", str(p.file("evil.pt", pickle.dumps(Evil(), protocol=2)))],
        "evil.pt': not a plain weights file (it holds the Python object posix.system",
    ),
    Bad(
        "code pickle as --weights (extract)",
        lambda p: ["extract", *VIT, "--weights", str(p.file("evil.pt", pickle.dumps(Evil())))],
        "evil.pt': not a plain weights file",
    ),
    Bad("folder as --weights", lambda p: [*BASE[:3], *VIT, "--weights", str(p.tmp)], "' is a folder; give the weights file itself"),
    Bad("folder as --config", lambda p: ["run", "--config", str(p.tmp)], "' is a folder; give the YAML file"),
    Bad(
        "read-only --cache-dir (extract)",
        lambda p: ["extract", "--backbone", "pixels", "--dataset", "digits", "--cache-dir", str(p.readonly() / "c")],
        "feature cache folder '",
    ),
    Bad(
        "file as --cache-dir (extract)",
        lambda p: ["extract", "--backbone", "pixels", "--dataset", "digits", "--cache-dir", str(p.file("c"))],
        "feature cache folder '",
    ),
    Bad("read-only --results", lambda p: [*BASE, "--results", str(p.readonly())], "results folder '"),
    Bad("file as --results", lambda p: [*BASE, "--results", str(p.file("r"))], "r' is a file, not a folder"),
    Bad("--results under a file", lambda p: [*BASE, "--results", str(p.file("r") / "sub")], "is a file, not a folder"),
    Bad("read-only --cache-dir (run)", lambda p: [*BASE, "--cache-dir", str(p.readonly())], "feature cache folder '"),
    Bad("folder as table --output", lambda p: ["table", "--with-paper", "--output", str(p.tmp)], "' is a folder; give a file name"),
    Bad(
        "read-only table --output",
        lambda p: ["table", "--with-paper", "--output", str(p.readonly() / "t.md")],
        "folder of table --output file '",
    ),
    Bad(
        "one-class folder",
        lambda p: [*FOLDER, "--data-root", str(p.folder("data", {"only": 3}))],
        "has one class folder (only): a clustering of one class measures nothing",
    ),
    Bad("empty folder", lambda p: [*FOLDER, "--data-root", str(p.folder("data", {}))], "dataset 'folder': no images ("),
    Bad(
        "UNIC tau1 > N",
        _flags("run", "--method", "unic", "--backbone", "pixels", "--dataset", "digits", "--set", "tau1=5000"),
        "UNIC's tau1=5000 must be in [1, N=1797]",
        caches_valid_features=True,
    ),
    Bad(
        "UNIC head over the size limit",
        lambda p: [
            "run", "--method", "unic", "--backbone", "pixels", "--dataset", "folder",
            "--data-root", str(p.folder("data", {"a": 3, "b": 3})),
            "--set", "tau1=2", "--set", "tau2=3", "--set", "eta=6",
        ],
        "150,528-d inputs would have 308M parameters, over the limit of 200M (checkpoint ~3.7 GB per epoch): use a pretrained backbone",
        caches_valid_features=True,
    ),
    # more of what a new user tries (most were one line already; kept so the count covers them)
    Bad("file as --data-root", lambda p: [*BASE, "--data-root", str(p.file("d"))], "d' does not exist or is not a folder"),
    Bad("missing --splits-dir", _flags(*BASE, "--splits-dir", "/no/such/lists"), "--splits-dir '/no/such/lists' does not exist"),
    Bad("config not YAML", lambda p: ["run", "--config", str(p.file("c.yaml", b"a: ["))], "c.yaml' is not valid YAML"),
    Bad("--weights for pixels", lambda p: [*BASE, "--weights", str(p.file("w.pt"))], "backbone 'pixels' has no pretrained weights"),
    Bad("UNIC tau2 > N-1", _flags("run", "--method", "unic", "--backbone", "pixels", "--dataset", "digits", "--set", "tau2=5000"),
        "tau2=5000 must be in [1, N-1=1796]", caches_valid_features=True),
    Bad("SCAN k=0", _flags("run", "--method", "scan", "--backbone", "pixels", "--dataset", "digits", "--set", "k=0"),
        "invalid value 0 for parameter 'k' of method 'scan'"),
    Bad("skip_bad not a bool", lambda p: [*FOLDER, "--data-root", str(p.folder("data", {"a": 2, "b": 2})), "--set", "dataset.skip_bad=maybe"],
        "invalid value 'maybe' for parameter 'skip_bad' of dataset 'folder'"),
    Bad("skip_bad for digits", _flags(*BASE, "--set", "dataset.skip_bad=true"), "unknown parameter 'skip_bad' for dataset 'digits'"),
    Bad("flat folder, num_clusters=1", lambda p: [*FOLDER, "--data-root", str(p.folder("flat", {"": 3})), "--set", "num_clusters=1"],
        "invalid value 1 for parameter 'num_clusters' of dataset 'folder'"),
    Bad("demo seeds repeated", _flags("demo", "--seeds", "0,0"), "seed 0 is given more than once"),
    Bad("demo seed negative", _flags("demo", "--seeds", "-1"), "invalid seed -1"),
    Bad("extract with a method param", _flags("extract", "--backbone", "pixels", "--dataset", "digits", "--set", "n_init=3"),
        "invalid --set 'n_init' for extract"),
    Bad("fetch-weights pixels", _flags("fetch-weights", "pixels"), "backbone 'pixels' has no official weights to fetch"),
    Bad("table7 without a dataset", _flags("table", "--layout", "table7", "--with-paper"), "layout 'table7' needs a dataset"),
]  # fmt: skip


@pytest.mark.parametrize("bad", BAD_INPUTS, ids=[b.name for b in BAD_INPUTS])
def test_bad_input_table(bad: Bad, cli: Any, places: Places) -> None:
    """Every input of issue 15: exit 2, one line naming the value, no traceback, nothing left behind."""
    results, cache = places.tmp / "results", places.tmp / "cache"
    args = bad.args(places)
    if args[0] == "run" and "--results" not in args:
        args += ["--results", str(results)]
    result = cli(*args)
    assert result.code == 2, (result.out, result.err)
    assert bad.expected in result.err
    assert result.err.count("\n") == 1 and result.err.startswith("unic-bench: error: "), result.err
    assert "Traceback" not in result.err and "weights_only=False" not in result.err
    left = [f for root in (results, cache) if root.exists() for f in root.rglob("*") if f.is_file()]
    assert not [f for f in left if f.suffix not in (".lock", ".npy", ".json") or "runs" in f.parts or "tmp" in f.name]
    assert bad.caches_valid_features or not [f for f in left if f.suffix != ".lock"], left


SIMPLE_BAD_INPUTS: list[tuple[list[str], str]] = [
    (
        ["run", "--method", "kmean", "--backbone", "pixels", "--dataset", "digits"],
        "unknown method 'kmean'; did you mean 'kmeans'",
    ),
    (
        ["run", "--method", "kmeans", "--backbone", "pixel", "--dataset", "digits"],
        "unknown backbone 'pixel'; did you mean 'pixels'",
    ),
    (
        ["run", "--method", "kmeans", "--backbone", "pixels", "--dataset", "digit"],
        "unknown dataset 'digit'; did you mean 'digits'",
    ),
    (
        ["run", "--method", "ss-kmeans", "--backbone", "pixels", "--dataset", "digits"],
        "method 'ss-kmeans' does not support task 'clustering' (it supports: gcd)",
    ),
    (
        [*BASE, "--task", "segmentation"],
        "invalid value 'segmentation' for parameter 'task' of the run spec: Input should be 'clustering' or 'gcd'",
    ),
    ([*BASE, "--set", "n_inits=3"], "unknown parameter 'n_inits' for method 'kmeans' (valid: n_init=10"),
    ([*BASE, "--set", "n_init=many"], "invalid value 'many' for parameter 'n_init' of method 'kmeans'"),
    ([*BASE, "--set", "n_init=0"], "invalid value 0 for parameter 'n_init'"),
    ([*BASE, "--set", "normalize=cosine"], "'l2' or 'standardize'"),
    ([*BASE, "--set", "n_init"], "invalid --set 'n_init': expected key=value"),
    ([*BASE, "--set", "dataset.size=3"], "unknown parameter 'size' for dataset 'digits'"),
    ([*BASE, "--seeds", "0,one"], "invalid seeds '0,one'"),
    ([*BASE, "--seed", "1.5"], "invalid seeds '1.5'"),
    ([*BASE, "--seed", "1", "--seeds", "2,3"], "give --seed or --seeds, not both"),
    ([*BASE, "--overwrite", "sometimes"], "unknown --overwrite value 'sometimes'"),
    ([*BASE, "--device", "tpu"], "invalid --device 'tpu' (valid: auto, cpu, cuda, cuda:N)"),
    ([*BASE, "--data-root", "/no/such/folder"], "data root '/no/such/folder' does not exist"),
    ([*BASE, "--gcd-metric", "v3"], "invalid value 'v3' for parameter 'gcd_metric'"),
    (
        ["run", "--method", "kmeans", "--backbone", "pixels", "--dataset", "synthetic"],
        "backbone 'pixels' takes image inputs but dataset 'synthetic' provides features (valid backbones: identity)",
    ),
    (["run", "--backbone", "pixels", "--dataset", "digits"], "missing --method"),
    ([*BASE, "--config", "/no/such.yaml"], "config file '/no/such.yaml' does not exist"),
    (["list", "models"], "unknown list kind 'models'"),
    (["table", "--layout", "table9"], "unknown layout 'table9'"),
    (["table", "--format", "html"], "unknown format 'html'"),
    (["run", "--method", "kmeans", "--bogus-flag"], "No such option: --bogus-flag"),
]


@pytest.mark.parametrize("args,expected", SIMPLE_BAD_INPUTS)
def test_bad_input_is_one_line_exit_2(args: list[str], expected: str, cli: Any, tmp_path: Path) -> None:
    results = tmp_path / "results"
    result = cli(*args, "--results", str(results)) if args[0] == "run" else cli(*args)
    assert result.code == 2, (result.out, result.err)
    assert expected in result.err
    assert result.err.count("\n") == 1 and result.err.startswith("unic-bench: error: ")
    assert "Traceback" not in result.err
    assert not list(results.rglob("*.json")) if results.exists() else True


def test_bad_config_values(cli: Any, tmp_path: Path) -> None:
    config = tmp_path / "spec.yaml"
    config.write_text("method: kmeans\nbackbone: pixels\ndataset: digits\nlearning_rate: 3\n")
    result = cli("run", "--config", str(config), "--results", str(tmp_path / "r"))
    assert (
        result.code == 2
        and "unknown key 'learning_rate' in config" in result.err
        and "valid: backbone, batch_size, cache_dir" in result.err
    )
    config.write_text("- not a mapping\n")
    assert "must hold a mapping" in cli("run", "--config", str(config)).err


def test_dataset_needing_a_root_says_so(use_plugins: Any, cli: Any, tmp_path: Path) -> None:
    from unic_bench.api.hookspecs import hookimpl
    from unic_bench.datasets.digits import Digits

    class OnDisk(Digits):
        name = "on-disk"
        needs_root = True

    class Plugin:
        @hookimpl
        def register_datasets(self, register: Any) -> None:
            register(OnDisk)

    use_plugins(("ondisk", Plugin()))
    result = cli("run", "--method", "kmeans", "--backbone", "pixels", "--dataset", "on-disk", "--results", str(tmp_path))
    assert result.code == 2
    assert "dataset 'on-disk' reads files: pass --data-root DIR or set UNIC_BENCH_DATA" in result.err


def test_every_run_flag_is_a_config_key_and_reaches_the_request_or_the_options(tmp_path: Path) -> None:
    """One declaration: run()'s parameters. Each lands in RunRequest or RunOptions by name."""
    from dataclasses import fields

    from unic_bench.cli.app import config_keys
    from unic_bench.run.protocol import RunOptions
    from unic_bench.run.spec import RunRequest

    option_keys = {f.metadata.get("flag", f.name) for f in fields(RunOptions)}
    # seed folds into seeds; suite/skip_missing pick the datasets (cli/sweep.run_suite) before a request exists
    assert config_keys() - set(RunRequest.model_fields) - option_keys <= {"seed", "suite", "skip_missing"}
    options = RunOptions.from_values({"results": str(tmp_path), "workers": 3, "device": "cpu", "data_root": None})
    assert (options.results_dir, options.num_workers, options.device, options.data_root) == (tmp_path, 3, "cpu", None)
    assert RunOptions.from_values({}) == RunOptions()
