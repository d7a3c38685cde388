"""Benchmark-scale runs: paper suites, grid sweeps (in process or on SLURM via submitit), status."""
