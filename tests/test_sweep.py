"""Suites, grid sweeps (in process and through submitit's local executor), status, and bad input.

The SLURM launcher itself is tested on a real one-node cluster in tests/test_sweep_slurm.py.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from unic_bench.plugins.host import get_host
from unic_bench.run.records import read_record, record_path
from unic_bench.sweep.grid import expand, expand_suite
from unic_bench.sweep.suites import SUITES, get_suite

SMALL_GRID = """
name: small
methods:
  kmeans: {n_init: [2]}
  unic: {epochs: [2]}
backbones: [pixels]
datasets: [digits]
tasks: [clustering, gcd]
seeds: [0, 1]
"""


def write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def test_grid_expands_to_validated_specs_and_skips_impossible_combinations(tmp_path: Path) -> None:
    grid = write(tmp_path / "g.yaml", SMALL_GRID.replace("unic: {epochs: [2]}", "unic: {epochs: [2]}\n  ss-kmeans: {}"))
    expansion = expand(str(grid), get_host())
    kinds = sorted((s.method, s.task, s.seed) for s in expansion.specs)
    # ss-kmeans has no clustering task: that combination is skipped and counted, not an error
    assert kinds == sorted(
        [(m, t, s) for m in ("kmeans", "unic") for t in ("clustering", "gcd") for s in (0, 1)]
        + [("ss-kmeans", "gcd", s) for s in (0, 1)]
    )
    assert any("ss-kmeans has no task clustering" in note for note in expansion.notes)
    assert {s.method_params["epochs"] for s in expansion.specs if s.method == "unic"} == {2}
    assert expansion.sweep_id == expand(str(grid), get_host()).sweep_id  # deterministic: status GRID finds it


def test_parameter_lists_multiply(tmp_path: Path) -> None:
    grid = write(tmp_path / "g.yaml", SMALL_GRID.replace("n_init: [2]", "n_init: [2, 3], max_iter: [10, 20]"))
    kmeans = [s for s in expand(str(grid), get_host()).specs if s.method == "kmeans"]
    assert len(kmeans) == 2 * 2 * 2 * 2  # n_init x max_iter x tasks x seeds
    assert {(s.method_params["n_init"], s.method_params["max_iter"]) for s in kmeans} == {(2, 10), (2, 20), (3, 10), (3, 20)}


def test_suites_cover_the_paper_tables() -> None:
    host = get_host()
    table1 = get_suite("table1")
    assert table1.datasets == ("stl10", "imagenet50", "imagenet100", "imagenet200")
    assert set(table1.methods) == {"kmeans", "scan", "temi", "unic"}
    table2, notes = get_suite("table2").available(host)
    dinov2 = {e.dataset for e in table2.entries if "dinov2-vit-b-14" in e.backbones}
    assert dinov2 == {"imagenet100-gcd", "cub"}  # the paper has DINOv2 rows only there
    if "simgcd" not in host.methods:
        assert notes == ["suite 'table2': method 'simgcd' is not registered (no plugin provides it); its rows are skipped"]
    assert len(get_suite("table7").backbones) == 8
    for suite in SUITES.values():  # every suite resolves: names, params and tasks are valid
        expansion = expand_suite(suite, host, [0])
        assert expansion.specs
    table3 = expand_suite(get_suite("table3"), host, [0]).specs
    assert sorted((s.method_params["lambda_neg"], s.method_params["lambda_ent"]) for s in table3) == [
        (0.0, 0.0),
        (0.0, 3.0),
        (1.0, 0.0),
        (1.0, 3.0),
    ]
    assert all(s.method_params["epochs"] == 50 for s in table3)


def test_suites_command_lists_suites_and_what_they_cannot_express(cli: Any) -> None:
    result = cli("suites")
    assert result.code == 0
    for name in SUITES:
        assert f"\n{name}: " in f"\n{result.out}"
    assert "not expressible: the two rows with a contrastive term" in result.out
    assert "[default for `run --task gcd` without --dataset]" in result.out


def test_run_without_dataset_prints_every_missing_item_and_exits_2(
    cli: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The project's own command on a fresh machine: no data, no weights -> one block, exit 2."""
    import huggingface_hub.constants

    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path / "hf"))
    result = cli("run", "--method", "unic", "--backbone", "dinov2", "--task", "gcd", "--results", str(tmp_path / "r"))
    assert result.code == 2
    assert result.out == ""
    weights = tmp_path / "torch" / "hub" / "checkpoints" / "dinov2_vitb14_pretrain.pth"
    source = get_host().datasets.get("cub").source  # type: ignore[attr-defined]
    lines = result.err.splitlines()
    assert lines[0] == (
        "unic-bench: error: `run --method unic --backbone dinov2-vit-b-14 --task gcd` (suite 'table2': imagenet100-gcd, cub) "
        "needs 3 item(s) that are not on this machine:"
    )
    assert lines[1].startswith(
        "  - dataset 'imagenet100-gcd': put it at DATA_ROOT/imagenet (pass --data-root DATA_ROOT or set UNIC_BENCH_DATA); "
        "get it from https://image-net.org/download"
    )
    assert lines[2] == (
        f"  - dataset 'cub': put it at DATA_ROOT/CUB_200_2011 (pass --data-root DATA_ROOT or set UNIC_BENCH_DATA); get it from {source}"
    )
    assert lines[3] == (
        f"  - weights 'dinov2-vit-b-14': put it at {weights}; get it from "
        "https://dl.fbaipublicfiles.com/dinov2/dinov2_vitb14/dinov2_vitb14_pretrain.pth "
        "(or HF cache of timm/vit_base_patch14_dinov2.lvd142m), or pass --weights FILE"
    )
    assert lines[4] == "then run it again (or add --skip-missing to run only what is there)"
    assert len(lines) == 5 and "Traceback" not in result.err
    assert not (tmp_path / "r").exists()


