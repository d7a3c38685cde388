"""Plugin discovery and loading (pluggy), in the style of simonw/llm.

Built-in plugins go through the same hooks as third-party ones. Third-party plugins come from
the ``unic_bench`` entry-point group; each is imported and each hook implementation is called
inside its own try/except, so a broken plugin costs a warning, not the CLI. Loading happens on
first use, never at import, so ``unic-bench --help`` stays fast.

``UNIC_BENCH_DISABLE_PLUGINS=a,b`` blocks plugins by name (built-in ones too).
"""

from __future__ import annotations

import importlib
import os
import sys
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from typing import Any

import pluggy

from unic_bench import __version__
from unic_bench.api import hookspecs
from unic_bench.api.backbone import Backbone
from unic_bench.api.dataset import Dataset
from unic_bench.api.method import Method
from unic_bench.errors import BenchError, did_you_mean
from unic_bench.plugins.registry import Registry

ENTRY_POINT_GROUP = "unic_bench"
DISABLE_ENV = "UNIC_BENCH_DISABLE_PLUGINS"

BUILTIN_PLUGINS = (
    "unic_bench.methods.kmeans",
    "unic_bench.methods.ss_kmeans",
    "unic_bench.methods.unic",
    "unic_bench.methods.scan",
    "unic_bench.methods.temi",
    "unic_bench.methods.simgcd",
    "unic_bench.methods.asd",
    "unic_bench.backbones.pixels",
    "unic_bench.backbones.vit",
    "unic_bench.backbones.resnet",
    "unic_bench.backbones.efficientnet",
    "unic_bench.datasets.digits",
    "unic_bench.datasets.synthetic",
    "unic_bench.datasets.cifar",
    "unic_bench.datasets.stl10",
    "unic_bench.datasets.imagenet",
    "unic_bench.datasets.fgvc",
    "unic_bench.datasets.folder",
    "unic_bench.datasets.fashion_mnist",
)

REGISTER_HOOKS = {"methods": "register_methods", "backbones": "register_backbones", "datasets": "register_datasets"}


@dataclass
class PluginInfo:
    """One plugin as ``unic-bench plugins`` lists it."""

    name: str
    distribution: str
    version: str
    registered: dict[str, list[str]] = field(default_factory=dict)
    error: str | None = None


class PluginHost:
    """A plugin manager plus the registries filled from its ``register_*`` hooks."""

    def __init__(self, extra_plugins: tuple[tuple[str, Any], ...] = ()) -> None:
        self.pm = pluggy.PluginManager("unic_bench")
        self.pm.add_hookspecs(hookspecs)
        self.infos: dict[str, PluginInfo] = {}
        self._command_app: Any = None
        disabled = {n.strip() for n in os.environ.get(DISABLE_ENV, "").split(",") if n.strip()}
        for modname in BUILTIN_PLUGINS:
            short = modname.rsplit(".", 1)[-1]
            if short in disabled or modname in disabled:
                continue
            self._register(importlib.import_module(modname), short, "unic-bench (built-in)", __version__)
        self._load_entry_points(disabled)
        for name, obj in extra_plugins:
            self._register(obj, name, "(registered in process)", "")
        _warn_unknown_disabled(disabled)
        self.methods: Registry[Method] = Registry("method", Method)
        self.backbones: Registry[Backbone] = Registry("backbone", Backbone)
        self.datasets: Registry[Dataset] = Registry("dataset", Dataset)
        self._collect()

    def _register(self, plugin: Any, name: str, dist: str, version: str) -> None:
        self.pm.register(plugin, name=name)
        self.infos[name] = PluginInfo(name, dist, version)

    def _load_entry_points(self, disabled: set[str]) -> None:
        for ep in entry_points(group=ENTRY_POINT_GROUP):
            dist = ep.dist.name if ep.dist else "?"
            version = ep.dist.version if ep.dist else "?"
            if ep.name in disabled:
                continue
            if ep.name in self.infos:
                taken_by = self.infos[ep.name].distribution
                clash = PluginInfo(ep.name, dist, version)
                self._fail(clash, f"has a name already taken by {taken_by}", key=f"{ep.name} ({dist})")
                continue
            try:
                self._register(ep.load(), ep.name, dist, version)
            except Exception as exc:  # a broken plugin must not break the CLI
                self._fail(PluginInfo(ep.name, dist, version), f"failed to load: {type(exc).__name__}: {exc}")

    def _fail(self, info: PluginInfo, why: str, key: str | None = None) -> None:
        info.error = why
        self.infos[key or info.name] = info
        print(f"unic-bench: warning: plugin '{info.name}' ({info.distribution} {info.version}) {why}; skipped", file=sys.stderr)

    def _collect(self) -> None:
        """Call every ``register_*`` implementation on its own, so one failure stays contained."""
        for kind, hook_name in REGISTER_HOOKS.items():
            registry: Registry[Any] = getattr(self, kind)
            for impl in getattr(self.pm.hook, hook_name).get_hookimpls():
                info = self.infos[impl.plugin_name]
                if info.error:
                    continue
                staged: list[Any] = []  # a hook that raises half-way registers nothing
                try:
                    impl.function(**{arg: staged.append for arg in impl.argnames})
                    registry.add_all(staged, impl.plugin_name)
                except BenchError:
                    raise  # duplicate names are the user's to resolve, not a plugin bug
                except Exception as exc:
                    self._fail(info, f"failed in {hook_name}: {type(exc).__name__}: {exc}")
                    continue
                info.registered.setdefault(kind, []).extend(cls.name for cls in staged)

    def command_app(self) -> Any:
        """A typer app holding the commands plugins add (built once); failing plugins are skipped."""
        if self._command_app is None:
            import typer

            self._command_app = typer.Typer()
            for impl in self.pm.hook.register_commands.get_hookimpls():
                info = self.infos[impl.plugin_name]
                if info.error:
                    continue
                before = len(self._command_app.registered_commands)
                try:
                    impl.function(**{arg: self._command_app for arg in impl.argnames})
                except Exception as exc:
                    self._fail(info, f"failed in register_commands: {type(exc).__name__}: {exc}")
                    continue
                added = self._command_app.registered_commands[before:]
                info.registered["commands"] = [c.name or c.callback.__name__.replace("_", "-") for c in added]
        return self._command_app


def _warn_unknown_disabled(disabled: set[str]) -> None:
    """A name in ``UNIC_BENCH_DISABLE_PLUGINS`` that matches no plugin disables nothing: say so."""
    known = {m.rsplit(".", 1)[-1] for m in BUILTIN_PLUGINS} | set(BUILTIN_PLUGINS)
    known |= {ep.name for ep in entry_points(group=ENTRY_POINT_GROUP)}
    for name in sorted(disabled - known):
        valid = sorted(n for n in known if "." not in n)
        print(
            f"unic-bench: warning: {DISABLE_ENV} names '{name}', which is no plugin{did_you_mean(name, valid)} "
            f"(plugins: {', '.join(valid)})",
            file=sys.stderr,
        )


_HOST: PluginHost | None = None


def get_host() -> PluginHost:
    """The process-wide plugin host, loaded on first use."""
    global _HOST
    if _HOST is None:
        _HOST = PluginHost()
    return _HOST


def set_host(host: PluginHost | None) -> PluginHost | None:
    """Swap the process-wide host (tests); returns the previous one."""
    global _HOST
    previous, _HOST = _HOST, host
    return previous
