"""Name -> plugin class tables for methods, backbones and datasets, with aliases and suggestions."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Generic, TypeVar

from unic_bench.api.component import Component
from unic_bench.errors import BenchError, unknown_choice

C = TypeVar("C", bound=Component)


class Registry(Generic[C]):
    """Entries of one kind; names and aliases share one namespace and must be unique."""

    def __init__(self, kind: str, base: type[Component[Any]]) -> None:
        self.kind = kind
        self.base = base
        self._entries: dict[str, type[C]] = {}
        self._sources: dict[str, str] = {}
        self._aliases: dict[str, str] = {}

    def add_all(self, classes: list[type[C]], source: str) -> None:
        """Register plugin ``source``'s classes, all or none; a name clash is an error naming both plugins."""
        taken = {
            **{name: self._sources[name] for name in self._entries},
            **{a: self._sources[n] for a, n in self._aliases.items()},
        }
        for cls in classes:
            if not (isinstance(cls, type) and issubclass(cls, self.base)) or not getattr(cls, "name", ""):
                raise TypeError(f"plugin '{source}' registered {cls!r}, which is not a named {self.base.__name__} subclass")
            for key in (cls.name, *cls.aliases):
                if key in taken:
                    raise BenchError(
                        f"duplicate {self.kind} name '{key}': registered by plugin '{taken[key]}' "
                        f"and by plugin '{source}' (disable one with UNIC_BENCH_DISABLE_PLUGINS)"
                    )
                taken[key] = source
        for cls in classes:
            self._entries[cls.name] = cls
            self._sources[cls.name] = source
            self._aliases.update({alias: cls.name for alias in cls.aliases})

    def canonical(self, name: str) -> str:
        """The registered name for ``name`` or one of its aliases."""
        if name in self._entries:
            return name
        if name in self._aliases:
            return self._aliases[name]
        raise unknown_choice(self.kind, name, [*self._entries, *self._aliases])

    def get(self, name: str) -> type[C]:
        return self._entries[self.canonical(name)]

    def source(self, name: str) -> str:
        return self._sources[self.canonical(name)]

    def __iter__(self) -> Iterator[type[C]]:
        return iter(sorted(self._entries.values(), key=lambda c: c.name))

    def __contains__(self, name: str) -> bool:
        return name in self._entries or name in self._aliases

    def __len__(self) -> int:
        return len(self._entries)
