"""``unic-bench sweep | status | suites``, and ``run`` without ``--dataset`` (the task's paper suite).

Everything is validated before anything is submitted: names and parameters of every spec, the
launcher, the datasets and weights files the specs need (one block listing each missing item
with where to put it and where to get it, exit 2). Heavy imports happen inside the commands, so
``unic-bench --help`` stays light.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Optional

import typer

from unic_bench.errors import BenchError

if TYPE_CHECKING:
    from unic_bench.plugins.host import PluginHost
    from unic_bench.run.spec import RunSpec
    from unic_bench.sweep.grid import Expansion, LauncherSettings
    from unic_bench.sweep.manifest import JobOptions
    from unic_bench.sweep.needs import Needs

RESULTS_HELP = "Results folder: records in RESULTS/runs/, sweeps in RESULTS/sweeps/<id>/."


def _echo(text: str) -> None:
    typer.echo(text)


def _abs(path: Any) -> str | None:
    return str(Path(path).expanduser().resolve()) if path else None


def job_options(values: dict[str, Any]) -> JobOptions:
    """The run flags a job needs, with absolute paths (jobs start in another folder)."""
    from unic_bench.sweep.manifest import JobOptions

    return JobOptions(
        results_dir=_abs(values.get("results") or "results") or "results",
        device=str(values.get("device") or "auto"),
        data_root=_abs(values.get("data_root")),
        cache_dir=_abs(values.get("cache_dir")),
        splits_dir=_abs(values.get("splits_dir")),
        weights=_abs(values.get("weights")),
        batch_size=int(values.get("batch_size") or 256),
        workers=int(values.get("workers") or 0),
    )


def _needs_or_exit(specs: list[RunSpec], host: PluginHost, options: JobOptions, what: str, skip_missing: bool) -> list[RunSpec]:
    """The specs that can run; the missing-items block (exit 2) unless ``--skip-missing``."""
    from unic_bench.sweep.needs import check_needs

    needs: Needs = check_needs(
        specs,
        host,
        Path(options.data_root) if options.data_root else None,
        Path(options.splits_dir) if options.splits_dir else None,
    )
    if not needs.missing:
        return specs
    if not skip_missing:
        raise BenchError(needs.block(what))
    runnable = needs.runnable(specs)
    for item in needs.missing:
        _echo(f"skipped (--skip-missing), missing {item.kind} '{item.name}': put it at {item.put}; get it from {item.get}")
    _echo(f"running {len(runnable)} of {len(specs)} runs")
    return runnable


def run_suite(values: dict[str, Any], suite_name: str | None, skip_missing: bool) -> None:
    """``run --method M --backbone B [--task T]`` without ``--dataset``: the task's suite datasets."""
    from unic_bench.cli.app import _console, _print_outcome, _print_summary
    from unic_bench.cli.progress import rich_progress
    from unic_bench.plugins.host import get_host
    from unic_bench.run.protocol import Runner
    from unic_bench.sweep.jobs import run_options
    from unic_bench.sweep.suites import TASK_SUITES, get_suite

    host = get_host()
    task = values.get("task") or "clustering"
    if task not in TASK_SUITES:
        raise BenchError(f"unknown task '{task}' (valid: {', '.join(TASK_SUITES)})")
    suite = get_suite(suite_name or TASK_SUITES[task])
    method, backbone = host.methods.canonical(values["method"]), host.backbones.canonical(values["backbone"])
    entries = [e for e in suite.entries if e.task == task]
    if not entries:
        raise BenchError(f"suite '{suite.name}' has no {task} datasets (its tasks: {', '.join(suite.tasks)})")
    with_backbone = [e for e in entries if backbone in e.backbones] or entries  # another backbone: all datasets
    datasets = list(dict.fromkeys(e.dataset for e in with_backbone))
    from unic_bench.run.spec import RunRequest, resolve

    weights = Path(values["weights"]) if values.get("weights") else None
    specs = [
        spec
        for dataset in datasets
        for spec in resolve(
            RunRequest(
                method=method,
                backbone=backbone,
                dataset=dataset,
                task=task,
                seeds=values.get("seeds", [0]),
                set=values.get("set") or {},
                gcd_metric=values.get("gcd_metric", "v2"),
                weights=weights,
            ),
            host,
        )
    ]
    options = job_options(values)
    what = f"`run --method {method} --backbone {backbone} --task {task}` (suite '{suite.name}': {', '.join(datasets)})"
    specs = _needs_or_exit(specs, host, options, what, skip_missing)
    if not specs:
        raise BenchError(f"nothing to run: every dataset or weights file of suite '{suite.name}' is missing")
    run_opts = run_options(options)
    run_opts.overwrite = values.get("overwrite", "only-missing")
    run_opts.progress = rich_progress
    console = _console()
    outcomes = Runner(run_opts, host).run(specs, on_outcome=lambda out: _print_outcome(console, out))
    for dataset in datasets:  # mean ± std over the seeds of each dataset, never across datasets
        if group := [o for o in outcomes if o.spec.dataset == dataset]:
            _print_summary(console, group)


