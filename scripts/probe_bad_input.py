"""Count how many bad inputs get one clean line, through the real executable (one fresh process each).

The inputs are the tables in ``tests/test_cli_errors.py`` (``SIMPLE_BAD_INPUTS`` and issue 15's
``BAD_INPUTS``). Clean = exit code 2, stderr exactly one line ``unic-bench: error: ...`` holding the
expected text, no traceback, no torch advice to set ``weights_only=False``. A fresh process also
shows what the in-process tests cannot: warnings printed at import, exit codes of the interpreter.

    OMP_NUM_THREADS=1 python scripts/probe_bad_input.py        # prints the count; exit 1 if any is unclean
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

TESTS = Path(__file__).resolve().parents[1] / "tests"
sys.path.insert(0, str(TESTS))

import pytest  # noqa: E402  (tests' helpers raise pytest.skip for places that need root)
from test_cli_errors import BAD_INPUTS, SIMPLE_BAD_INPUTS, Places  # noqa: E402

CLI = [sys.executable, "-c", "from unic_bench.cli.app import main; main()"]
TIMEOUT_S = 300


def probe(args: list[str], expected: str, tmp: Path) -> str | None:
    """None when the input got one clean line, else what went wrong."""
    if args[0] == "run" and "--results" not in args:
        args = [*args, "--results", str(tmp / "results")]
    env = {**os.environ, "UNIC_BENCH_CACHE": str(tmp / "cache"), "OMP_NUM_THREADS": "1"}
    env.pop("UNIC_BENCH_DATA", None)
    try:
        proc = subprocess.run([*CLI, *args], capture_output=True, text=True, env=env, timeout=TIMEOUT_S)
    except subprocess.TimeoutExpired:
        return f"still running after {TIMEOUT_S} s (the input was not refused)"
    err = proc.stderr
    problems = [
        f"exit {proc.returncode}" if proc.returncode != 2 else "",
        "traceback" if "Traceback" in err else "",
        f"{err.count(chr(10))} lines" if err.count("\n") != 1 or not err.startswith("unic-bench: error: ") else "",
        "weights_only=False advice" if "weights_only=False" in err else "",
        "expected text missing" if expected not in err else "",
    ]
    found = [p for p in problems if p]
    return None if not found else f"{', '.join(found)}: {err.strip().splitlines()[-1] if err.strip() else '(no stderr)'}"


def main() -> int:
    cases: list[tuple[str, object, str]] = [(" ".join(a), a, e) for a, e in SIMPLE_BAD_INPUTS]
    cases += [(b.name, b.args, b.expected) for b in BAD_INPUTS]
    clean, unclean, skipped = 0, [], []
    for name, args, expected in cases:
        with tempfile.TemporaryDirectory() as tmp:
            places = Places(Path(tmp))
            try:
                argv = args(places) if callable(args) else list(args)  # type: ignore[arg-type]
                problem = probe(argv, expected, Path(tmp))
            except pytest.skip.Exception:
                skipped.append(name)
                continue
            finally:
                for mount in places.mounts:
                    subprocess.run(["umount", str(mount)], check=False)
        if problem is None:
            clean += 1
        else:
            unclean.append(f"{name}: {problem}")
    tried = len(cases) - len(skipped)
    print(f"bad inputs tried: {tried}; one clean line (exit 2, no traceback): {clean}; not clean: {len(unclean)}")
    if skipped:
        print(f"skipped (need root): {', '.join(skipped)}")
    for line in unclean:
        print(f"  NOT CLEAN  {line}")
    return 1 if unclean else 0


if __name__ == "__main__":
    raise SystemExit(main())
