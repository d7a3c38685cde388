"""Shared fixtures: an isolated cache/results per test, a CLI runner, in-process plugins; markers."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from unic_bench.cli.app import main
from unic_bench.plugins import host as plugins

# The workspace's ../shared/ (reference class lists copied from the official repositories): present in
# the project's workspace, absent from a clean clone. Tests reading it carry @pytest.mark.needs_shared.
SHARED = next((p / "shared" for p in Path(__file__).resolve().parents if (p / "shared" / "splits").is_dir()), None)


def pytest_runtest_setup(item: pytest.Item) -> None:
    if item.get_closest_marker("needs_shared") is not None and SHARED is None:
        pytest.skip("needs ../shared/splits (the official class lists, kept outside the repository): not found")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Tests marked ``cuda`` are skipped where torch sees no CUDA device (torch imported only then)."""
    marked = [item for item in items if item.get_closest_marker("cuda")]
    if not marked:
        return
    import torch

    if not torch.cuda.is_available():
        skip = pytest.mark.skip(reason="needs a CUDA device")
        for item in marked:
            item.add_marker(skip)


@pytest.fixture(autouse=True)
def isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Every test gets its own feature cache, a clean plugin host and no env leaking in."""
    monkeypatch.setenv("UNIC_BENCH_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("UNIC_BENCH_DATA", raising=False)
    monkeypatch.delenv("UNIC_BENCH_DISABLE_PLUGINS", raising=False)
    monkeypatch.delenv("UNIC_BENCH_SPLITS", raising=False)
    previous = plugins.set_host(None)
    yield
    plugins.set_host(previous)


@dataclass
class CliResult:
    code: int
    out: str
    err: str


Cli = Callable[..., CliResult]  # cli("run", "--method", ...) -> CliResult
UsePlugins = Callable[..., plugins.PluginHost]  # use_plugins(("name", plugin_object), ...) -> the installed host


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str]) -> Cli:
    """Run ``unic-bench ARGS`` in process; returns exit code, stdout and stderr."""

    def run(*args: str) -> CliResult:
        try:
            main(list(args))
            code = 0
        except SystemExit as exc:
            code = int(exc.code or 0)
        captured = capsys.readouterr()
        return CliResult(code, captured.out, captured.err)

    return run


@pytest.fixture
def use_plugins() -> UsePlugins:
    """Install a plugin host with extra in-process plugins: ``use_plugins(("name", obj), ...)``."""

    def install(*extra: tuple[str, Any]) -> plugins.PluginHost:
        host = plugins.PluginHost(extra_plugins=tuple(extra))
        plugins.set_host(host)
        return host

    return install