def _settings(expansion: Expansion, flags: dict[str, Any], sbatch: list[str] | None) -> LauncherSettings:
    from pydantic import ValidationError

    from unic_bench.api.component import describe_validation_error
    from unic_bench.sweep.grid import LauncherSettings

    update = {k: v for k, v in flags.items() if v is not None}
    if sbatch:
        update["sbatch"] = [*expansion.launcher.sbatch, *sbatch]
    try:
        return LauncherSettings(**{**expansion.launcher.model_dump(), **update})
    except ValidationError as exc:
        raise BenchError(describe_validation_error(exc, LauncherSettings, "the launcher")) from None


def _launch(
    folder: Path, launcher: str, specs: list[RunSpec], options: JobOptions, settings: LauncherSettings, jobs: int, wait: bool
) -> Any:
    if launcher == "local":
        from unic_bench.sweep.local import run_local

        return run_local(folder, specs, options, jobs)
    from unic_bench.sweep.slurm import submit

    return submit(folder, specs, options, settings, "slurm" if launcher == "slurm" else "local", wait)


def _print_plan(expansion: Expansion, done: list[RunSpec], pending: list[RunSpec], options: JobOptions) -> None:
    from unic_bench.plugins.host import get_host
    from unic_bench.sweep.jobs import group_by_features, uncached_splits

    _echo(
        f"sweep {expansion.sweep_id} ({expansion.source}): {len(expansion.specs)} runs, {len(done)} done, {len(pending)} to run"
    )
    for note in expansion.notes:
        _echo(f"note: {note}")
    extractions = [
        f"{unit.label} ({', '.join(splits)})"
        for unit, group in group_by_features(pending).items()
        if (splits := uncached_splits(unit, group, options))
    ]
    _echo(f"feature extractions needed: {len(extractions)}" + "".join(f"\n  - {e}" for e in extractions))
    host = get_host()
    for spec in pending:
        method = host.methods.get(spec.method)
        defaults = method.validate_params(method.defaults_for(spec.dataset, spec.task)).model_dump(mode="json")
        changed = ", ".join(f"{k}={v}" for k, v in sorted(spec.method_params.items()) if defaults.get(k) != v)
        _echo(
            f"  run {spec.run_id}: {spec.method} | {spec.backbone} | {spec.dataset} | {spec.task} | seed {spec.seed}"
            + (f"  [{changed}]" if changed else "")
        )


def wait_for(folder: Path, results_dir: Path, poll_s: float = 2.0) -> None:
    """Block until no spec of the sweep is queued or running."""
    from unic_bench.sweep.manifest import read_manifest
    from unic_bench.sweep.status import spec_statuses

    while True:
        manifest = read_manifest(folder)
        statuses = spec_statuses(manifest.specs, results_dir, folder, manifest)
        if not any(s.state in ("queued", "running") for s in statuses):
            return
        time.sleep(poll_s)


