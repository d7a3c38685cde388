"""Plugin registration, isolation of broken plugins, disabling, duplicates, listing."""

from __future__ import annotations

from importlib.metadata import EntryPoint
from typing import Any

import numpy as np
import pytest

from unic_bench.api.hookspecs import hookimpl
from unic_bench.api.method import Method
from unic_bench.api.taskdata import Prediction, RunContext, TaskData
from unic_bench.errors import BenchError
from unic_bench.plugins import host as plugins


class FirstPoint(Method):
    """Puts every image in cluster 0: trivially wrong, but registrable and runnable."""

    name = "first-point"
    description = "everything in one cluster"
    tasks = frozenset({"clustering"})

    def fit_predict(self, data: TaskData, ctx: RunContext) -> Prediction:
        return Prediction(labels=np.zeros(len(data.eval), dtype=np.int64))


class MethodPlugin:
    @hookimpl
    def register_methods(self, register: Any) -> None:
        register(FirstPoint)


class RaisingPlugin:
    @hookimpl
    def register_methods(self, register: Any) -> None:
        raise RuntimeError("boom in register_methods")


class DuplicatePlugin:
    @hookimpl
    def register_methods(self, register: Any) -> None:
        class Clash(FirstPoint):
            name = "kmeans"

        register(Clash)


class CommandPlugin:
    @hookimpl
    def register_commands(self, app: Any) -> None:
        @app.command()
        def hello(name: str = "world") -> None:
            """Say hello."""
            print(f"hello {name}")


def test_builtins_register_through_hooks() -> None:
    host = plugins.get_host()
    assert {"kmeans", "ss-kmeans"} <= {m.name for m in host.methods}
    assert {"pixels", "identity"} <= {b.name for b in host.backbones}
    assert {"digits", "synthetic"} <= {d.name for d in host.datasets}
    assert host.infos["kmeans"].registered == {"methods": ["kmeans"]}


def test_extra_plugin_method_runs_through_cli(use_plugins: Any, cli: Any, tmp_path: Any) -> None:
    use_plugins(("first", MethodPlugin()))
    result = cli("run", "--method", "first-point", "--backbone", "pixels", "--dataset", "digits", "--results", str(tmp_path))
    assert result.code == 0, result.err
    assert "acc 0.10" in result.out  # one cluster on 10 balanced classes


def test_plugin_raising_in_hook_is_isolated(use_plugins: Any, cli: Any, capsys: Any) -> None:
    host = use_plugins(("raiser", RaisingPlugin()), ("first", MethodPlugin()))
    assert "first-point" in host.methods and "kmeans" in host.methods
    assert "raiser" in capsys.readouterr().err
    assert "boom" in host.infos["raiser"].error
    result = cli("list", "methods")
    assert result.code == 0 and "first-point" in result.out


def test_entry_point_that_fails_to_import_gives_warning(monkeypatch: pytest.MonkeyPatch, capsys: Any, cli: Any) -> None:
    broken = EntryPoint(name="broken", value="no_such_module_for_unic_bench", group="unic_bench")
    monkeypatch.setattr(plugins, "entry_points", lambda group: [broken])
    result = cli("list", "methods")
    assert result.code == 0
    assert "kmeans" in result.out
    assert "plugin 'broken'" in result.err and "ModuleNotFoundError" in result.err
    shown = cli("plugins")
    assert "broken" in shown.out and "failed to load" in shown.out


def test_disable_plugins_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("UNIC_BENCH_DISABLE_PLUGINS", "ss_kmeans, other")
    host = plugins.PluginHost()
    assert "ss-kmeans" not in host.methods and "kmeans" in host.methods


def test_duplicate_names_name_both_sources(use_plugins: Any, cli: Any) -> None:
    with pytest.raises(BenchError, match="duplicate method name 'kmeans'.*'kmeans'.*'dup'"):
        use_plugins(("dup", DuplicatePlugin()))


def test_duplicate_from_entry_point_is_a_clean_cli_error(monkeypatch: pytest.MonkeyPatch, cli: Any) -> None:
    class FakeEntryPoint:
        name, dist = "dup", None

        def load(self) -> Any:
            return DuplicatePlugin()

    monkeypatch.setattr(plugins, "entry_points", lambda group: [FakeEntryPoint()])
    result = cli("list", "methods")
    assert result.code == 2
    assert result.err.count("\n") == 1 and "duplicate method name 'kmeans'" in result.err


def test_plugin_commands_are_added_lazily(use_plugins: Any, cli: Any) -> None:
    use_plugins(("greeter", CommandPlugin()))
    assert "hello" not in cli("--help").out  # --help does not load plugins
    result = cli("hello", "--name", "bench")
    assert result.code == 0 and "hello bench" in result.out
    assert "commands: hello" in cli("plugins").out


def test_non_method_registration_is_reported(use_plugins: Any, capsys: Any) -> None:
    class Bad:
        @hookimpl
        def register_methods(self, register: Any) -> None:
            register(object)

    host = use_plugins(("bad", Bad()))
    assert "not a named Method subclass" in host.infos["bad"].error


def test_half_failing_hook_registers_nothing(use_plugins: Any) -> None:
    class Half:
        @hookimpl
        def register_methods(self, register: Any) -> None:
            register(FirstPoint)
            register(object)

    host = use_plugins(("half", Half()))
    assert "first-point" not in host.methods
    assert "not a named Method subclass" in host.infos["half"].error


def test_entry_point_named_like_a_builtin_is_reported(monkeypatch: pytest.MonkeyPatch, capsys: Any) -> None:
    clash = EntryPoint(name="kmeans", value="unic_bench_agglo", group="unic_bench")
    monkeypatch.setattr(plugins, "entry_points", lambda group: [clash])
    host = plugins.PluginHost()
    assert "kmeans" in host.methods
    assert "name already taken by unic-bench (built-in)" in capsys.readouterr().err


def test_aliases_resolve_and_clash() -> None:
    from unic_bench.api.backbone import Backbone
    from unic_bench.backbones.pixels import Pixels
    from unic_bench.plugins.registry import Registry

    class Aliased(Pixels):
        name = "dinov2-vitb14"
        aliases = ("dinov2",)

    class Other(Pixels):
        name = "other"
        aliases = ("dinov2",)

    registry: Registry[Backbone] = Registry("backbone", Backbone)
    registry.add_all([Aliased], "a")
    assert registry.get("dinov2") is Aliased and registry.canonical("dinov2") == "dinov2-vitb14"
    with pytest.raises(BenchError, match="duplicate backbone name 'dinov2': registered by plugin 'a' and by plugin 'b'"):
        registry.add_all([Other], "b")
    assert "other" not in registry
    with pytest.raises(BenchError, match="unknown backbone 'dinov3'; did you mean 'dinov2'"):
        registry.get("dinov3")
