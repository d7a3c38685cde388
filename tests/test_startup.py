"""``unic-bench --help`` stays fast: it imports neither torch nor any plugin."""

from __future__ import annotations

import subprocess
import sys

PROBE = """
import sys
from unic_bench.plugins import host as plugins
from unic_bench.cli.app import main
try:
    main(["--help"])
except SystemExit as exc:
    assert exc.code == 0, exc.code
heavy = [m for m in ("torch", "faiss", "sklearn", "pandas", "matplotlib", "unic_bench.methods.kmeans") if m in sys.modules]
print("HEAVY", heavy, "HOST", plugins._HOST is not None, file=sys.stderr)
"""


def test_help_imports_no_torch_and_no_plugins() -> None:
    result = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, check=True)
    assert "HEAVY [] HOST False" in result.stderr
    assert "run" in result.stdout and "table" in result.stdout
