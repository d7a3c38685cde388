"""Fill the views cache ahead of runs (long extractions in the background), exactly as a run would.

    python scripts/extract_views.py --backbone efficientnet-lite0 --dataset fashion-mnist \
        --set backbone.img_size=112 --set dataset.n_train=10000 --views weak=2 --views strong=1

The plain features of the fit split are extracted too (a run needs them first). The keys are
those a run of the same backbone/dataset/params looks up (the method plays no part in them).
"""

from __future__ import annotations

import argparse

from unic_bench.api.views import VIEW_TRANSFORMS
from unic_bench.errors import BenchError
from unic_bench.plugins.host import get_host
from unic_bench.run.protocol import Runner, RunOptions
from unic_bench.run.spec import RunRequest, parse_set, resolve


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backbone", required=True)
    parser.add_argument("--dataset", required=True)
    parser.add_argument("--task", default="clustering", choices=("clustering", "gcd"))
    parser.add_argument("--set", action="append", default=[], help="backbone.x=... / dataset.x=...")
    parser.add_argument("--views", action="append", default=[], help="TRANSFORM=COUNT, e.g. weak=2")
    parser.add_argument("--view-seed", type=int, default=0)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--batch-size", type=int, default=256)
    args = parser.parse_args()

    method = "kmeans" if args.task == "clustering" else "ss-kmeans"  # any method: views do not depend on it
    request = RunRequest(method=method, backbone=args.backbone, dataset=args.dataset, task=args.task, set=parse_set(args.set))
    spec = resolve(request, get_host())[0]
    provider = Runner(RunOptions(device=args.device, batch_size=args.batch_size)).view_provider(spec)
    for item in args.views:
        transform, _, count = item.partition("=")
        if transform not in VIEW_TRANSFORMS or not count.isdigit():
            raise BenchError(f"invalid --views '{item}': expected weak=N or strong=N")
        provider(transform, int(count), args.view_seed)  # type: ignore[arg-type]
    for served in provider.drain():
        print(served["transform"], served["count"], served["keys"], f"{served['extract_s']} s")


if __name__ == "__main__":
    main()
