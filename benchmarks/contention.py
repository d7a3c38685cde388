"""Small-step training under CPU contention: one loop alone vs two at once, per thread policy.

    python benchmarks/contention.py              # 2 loops at once, 150 steps each
    python benchmarks/contention.py --steps 400

A cheap proxy of "two demos started at once": the loop is what the demo's trained methods do on
frozen features (a 2-layer MLP head, Adam, batch 384 = 128 anchors x 3), tiny steps with many
small kernels. Each policy runs the loop alone, then ``--jobs`` copies at once (subprocesses of
this script); the ratio concurrent / alone is what contention costs (2.0 = fair sharing of 2
cores by 2 jobs). Policies:

- ``torch-default``: what a plain process gets: intra-op threads = all cores, libgomp's default
  spin-then-sleep wait (each process thinks it owns the machine);
- ``passive``: the same threads, ``OMP_WAIT_POLICY=PASSIVE`` (idle OpenMP threads sleep at once);
- ``unic-bench``: :func:`unic_bench.run.threads.apply_threads` with ``threads_for(jobs)``
  cores each (the policy ``--threads`` / the sweep's ``--jobs`` apply).

Prints a Markdown table and the machine's load average before and after (the machine may be
shared: the ratios are only as clean as the load lets them be).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

POLICIES = ("torch-default", "passive", "unic-bench")


def loop(steps: int) -> float:
    import torch

    torch.manual_seed(0)
    head = torch.nn.Sequential(torch.nn.Linear(1280, 512), torch.nn.ReLU(), torch.nn.Linear(512, 10))
    opt = torch.optim.Adam(head.parameters(), lr=1e-3)
    feats = torch.randn(5000, 1280)
    start = time.perf_counter()
    for _ in range(steps):
        rows = torch.randint(5000, (384,))
        loss = torch.log_softmax(head(feats[rows]), 1).mean()
        opt.zero_grad(set_to_none=True)
        (-loss).backward()
        opt.step()
    return time.perf_counter() - start


def child(policy: str, steps: int, jobs: int) -> None:
    if policy == "unic-bench":
        from unic_bench.run.threads import apply_threads, threads_for

        apply_threads(threads_for(jobs))
    print(json.dumps({"seconds": loop(steps)}))


def launch(policy: str, steps: int, copies: int, jobs: int) -> float:
    """Wall time of ``copies`` children started together (the slowest one)."""
    env = dict(os.environ)
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OMP_WAIT_POLICY", "UNIC_BENCH_THREADS"):
        env.pop(var, None)
    if policy == "passive":
        env["OMP_WAIT_POLICY"] = "PASSIVE"
    cmd = [sys.executable, __file__, "--child", policy, "--steps", str(steps), "--jobs", str(jobs)]
    start = time.perf_counter()
    procs = [subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, text=True) for _ in range(copies)]
    for proc in procs:
        out, _ = proc.communicate()
        if proc.returncode != 0:
            raise SystemExit(f"child failed ({policy}): exit {proc.returncode}")
        json.loads(out)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=150)
    parser.add_argument("--jobs", type=int, default=2, help="loops started at once")
    parser.add_argument("--child", choices=POLICIES, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child, args.steps, args.jobs)
        return
    print(f"load average before: {os.getloadavg()}; cores: {len(os.sched_getaffinity(0))}")
    print(f"| policy | alone (s) | {args.jobs} at once (s) | ratio |\n|---|---|---|---|")
    for policy in POLICIES:
        alone = launch(policy, args.steps, 1, 1)
        together = launch(policy, args.steps, args.jobs, args.jobs)
        print(f"| {policy} | {alone:.1f} | {together:.1f} | {together / alone:.2f}x |", flush=True)
    print(f"load average after: {os.getloadavg()}")


if __name__ == "__main__":
    main()
