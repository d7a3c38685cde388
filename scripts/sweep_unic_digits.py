"""The small documented sweep behind UNIC's digits defaults (README: "UNIC on digits").

Runs UNIC (frozen pixels) on digits for each setting in a grid and seeds 0,1,2, and prints
mean ± std ACC per setting. Records go to a scratch results dir, not the committed ones.

    python scripts/sweep_unic_digits.py --task clustering --grid lr=1e-4,1e-3 tau2=360,900
"""

from __future__ import annotations

import argparse
import itertools
import tempfile
from pathlib import Path

import numpy as np

from unic_bench.plugins.host import get_host
from unic_bench.run.protocol import RunOptions, run_specs
from unic_bench.run.spec import RunRequest, parse_set, resolve


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--task", default="clustering", choices=["clustering", "gcd"])
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--grid", nargs="*", default=[], help="key=v1,v2 ... (UNIC params)")
    parser.add_argument("--set", nargs="*", default=[], help="fixed key=value params")
    args = parser.parse_args()
    axes = {item.split("=", 1)[0]: item.split("=", 1)[1].split(",") for item in args.grid}
    fixed = parse_set(args.set)
    seeds = [int(s) for s in args.seeds.split(",")]
    results = Path(tempfile.mkdtemp(prefix="unic-sweep-"))
    print(f"| {' | '.join(axes) or 'setting'} | ACC mean ± std | per seed |")
    for values in itertools.product(*axes.values()):
        params = {**fixed, **parse_set(f"{k}={v}" for k, v in zip(axes, values))}
        request = RunRequest(method="unic", backbone="pixels", dataset="digits", task=args.task, seeds=seeds, set=params)
        outcomes = run_specs(resolve(request, get_host()), RunOptions(device="cpu", results_dir=results, overwrite="always"))
        key = "acc" if args.task == "clustering" else "all"
        accs = np.array([o.record.metrics[key] for o in outcomes]) * 100
        print(
            f"| {' | '.join(values) or '-'} | {accs.mean():.1f} ± {accs.std(ddof=1):.1f} | {', '.join(f'{a:.1f}' for a in accs)} |",
            flush=True,
        )


if __name__ == "__main__":
    main()
