"""The one exception type that the CLI turns into a single line and exit code 2."""

from __future__ import annotations

import difflib
from collections.abc import Iterable


class BenchError(Exception):
    """A problem with the user's input or environment, explained in one line (no traceback)."""


def did_you_mean(value: str, choices: Iterable[str]) -> str:
    """Return ``"; did you mean 'x'?"`` for the closest choices, or an empty string."""
    close = difflib.get_close_matches(value, list(choices), n=3, cutoff=0.5)
    if not close:
        return ""
    return "; did you mean " + " or ".join(f"'{c}'" for c in close) + "?"


def unknown_choice(kind: str, value: str, choices: Iterable[str]) -> BenchError:
    """The standard error for a name that is not one of ``choices``."""
    choices = sorted(choices)
    return BenchError(f"unknown {kind} '{value}'{did_you_mean(value, choices)} (valid: {', '.join(choices) or 'none'})")
