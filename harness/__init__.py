"""unic-bench: a benchmark harness for image clustering and Generalized Category Discovery.

The import is deliberately light (no torch, no plugins) so that ``unic-bench --help`` is fast;
the data path lives in the submodules: spec -> dataset -> backbone -> features -> method ->
metrics -> records -> tables.
"""

__version__ = "0.1.0"