def register(app: typer.Typer) -> None:
    """Add ``sweep``, ``status`` and ``suites`` to the CLI (called once from cli/app.py)."""
    app.command()(sweep)
    app.command()(status)
    app.command()(suites)


def sweep(
    target: Annotated[
        str, typer.Argument(help="A grid file (YAML) or a suite name (`unic-bench suites`).", metavar="GRID.yaml|SUITE")
    ],
    launcher: Annotated[str, typer.Option(help="local | slurm | submitit-local (submitit's local executor, no SLURM)")] = "local",
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Print the plan (runs, done, extractions) and stop.")] = False,
    jobs: Annotated[int, typer.Option(help="local: runs at once (one process each).", min=1)] = 1,
    seeds: Annotated[Optional[str], typer.Option(help="Seeds, e.g. 0,1,2 (default: the grid's; suites 0,1,2).")] = None,
    set_: Annotated[Optional[list[str]], typer.Option("--set", help="key=value added to every run (as for `run`).")] = None,
    results: Annotated[Path, typer.Option(help=RESULTS_HELP)] = Path("results"),
    data_root: Annotated[Optional[Path], typer.Option(help="Where datasets live (or $UNIC_BENCH_DATA).")] = None,
    cache_dir: Annotated[Optional[Path], typer.Option(help="Feature cache (default ~/.cache/unic-bench).")] = None,
    splits_dir: Annotated[Optional[Path], typer.Option(help="Local copies of the class lists.")] = None,
    weights: Annotated[Optional[Path], typer.Option(help="Weights file replacing the backbones' official ones.")] = None,
    device: Annotated[str, typer.Option(help="auto | cpu | cuda[:N]")] = "auto",
    batch_size: Annotated[int, typer.Option(help="Feature-extraction batch size.")] = 256,
    workers: Annotated[int, typer.Option(help="DataLoader workers for feature extraction.")] = 0,
    skip_missing: Annotated[bool, typer.Option("--skip-missing", help="Run what is there; list what is skipped.")] = False,
    wait: Annotated[bool, typer.Option("--wait", help="slurm: return only when every job has ended.")] = False,
    partition: Annotated[Optional[str], typer.Option(help="SLURM partition.")] = None,
    gpus_per_job: Annotated[Optional[int], typer.Option(help="GPUs per job (0: none asked).")] = None,
    cpus_per_job: Annotated[Optional[int], typer.Option(help="CPUs per job.")] = None,
    mem: Annotated[Optional[str], typer.Option(help="Memory per job, e.g. 32G.")] = None,
    time_: Annotated[Optional[int], typer.Option("--time", help="Time limit per job, minutes.")] = None,
    account: Annotated[Optional[str], typer.Option(help="SLURM account.")] = None,
    qos: Annotated[Optional[str], typer.Option(help="SLURM QOS.")] = None,
    constraint: Annotated[Optional[str], typer.Option(help="SLURM node constraint.")] = None,
    sbatch: Annotated[
        Optional[list[str]], typer.Option(help="Extra #SBATCH line, e.g. --sbatch=--exclusive (repeatable).")
    ] = None,
    array_parallelism: Annotated[Optional[int], typer.Option(help="Array tasks running at once.")] = None,
    runs_per_job: Annotated[Optional[int], typer.Option(help="Specs packed into one array task (short runs).")] = None,
) -> None:
    """Expand a grid or suite into runs, validate them all, skip finished ones, and run the rest."""
    from unic_bench.plugins.host import get_host
    from unic_bench.run.protocol import Runner
    from unic_bench.run.records import read_record, record_path
    from unic_bench.run.spec import parse_seeds, parse_set
    from unic_bench.sweep.grid import expand
    from unic_bench.sweep.jobs import run_options
    from unic_bench.sweep.manifest import Manifest, check_launcher, read_manifest, sweep_dir, write_manifest
    from unic_bench.sweep.slurm import check_available

    check_launcher(launcher)
    if launcher != "local":
        check_available("slurm" if launcher == "slurm" else "local")
    host = get_host()
    expansion = expand(target, host, parse_seeds(seeds) if seeds else None, parse_set(set_ or []))
    flags = {
        "partition": partition,
        "gpus_per_job": gpus_per_job,
        "cpus_per_job": cpus_per_job,
        "mem": mem,
        "time": time_,
        "account": account,
        "qos": qos,
        "constraint": constraint,
        "array_parallelism": array_parallelism,
        "runs_per_job": runs_per_job,
    }
    settings = _settings(expansion, flags, sbatch)
    values = {
        "results": results,
        "data_root": data_root,
        "cache_dir": cache_dir,
        "splits_dir": splits_dir,
        "weights": weights,
        "device": device,
        "batch_size": batch_size,
        "workers": workers,
    }
    options = job_options(values)
    needed = _needs_or_exit(expansion.specs, host, options, f"sweep '{expansion.name}'", skip_missing)
    # a folder dataset's run id holds its images' fingerprint (Runner.identified): records, states
    # and the manifest use that id, or status would look for the run under the plain one
    runner = Runner(run_options(options), host)
    identity = {spec.run_id: runner.identified(spec) for spec in needed}
    specs = list(identity.values())
    results_dir = Path(options.results_dir)
    done = [s for s in specs if read_record(record_path(results_dir, s)) is not None]
    pending = [s for s in specs if s not in done]
    if dry_run:
        _print_plan(expansion, done, pending, options)
        return
    folder = sweep_dir(results_dir, expansion.sweep_id)
    previous = read_manifest(folder) if (folder / "manifest.json").is_file() else None
    manifest = Manifest(
        sweep_id=expansion.sweep_id,
        name=expansion.name,
        source=expansion.source,
        launcher=launcher,
        settings=settings,
        options=options,
        specs=[identity.get(spec.run_id, spec) for spec in expansion.specs],
        submissions=previous.submissions if previous else [],
    )
    write_manifest(folder, manifest)
    for note in expansion.notes:
        _echo(f"note: {note}")
    _echo(f"sweep {expansion.sweep_id}: {len(expansion.specs)} runs, {len(done)} done, {len(pending)} to run ({launcher})")
    if pending:
        submission = _launch(folder, launcher, pending, options, settings, jobs, wait)
        manifest.submissions.append(submission)
        write_manifest(folder, manifest)
        if submission.jobs:
            arrays = sorted({j.split("_")[0] for j in submission.jobs.values()})
            _echo(
                f"submitted: extraction jobs {', '.join(submission.extraction_jobs) or 'none'}; runs in job(s) {', '.join(arrays)}"
            )
        if wait and launcher == "slurm":
            wait_for(folder, results_dir)
    _echo(f"status: unic-bench status --sweep {expansion.sweep_id} --results {results}")


