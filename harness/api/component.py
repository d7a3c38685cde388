"""What methods, backbones and datasets share: registry metadata and validated parameters.

Each plugin class carries cheap class-level metadata (listed without running anything) and a
pydantic ``Params`` model whose defaults are the paper's values; ``--set key=value`` overrides
are validated against it so that a typo or a wrong type is one clear line, never a traceback.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar, Generic, Literal, TypeVar, cast

from pydantic import BaseModel, ConfigDict, ValidationError

from unic_bench.errors import BenchError

Task = Literal["clustering", "gcd"]


class ParamsModel(BaseModel):
    """Base for every ``Params`` model: unknown keys are errors and values are immutable."""

    model_config = ConfigDict(extra="forbid", frozen=True)


P = TypeVar("P", bound=ParamsModel)


class Component(Generic[P]):
    """Registry metadata shared by :class:`Method`, :class:`Backbone` and :class:`Dataset`.

    Generic in its params model, so a subclass declared ``class UNIC(Method[UNICParams])`` with
    ``Params = UNICParams`` sees ``self.params`` typed as ``UNICParams``.
    """

    kind: ClassVar[str] = "component"
    name: ClassVar[str]
    display_name: ClassVar[str] = ""
    description: ClassVar[str] = ""
    aliases: ClassVar[tuple[str, ...]] = ()
    Params: ClassVar[type[ParamsModel]] = ParamsModel
    params: P

    def __init__(self, params: P | None = None, **overrides: Any) -> None:
        """Build with a validated ``Params`` instance, or with keyword overrides of its defaults."""
        if params is not None and overrides:
            raise TypeError("pass either a Params instance or keyword overrides, not both")
        self.params = params if params is not None else cast(P, self.validate_params(overrides))

    @classmethod
    def label(cls) -> str:
        """Name shown in tables (the paper's spelling where there is one)."""
        return cls.display_name or cls.name

    @classmethod
    def validate_params(cls, overrides: Mapping[str, Any]) -> ParamsModel:
        """Build ``Params`` from overrides, raising a one-line :class:`BenchError` on bad input."""
        try:
            return cls.Params(**dict(overrides))
        except ValidationError as exc:
            raise BenchError(describe_validation_error(exc, cls.Params, f"{cls.kind} '{cls.name}'")) from None


def describe_validation_error(exc: ValidationError, model: type[BaseModel], owner: str) -> str:
    """Turn the first pydantic error into one line naming the bad key or value and what is valid."""
    err = exc.errors()[0]
    key = ".".join(str(p) for p in err["loc"]) or "?"
    if err["type"] == "extra_forbidden":
        fields = model.model_fields.items()
        valid = ", ".join(
            name if f.is_required() else f"{name}={f.get_default(call_default_factory=True)!r}" for name, f in fields
        )
        return f"unknown parameter '{key}' for {owner} (valid: {valid or 'none'})"
    return f"invalid value {err.get('input')!r} for parameter '{key}' of {owner}: {err['msg']}"
