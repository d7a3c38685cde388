"""The one-import plugin API (``from unic_bench import ...``), and the docs that show it."""

from __future__ import annotations

import re
from pathlib import Path

import unic_bench

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = "examples/unic-bench-agglo/unic_bench_agglo.py"


def test_all_lists_exactly_the_lazy_exports() -> None:
    assert set(unic_bench.__all__) - {"__version__"} == set(unic_bench._EXPORTS)
    assert len(unic_bench.__all__) == len(set(unic_bench.__all__))


def test_every_export_resolves_from_its_module() -> None:
    import importlib

    for name, module in unic_bench._EXPORTS.items():
        assert getattr(unic_bench, name) is getattr(importlib.import_module(module), name), name
    assert sorted(dir(unic_bench)) == sorted(unic_bench.__all__)


def test_readme_plugin_example_is_the_example_file() -> None:
    readme = (ROOT / "README.md").read_text()
    block = re.search(
        rf"<!-- begin {re.escape(EXAMPLE)} -->\n```python\n(.*?)```\n<!-- end {re.escape(EXAMPLE)} -->", readme, re.S
    )
    assert block is not None, "README lost the marked example block"
    assert block.group(1) == (ROOT / EXAMPLE).read_text()


def test_ci_runs_the_readme_commands() -> None:
    readme = (ROOT / "README.md").read_text()
    ci = (ROOT / ".ci" / "run").read_text()
    commands = re.findall(r"```bash\n(.*?)```", readme, re.S)[:2]
    developing = readme.split("## Developing", 1)[1].split("```bash\n", 1)[1].split("```", 1)[0]
    for line in [*commands, *developing.splitlines()[:2]]:
        line = line.strip()
        if line.startswith("python3 -m venv") or line.startswith(".venv/bin/python -m ruff"):
            assert line in ci, line