def status(
    target: Annotated[
        Optional[str], typer.Argument(help="A grid file or suite (or use --sweep ID).", metavar="[GRID.yaml|SUITE]")
    ] = None,
    sweep_id: Annotated[Optional[str], typer.Option("--sweep", help="A sweep id (RESULTS/sweeps/<id>).")] = None,
    results: Annotated[Path, typer.Option(help=RESULTS_HELP)] = Path("results"),
    seeds: Annotated[Optional[str], typer.Option(help="Seeds, as given to `sweep`.")] = None,
    set_: Annotated[Optional[list[str]], typer.Option("--set", help="key=value, as given to `sweep`.")] = None,
    retry_failed: Annotated[bool, typer.Option("--retry-failed", help="Resubmit exactly the failed runs.")] = False,
    wait: Annotated[bool, typer.Option("--wait", help="With --retry-failed: return when the retried jobs end.")] = False,
    jobs: Annotated[int, typer.Option(help="local retries: runs at once.", min=1)] = 1,
) -> None:
    """For every run of a sweep: done / queued / running / failed / missing. Exit 0 only when all are done."""
    from unic_bench.plugins.host import get_host
    from unic_bench.run.spec import parse_seeds, parse_set
    from unic_bench.sweep.grid import expand
    from unic_bench.sweep.manifest import clear_state, find_sweep, read_manifest, sweep_dir, write_manifest
    from unic_bench.sweep.status import spec_statuses, summary

    results_dir = Path(_abs(results) or results)
    if (target is None) == (sweep_id is None):
        raise BenchError("give a grid file or suite, or --sweep ID (one of them)")
    if sweep_id is not None:
        folder: Path | None = find_sweep(results_dir, sweep_id)
    else:
        expansion = expand(str(target), get_host(), parse_seeds(seeds) if seeds else None, parse_set(set_ or []))
        candidate = sweep_dir(results_dir, expansion.sweep_id)
        folder = candidate if (candidate / "manifest.json").is_file() else None
        specs = expansion.specs
    manifest = read_manifest(folder) if folder is not None else None
    if manifest is not None:
        specs = manifest.specs
    statuses = spec_statuses(specs, results_dir, folder, manifest)
    for s in statuses:
        spec = s.spec
        line = f"{s.state:8} {spec.run_id}  {spec.method} | {spec.backbone} | {spec.dataset} | {spec.task} | seed {spec.seed}"
        if s.job_id:
            line += f"  job {s.job_id}"
        if s.state == "failed":
            line += f"\n         error: {s.error or '?'}\n         log: {s.log or '-'}"
        _echo(line)
    _echo(summary(statuses))
    failed = [s.spec for s in statuses if s.state == "failed"]
    if retry_failed and failed:
        if manifest is None or folder is None:
            raise BenchError("--retry-failed needs a sweep (its manifest holds the launcher); none was launched for this grid")
        for spec in failed:
            clear_state(folder, spec.run_id)
        submission = _launch(folder, manifest.launcher, failed, manifest.options, manifest.settings, jobs, wait)
        submission.retry = True
        manifest.submissions.append(submission)
        write_manifest(folder, manifest)
        _echo(
            f"retried {len(failed)} failed run(s)"
            + (f" in job(s) {', '.join(sorted(set(submission.jobs.values())))}" if submission.jobs else "")
        )
        if wait and manifest.launcher == "slurm":
            wait_for(folder, results_dir)
        statuses = spec_statuses(specs, results_dir, folder, manifest)
        _echo(summary(statuses))
    if not all(s.state == "done" for s in statuses):
        raise typer.Exit(1)


def suites() -> None:
    """List the built-in suites: task, datasets, methods, backbones, and the rows they cannot express."""
    from unic_bench.plugins.host import get_host
    from unic_bench.sweep.suites import SUITES, TASK_SUITES

    host = get_host()
    defaults = {name: task for task, name in TASK_SUITES.items()}
    for suite in SUITES.values():
        available, notes = suite.available(host)
        default = f"  [default for `run --task {defaults[suite.name]}` without --dataset]" if suite.name in defaults else ""
        _echo(f"{suite.name}: {suite.description}{default}")
        _echo(f"  tasks: {', '.join(suite.tasks)}; datasets: {', '.join(suite.datasets)}")
        _echo(f"  methods: {', '.join(available.methods)}; backbones: {', '.join(suite.backbones)}")
        for entry in suite.entries:
            for variant in entry.variants:
                if variant.label:
                    params = ", ".join(f"{k}={v}" for k, v in variant.params.items()) or "defaults"
                    _echo(f"  row '{variant.label}': {variant.method} ({params}) on {', '.join(entry.backbones)}")
        for note in notes:
            _echo(f"  note: {note}")
        for row in suite.not_expressible:
            _echo(f"  not expressible: {row}")
