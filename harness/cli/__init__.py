"""The ``unic-bench`` command line (a thin typer layer over the harness), the demo, and progress bars."""
