"""``python -m unic_bench`` = the ``unic-bench`` command."""

from unic_bench.cli.app import main

main()