def test_run_without_dataset_skip_missing_runs_what_is_there(cli: Any, tmp_path: Path) -> None:
    """`--skip-missing` with a data root holding one suite dataset: that one runs, the others are listed."""
    from tests.dataset_trees import make_cifar10

    root = tmp_path / "data"
    make_cifar10(root, np.repeat(np.arange(10), 2), np.arange(10))
    result = cli(
        "run", "--method", "kmeans", "--backbone", "pixels", "--task", "gcd", "--data-root", str(root),
        "--results", str(tmp_path / "r"), "--skip-missing", "--set", "n_init=1",
    )  # fmt: skip
    assert result.code == 0, result.err
    assert "skipped (--skip-missing), missing dataset 'cub'" in result.out
    assert "running 1 of 5 runs" in result.out
    assert "kmeans | pixels | cifar10 | gcd | seed 0" in result.out
    assert len(list((tmp_path / "r" / "runs" / "gcd" / "cifar10").rglob("*.json"))) == 1


def test_local_sweep_extracts_each_backbone_dataset_once_and_status_reports_done(
    cli: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import unic_bench.run.features as features

    calls: list[tuple[str, str]] = []
    real = features.extract

    def counting(backbone: Any, split: Any, *args: Any, **kwargs: Any) -> Any:
        calls.append((backbone.name, split.name))
        return real(backbone, split, *args, **kwargs)

    monkeypatch.setattr(features, "extract", counting)
    grid = write(tmp_path / "g.yaml", SMALL_GRID + "  # and a features dataset\n")
    grid.write_text(
        SMALL_GRID.replace(
            "backbones: [pixels]\ndatasets: [digits]", "backbones: [pixels, identity]\ndatasets: [digits, synthetic]"
        )
    )
    results = tmp_path / "r"
    dry = cli("sweep", str(grid), "--results", str(results), "--dry-run")
    assert dry.code == 0, dry.err
    assert "16 runs, 0 done, 16 to run" in dry.out
    assert "feature extractions needed: 2" in dry.out
    assert calls == []  # a dry run extracts nothing

    out = cli("sweep", str(grid), "--results", str(results))
    assert out.code == 0, out.err
    assert len(calls) == len(set(calls))  # every (backbone, split) once, although 8 runs read each
    assert {b for b, _ in calls} == {"pixels", "identity"}
    expansion = expand(str(grid), get_host())
    for spec in expansion.specs:
        record = read_record(record_path(results, spec))
        assert record is not None and record.metrics
    status = cli("status", str(grid), "--results", str(results))
    assert status.code == 0
    assert "16 runs: 16 done, 0 queued, 0 running, 0 failed, 0 missing" in status.out

    again = cli("sweep", str(grid), "--results", str(results), "--dry-run")
    assert "16 done, 0 to run" in again.out and "feature extractions needed: 0" in again.out
    manifest = json.loads((results / "sweeps" / expansion.sweep_id / "manifest.json").read_text())
    assert manifest["launcher"] == "local" and len(manifest["specs"]) == 16


def test_failed_run_is_shown_with_its_error_and_retried(cli: Any, tmp_path: Path) -> None:
    """A run whose checkpoint cannot be resumed fails alone; `status --retry-failed` reruns exactly it."""
    grid = write(tmp_path / "g.yaml", SMALL_GRID)
    results = tmp_path / "r"
    specs = expand(str(grid), get_host()).specs
    bad = next(s for s in specs if s.method == "unic" and s.task == "gcd" and s.seed == 1)
    checkpoint = results / "checkpoints" / bad.run_id / "training.pt"
    checkpoint.parent.mkdir(parents=True)
    checkpoint.write_bytes(b"not a checkpoint")

    assert cli("sweep", str(grid), "--results", str(results)).code == 0
    status = cli("status", str(grid), "--results", str(results))
    assert status.code == 1
    assert "8 runs: 7 done, 0 queued, 0 running, 1 failed, 0 missing" in status.out
    assert f"failed   {bad.run_id}" in status.out
    assert "error: BenchError: checkpoint" in status.out and "cannot be resumed" in status.out
    log = Path(status.out.split("log: ")[1].split()[0])
    assert "Traceback" in log.read_text()

    checkpoint.unlink()  # what the error says to do
    retry = cli("status", str(grid), "--results", str(results), "--retry-failed")
    assert retry.code == 0, retry.out + retry.err
    assert "retried 1 failed run(s)" in retry.out
    assert retry.out.rstrip().endswith("8 runs: 8 done, 0 queued, 0 running, 0 failed, 0 missing")


def test_submitit_local_executor_runs_the_sweep(cli: Any, tmp_path: Path) -> None:
    """The submitit path without SLURM: extraction job, then packed run jobs, as subprocesses."""
    pytest.importorskip("submitit")
    grid = write(tmp_path / "g.yaml", SMALL_GRID.replace("seeds: [0, 1]", "seeds: [0]"))
    results = tmp_path / "r"
    out = cli("sweep", str(grid), "--results", str(results), "--launcher", "submitit-local", "--runs-per-job", "2", "--wait")
    assert out.code == 0, out.err
    expansion = expand(str(grid), get_host())
    manifest = json.loads((results / "sweeps" / expansion.sweep_id / "manifest.json").read_text())
    submission = manifest["submissions"][-1]
    assert len(submission["extraction_jobs"]) == 1
    assert len(set(submission["jobs"].values())) == 2  # 4 specs, 2 per job
    for spec in expansion.specs:
        assert read_record(record_path(results, spec)) is not None
    assert cli("status", "--sweep", expansion.sweep_id, "--results", str(results)).code == 0


@pytest.mark.parametrize(
    "grid_text,args,expected",
    [
        (None, ["sweep", "table9"], "unknown suite 'table9'; did you mean 'table7'"),
        ("methods: [kmeans\nbackbones: [", ["sweep", "GRID"], "is not valid YAML"),
        (
            "methods: [kmeans]\nbackbones: [pixels]\ndatasets: [digits]\nepochs: [3]\n",
            ["sweep", "GRID"],
            "unknown parameter 'epochs' for the grid",
        ),
        ("", ["sweep", "GRID"], "is empty: it needs methods, backbones and datasets"),
        (
            "methods: []\nbackbones: [pixels]\ndatasets: [digits]\n",
            ["sweep", "GRID"],
            "'methods' is empty, so the grid has no runs",
        ),
        (
            "methods: {kmeans: {epochs: [1, 2]}}\nbackbones: [pixels]\ndatasets: [digits]\n",
            ["sweep", "GRID"],
            "unknown parameter 'epochs' for method 'kmeans'",
        ),
        (
            "methods: [kmeans]\nbackbones: [pixels]\ndatasets: [digits]\n",
            ["sweep", "GRID", "--launcher", "pbs"],
            "unknown launcher 'pbs'",
        ),
        (None, ["status", "--sweep", "nope"], "unknown sweep id (under"),
        ("methods: [kmeans]\nbackbones: [pixels]\ndatasets: [digit]\n", ["sweep", "GRID"], "unknown dataset 'digit'"),
        (
            "methods: [kmeans]\nbackbones: [pixels]\ndatasets: [digits]\nlauncher: {gpus: 1}\n",
            ["sweep", "GRID"],
            "unknown parameter 'launcher.gpus'",
        ),
        (None, ["run", "--method", "kmeans", "--backbone", "pixels", "--suite", "table5"], "unknown suite 'table5'"),
    ],
)
def test_bad_sweep_input_is_one_line_and_exit_2(
    cli: Any, tmp_path: Path, grid_text: str | None, args: list[str], expected: str
) -> None:
    grid = tmp_path / "grid.yaml"
    if grid_text is not None:
        grid.write_text(grid_text)
    results = tmp_path / "r"
    result = cli(*[str(grid) if a == "GRID" else a for a in args], "--results", str(results))
    assert result.code == 2, result
    assert expected in result.err
    assert len(result.err.strip().splitlines()) == 1 and "Traceback" not in result.err
    assert not (results / "runs").exists() and not (results / "sweeps").exists()


def test_slurm_launcher_without_sbatch_is_refused(cli: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    grid = write(tmp_path / "g.yaml", "methods: [kmeans]\nbackbones: [pixels]\ndatasets: [digits]\n")
    monkeypatch.setenv("PATH", str(tmp_path / "empty-bin"))
    result = cli("sweep", str(grid), "--launcher", "slurm", "--results", str(tmp_path / "r"))
    assert result.code == 2
    assert (
        result.err.strip() == "unic-bench: error: --launcher slurm needs SLURM's sbatch on PATH (not found); use --launcher local"
    )
    assert not (tmp_path / "r").exists()


def test_slurm_launcher_without_submitit_is_refused(cli: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    grid = write(tmp_path / "g.yaml", "methods: [kmeans]\nbackbones: [pixels]\ndatasets: [digits]\n")
    monkeypatch.setitem(sys.modules, "submitit", None)  # import submitit -> ImportError
    result = cli("sweep", str(grid), "--launcher", "slurm", "--results", str(tmp_path / "r"))
    assert result.code == 2
    assert result.err.strip() == "unic-bench: error: --launcher slurm needs submitit: pip install 'unic-bench[slurm]'"


def test_cluster_settings_reach_the_sbatch_script(tmp_path: Path) -> None:
    """Flags / the grid's launcher: section become #SBATCH lines (submitit renders them; no SLURM needed)."""
    pytest.importorskip("submitit")
    from unic_bench.sweep.grid import LauncherSettings
    from unic_bench.sweep.slurm import executor

    settings = LauncherSettings(
        partition="gpu", gpus_per_job=1, cpus_per_job=8, mem="32G", time=240, account="lab", qos="high",
        constraint="a100", sbatch=["--exclusive", "#SBATCH --mail-type=END"], array_parallelism=5,
    )  # fmt: skip
    ex = executor(tmp_path, settings, "slurm")
    script = ex._executor._make_submission_file_text("python -c pass", "uid")
    for line in (
        "#SBATCH --partition=gpu", "#SBATCH --gpus-per-node=1", "#SBATCH --cpus-per-task=8", "#SBATCH --mem=32G",
        "#SBATCH --time=240", "#SBATCH --account=lab", "#SBATCH --qos=high", "#SBATCH --constraint=a100",
        "#SBATCH --exclusive", "#SBATCH --mail-type=END", "#SBATCH --signal=USR2@90",
    ):  # fmt: skip
        assert line in script.splitlines(), line
    assert ex._executor.parameters["array_parallelism"] == 5  # the %5 of --array=0-N%5 at submission


def test_folder_sweep_is_found_done_under_its_fingerprinted_id(cli: Any, tmp_path: Path) -> None:
    """A folder dataset's run id holds its images' fingerprint: the sweep, its manifest and
    status must use that id, or a finished run would look missing."""
    from PIL import Image

    data = tmp_path / "mine"
    for cls, colour in (("cats", 20), ("dogs", 230)):
        (data / cls).mkdir(parents=True)
        for i in range(3):
            pixels = np.full((12, 10, 3), colour, dtype=np.uint8)
            pixels[0, 0] = i
            Image.fromarray(pixels).save(data / cls / f"{i}.png")
    grid = write(
        tmp_path / "g.yaml",
        "name: mine\nmethods:\n  kmeans: {n_init: [2]}\nbackbones: [pixels]\ndatasets: [folder]\ntasks: [clustering]\nseeds: [0]\n",
    )
    results = tmp_path / "r"
    out = cli("sweep", str(grid), "--results", str(results), "--data-root", str(data))
    assert out.code == 0, out.err
    (record_file,) = (results / "runs").rglob("*.json")
    record = read_record(record_file)
    assert record is not None and record.spec.data_fingerprint is not None
    sweep_id = expand(str(grid), get_host()).sweep_id
    status = cli("status", "--sweep", sweep_id, "--results", str(results))
    assert status.code == 0, status.out
    assert "1 runs: 1 done" in status.out and record.run_id in status.out
    again = cli("sweep", str(grid), "--results", str(results), "--data-root", str(data), "--dry-run")
    assert "1 done, 0 to run" in again.out
