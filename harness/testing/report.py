"""What a conformance check did: the checks that passed and the ones skipped, with the reason."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from unic_bench.api.component import Component
from unic_bench.errors import BenchError


@dataclass
class CheckReport:
    """Returned by ``check_*``; a failed check raises instead, so a report means "conforms"."""

    plugin: str
    passed: list[str] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)

    def ok(self, check: str) -> None:
        self.passed.append(check)

    def skip(self, check: str, reason: str) -> None:
        self.skipped[check] = reason


def fail(plugin: str, check: str, problem: str) -> AssertionError:
    return AssertionError(f"{plugin} fails '{check}': {problem}")


def check_metadata(cls: type[Component[Any]], report: CheckReport) -> None:
    """A registered name, a ``Params`` model whose defaults validate."""
    from unic_bench.api.component import ParamsModel

    name = getattr(cls, "name", "")
    if not isinstance(name, str) or not name or name != name.strip() or " " in name:
        raise fail(cls.__name__, "metadata", f"class attribute 'name' must be a non-empty word, got {name!r}")
    if not (isinstance(cls.Params, type) and issubclass(cls.Params, ParamsModel)):
        raise fail(name, "metadata", f"Params must subclass unic_bench.ParamsModel, got {cls.Params!r}")
    cls.validate_params({})
    report.ok("metadata")


def check_bad_params(cls: type[Component[Any]], report: CheckReport) -> None:
    """An unknown key and a wrongly typed value are each one ``BenchError`` line naming the key."""
    name = cls.name
    for key, value in [("no_such_parameter", 1), *((key, [object()]) for key in cls.Params.model_fields)]:
        try:
            cls.validate_params({key: value})
        except BenchError as exc:
            message = str(exc)
            if "\n" in message or key not in message:
                raise fail(
                    name, "bad params", f"the error for {key}={value!r} must be one line naming '{key}': {message!r}"
                ) from None
            continue
        except Exception as exc:  # noqa: BLE001 - the check is that nothing but BenchError escapes
            raise fail(name, "bad params", f"{key}={value!r} raised {type(exc).__name__}, not BenchError: {exc}") from exc
        if key == "no_such_parameter":
            raise fail(name, "bad params", "an unknown parameter was accepted (use unic_bench.ParamsModel as the base)")
    report.ok("bad params")


def start_checks(cls: type[Component[Any]]) -> CheckReport:
    """A report for ``cls`` after the checks every plugin kind shares (metadata, bad params)."""
    report = CheckReport(getattr(cls, "name", cls.__name__))
    check_metadata(cls, report)
    check_bad_params(cls, report)
    return report


def validated(cls: type[Component[Any]], params: Mapping[str, Any] | None) -> Any:
    """The plugin's ``Params`` built from the caller's overrides (a bad override is the caller's error)."""
    return cls.validate_params(dict(params or {}))
