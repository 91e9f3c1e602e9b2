"""`vlmbench`: check this machine, list models and tasks, run the demo, evaluate models on tasks, list,
compare and export past results, open the UI, serve models over HTTP.

The CLI parses arguments and prints; running the evaluations is `vlm_pipelines.defs.runner`'s job.
A user error is one line on stderr and a non-zero exit code; `--debug` shows the traceback.
"""

from __future__ import annotations

import argparse
import atexit
import contextlib
import gc
import json
import logging
import os
import signal
import socket
import sys
import textwrap
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NoReturn

from vlm_pipelines import settings

STARTED = time.monotonic()  # the console script's start: this is the first module it imports

WRAP = 100
EXIT_INTERRUPTED = 130


class UsageError(Exception):
    """A bad argument: printed without a traceback, exit code 2."""


# Errors that are the user's to fix, by the module that defines them.
USER_ERRORS = {
    "model_interface": ("ModelParamsError", "ModelUnavailableError", "UnknownModelError"),
    "vlm_pipelines.registry_files": ("RegistryError",),
    "vlm_pipelines.model_registry": ("ModelNotRunnableError",),
    "vlm_pipelines.evaluation.steps": ("DatasetError",),
    "vlm_pipelines.release": ("ReleaseError",),
    "vlm_pipelines.release_env": ("TagEnvironmentError",),
    "vlm_pipelines.deploy.submit": ("DeploymentError",),
    "vlm_pipelines.benchmarks": ("BenchmarkError",),
}


def _user_errors() -> tuple[type[BaseException], ...]:
    """Errors that are the user's to fix: printed as one line, exit code 1. Taken only from modules already
    imported (an error comes from a module that was loaded), so that reporting one imports nothing: a GPU host
    that carries only the model packages has no polars or Dagster for the rest."""
    errors: list[type[BaseException]] = [FileNotFoundError]
    for module_name, names in USER_ERRORS.items():
        module = sys.modules.get(module_name)
        if module is not None:
            errors.extend(getattr(module, name) for name in names)
    return tuple(errors)


def _wrapped(text: str, indent: str = "    ") -> str:
    return textwrap.fill(text, WRAP, initial_indent=indent, subsequent_indent=indent)


# --- doctor / models / tasks ---------------------------------------------------------------------


def cmd_doctor(args: argparse.Namespace) -> int:
    from model_interface import discover

    from vlm_pipelines.components import COMPONENTS, probe

    print("System components")
    for name, component in COMPONENTS.items():
        state = probe(name)
        print(f"  [{'ok' if state.ok else '--'}] {component.title}: {state.detail}")
        print(_wrapped(f"enables: {component.enables}", "         "))
        if not state.ok:
            print(_wrapped(f"fix: {component.install}", "         "))
    print("\nModels (weights, dependencies) and what their `auto` settings resolve to here")
    for model_id, spec in discover().items():
        availability = spec.availability()
        print(f"  [{'ok' if availability.ok else '--'}] {model_id} ({spec.package} {spec.version})")
        if not availability.ok:
            print(_wrapped(f"fix: {availability.reason}", "         "))
        elif availability.reason:
            print(_wrapped(availability.reason, "         "))
        if availability.ok:
            resolution = spec.resolution()
            if resolution.settings:
                print(_wrapped(f"resolves to: {resolution.summary()}", "         "))
            for limitation in resolution.limitations:
                print(_wrapped(f"cannot: {limitation}", "         "))
    return 0


def cmd_models(args: argparse.Namespace) -> int:
    import warnings

    from model_interface import discover
    from model_interface.registry import discovery_errors

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # failed packages are listed below instead
        specs = discover()
    for model_id, spec in specs.items():
        availability = spec.availability()
        print(
            f"{model_id}  ({spec.package} {spec.version}, {spec.modality})  runs here: {'yes' if availability.ok else 'no'}"
        )
        print(_wrapped(spec.description))
        if not availability.ok:
            print(_wrapped(f"why not: {availability.reason}"))
        else:
            for limitation in spec.resolution().limitations:
                print(_wrapped(f"note: {limitation}"))
    for name, error in discovery_errors().items():
        print(f"warning: model package {name} failed to register: {error}", file=sys.stderr)
    print_entries_waiting_for_packages()
    return 0


def print_entries_waiting_for_packages() -> None:
    """The registry entries whose model comes with an optional package that is not installed."""
    from vlm_pipelines.model_registry import OPTIONAL_MODEL_PACKAGES, load_model_registry

    waiting: dict[tuple[str, ...], list[str]] = {}
    for error in load_model_registry().not_installed:
        waiting.setdefault(error.needs, []).append(str(error.name))
    for needs, entries in waiting.items():
        install = " or ".join(f"uv sync --extra {OPTIONAL_MODEL_PACKAGES[package]}" for package in needs)
        text = (
            f"not installed: {', '.join(needs)}, for {len(entries)} registry entries ({', '.join(entries)}); "
            f"install: {install}"
        )
        print(textwrap.fill(text, WRAP, subsequent_indent="    "))


def cmd_tasks(args: argparse.Namespace) -> int:
    from vlm_pipelines.tasks import load_task_registry

    registry = load_task_registry()
    for name, task in registry.items():
        source = task.dataset.path or (
            f"synthetic {task.dataset.synthetic.variant} ({task.dataset.synthetic.language}, "
            f"{task.dataset.synthetic.n_documents} documents)"
        )
        print(f"{name}  [{task.answer_type}]  {source}")
        print(
            _wrapped(f"metrics: {', '.join(task.metrics)}; max_new_tokens {task.generation.max_new_tokens}")
        )
        if task.description:
            print(_wrapped(task.description))
    for error in registry.errors:
        print(f"BROKEN {error}")
    return 1 if registry.errors else 0


# --- overrides -----------------------------------------------------------------------------------


def parse_pairs(pairs: Sequence[str], option: str) -> dict[str, Any]:
    """`KEY=VALUE` pairs; values are read as YAML scalars (`2`, `true`, `[a, b]`)."""
    import yaml

    values: dict[str, Any] = {}
    for pair in pairs:
        key, equals, value = pair.partition("=")
        if not equals or not key.strip():
            raise UsageError(f"{option} expects KEY=VALUE, got {pair!r}")
        try:
            values[key.strip()] = yaml.safe_load(value)
        except yaml.YAMLError:
            values[key.strip()] = value
    return values


def set_task_fields(task, pairs: Sequence[str]):
    """The task with `--set dotted.key=value` overrides, validated like a registry entry: a task of its own
    (`vlm_pipelines.variants`), so it never takes over the registry entry or another task's name."""
    from vlm_pipelines.tasks import load_task_registry
    from vlm_pipelines.tasks.registry import parse_task
    from vlm_pipelines.variants import VariantError, task_variant

    if not pairs:
        return task
    entry = task.model_dump(exclude_none=True)
    for key, value in parse_pairs(pairs, "--set").items():
        parts = key.split(".")
        node = entry
        for part in parts[:-1]:
            if not isinstance(node.get(part, {}), dict):
                raise UsageError(f"--set {key}: {part!r} is not a mapping in task {task.name!r}")
            node = node.setdefault(part, {})
        node[parts[-1]] = value
    changed = parse_task(entry, f"task {task.name!r} with --set {' '.join(pairs)}")
    try:
        return task_variant(task, changed, dict(load_task_registry().items()))
    except VariantError as error:
        raise UsageError(str(error)) from None


def with_generation(entry, pairs: Sequence[str]):
    from pydantic import ValidationError

    from vlm_pipelines.model_registry import GENERATION_KEYS

    if not pairs:
        return entry
    changes = parse_pairs(pairs, "--gen")
    unknown = sorted(set(changes) - set(GENERATION_KEYS))
    if unknown:
        raise UsageError(f"--gen: unknown key(s) {unknown}; use {', '.join(GENERATION_KEYS)}")
    if isinstance(changes.get("stop"), str):
        changes["stop"] = [changes["stop"]]
    try:
        return entry.with_generation(changes)
    except ValidationError as error:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in error.errors())
        raise UsageError(f"--gen: {problems}") from None


# --- evaluation runs -----------------------------------------------------------------------------


def print_step(outcome) -> None:
    if outcome.ok:
        print(f"ok   {outcome.label} ({outcome.seconds:.1f}s, run {outcome.run_id[:8]})", flush=True)
    else:
        print(f"FAIL {outcome.label} ({outcome.seconds:.1f}s): {outcome.message}", flush=True)


def _number(value: Any, digits: int = 2) -> Any:
    return round(float(value), digits) if isinstance(value, int | float) else value


def dataset_warnings(report) -> list[str]:
    """'<task>: <warning>' for each warning of the dataset records this run made (a low-confidence
    encoding guess, NUL characters removed, conflicting duplicates)."""
    from vlm_pipelines.evaluation import dataset_record, default_paths

    paths = default_paths()
    warnings = []
    for step in report.steps:
        if step.kind == "dataset" and "dataset" in step.records:
            record = dataset_record(step.records["dataset"], paths)
            warnings += [f"{step.task}: {warning}" for warning in (record.warnings if record else [])]
    return warnings


def summary_tables(report) -> tuple[Any, Any]:
    """(datasets, evaluations) tables of a run report, read from the records its steps made."""
    import polars as pl

    from vlm_pipelines.evaluation import dataset_record, default_paths, load_manifest

    paths = default_paths()
    datasets, evaluations = [], []
    for step in report.steps:
        if step.kind == "dataset":
            # only the records this run made (a deployment's runs leave theirs on the deployment)
            record = dataset_record(step.records["dataset"], paths) if "dataset" in step.records else None
            datasets.append(
                {
                    "task": step.task,
                    "status": "ok" if step.ok else "FAILED",
                    "rows": record.rows if record else None,
                    "read": record.records if record else None,
                    "quarantined": record.quarantined if record else None,
                    "quarantine reasons": record.reasons_text() if step.ok and record else step.message,
                }
            )
        elif step.kind == "evaluate":
            manifest_id = step.records.get("predictions")
            manifest = load_manifest(paths, step.model, step.task, manifest_id) if manifest_id else None
            runs = manifest.runs if manifest else []
            figures = next((run for run in reversed(runs) if run.run_id == step.run_id), None)
            evaluations.append(
                {
                    "model": step.model,
                    "task": step.task,
                    "status": "ok" if step.ok else "FAILED",
                    "samples": manifest.sample_set.n if manifest else None,
                    "computed": figures.computed if figures else None,
                    "reused": figures.reused if figures else None,
                    "model load s": _number(figures.load_s, 1) if figures else None,
                    "samples/s": _number(figures.samples_per_s) if figures else None,
                    "end-to-end samples/s": _number(figures.end_to_end_samples_per_s) if figures else None,
                }
            )
    return pl.DataFrame(datasets), pl.DataFrame(evaluations)


def print_summary(report) -> None:
    from vlm_pipelines.reports.tables import markdown_table

    datasets, evaluations = summary_tables(report)
    if datasets.height:
        print("\nDatasets (rows read, quarantined and why):\n")
        print(markdown_table(datasets).rstrip())
        warnings = dataset_warnings(report)
        if warnings:
            print("\nDataset warnings:\n")
            for warning in warnings:
                print(textwrap.fill(warning, WRAP, initial_indent="- ", subsequent_indent="  "))
    if evaluations.height:
        print("\nPredictions (load time, generation throughput and end-to-end rate are measured apart):\n")
        print(markdown_table(evaluations).rstrip())


def print_leaderboard() -> None:
    from vlm_pipelines.evaluation import default_paths
    from vlm_pipelines.reports.leaderboard import JSON_NAME, console_text

    folder = default_paths().leaderboard
    board = json.loads((folder / JSON_NAME).read_text(encoding="utf-8"))
    print()
    print(console_text(board))
    print_leaderboard_paths()


def print_leaderboard_paths() -> None:
    """Where the leaderboard and each task's sample explorer are (the explorers as leaderboard.json names them)."""
    from vlm_pipelines.evaluation import default_paths
    from vlm_pipelines.reports.leaderboard import JSON_NAME

    folder = default_paths().leaderboard
    print(f"\nLeaderboard: {folder / 'leaderboard.html'} (Markdown: {folder / 'leaderboard.md'})")
    with contextlib.suppress(OSError, ValueError):  # no leaderboard written yet: nothing more to show
        board = json.loads((folder / JSON_NAME).read_text(encoding="utf-8"))
        explorers = [section["explorer"] for section in board.get("sections", []) if section.get("explorer")]
        if explorers:
            print("Sample explorers: " + ", ".join(explorers))


def runner_for(args: argparse.Namespace):
    if getattr(args, "deployment", None):
        from vlm_pipelines.deploy.submit import DeploymentRunner

        return DeploymentRunner(args.deployment.rstrip("/"))
    from vlm_pipelines.defs.runner import InProcessRunner

    return InProcessRunner(quiet=args.quiet, debug=args.debug)


def refuse_local_overrides(args: argparse.Namespace) -> None:
    """A deployment evaluates its own registry entries: local overrides would silently not apply."""
    given = [option for option, value in (("--dataset", getattr(args, "dataset", None)),
             ("--model-param", getattr(args, "model_param", None)), ("--gen", getattr(args, "gen", None)),
             ("--set", args.set), ("--encoding", getattr(args, "encoding", None)),
             ("--seed", getattr(args, "seed", None) is not None)) if value]  # fmt: skip
    if given:
        raise UsageError(
            f"{given[0]} cannot be sent to a deployment, which evaluates its own registry entries; "
            "add a registry entry (registry/models, registry/tasks) to the deployment instead"
        )
    for option in ("output", "mlflow"):
        if getattr(args, option, None):
            raise UsageError(f"--{option} cannot be used with --deployment: the runs and results stay there")


def run_plan(runner, models: dict, tasks: dict, args: argparse.Namespace, only: dict | None = None):
    from vlm_pipelines.defs.runner import EvaluationPlan

    plan = EvaluationPlan(
        models,
        tasks,
        max_samples=args.max_samples,
        batch_size=getattr(args, "batch_size", None),
        only=only or {},
    )
    report = runner.run(plan, print_step)
    print_summary(report)
    return report


def print_resolutions(models: dict) -> None:
    """Which engine, dtype and device each model will use here, and what it cannot read."""
    from model_interface import get_spec

    for name, entry in models.items():
        resolution = get_spec(entry.model).resolution(entry.params)
        print(
            textwrap.fill(
                f"{name}: {resolution.summary() or 'nothing to resolve'}",
                WRAP,
                initial_indent="  ",
                subsequent_indent="      ",
            )
        )
        for limitation in resolution.limitations:
            print(_wrapped(f"! {limitation}", "      "))


def _warn_registry_errors(*registries) -> None:
    """One line per broken entry; entries waiting for an optional package are listed by `vlmbench models`."""
    for registry in registries:
        for error in registry.broken:
            print(f"warning: skipped a broken registry entry: {error}", file=sys.stderr)


def cmd_demo(args: argparse.Namespace) -> int:
    from vlm_pipelines.defs.runner import prepare_dagster_home
    from vlm_pipelines.evaluation import ensure_runnable
    from vlm_pipelines.model_registry import load_model_registry
    from vlm_pipelines.tasks import load_task_registry

    model_registry, task_registry = load_model_registry(), load_task_registry()
    _warn_registry_errors(model_registry, task_registry)
    models = {name: entry for name, entry in model_registry.items() if entry.demo}
    chosen = names(args.model)
    if chosen:
        unknown = sorted(set(chosen) - set(models))
        if unknown:
            raise UsageError(f"--model {unknown[0]!r} is not a demo model; demo models: {', '.join(models)}")
        models = {name: entry for name, entry in models.items() if name in chosen}
    tasks = {name: task for name, task in task_registry.items() if task.demo}
    if not models or not tasks:
        raise UsageError("no demo models or tasks: mark registry entries with `demo: true`")
    tasks = {name: set_task_fields(task, args.set) for name, task in tasks.items()}
    only = demo_tasks_of(models, tasks)
    runner = runner_for(args)
    if args.deployment:
        refuse_local_overrides(args)
        print(
            f"vlmbench demo: {len(models)} models x {len(tasks)} tasks, submitted to {args.deployment}",
            flush=True,
        )
        report = run_plan(runner, models, tasks, args, only)
        print(f"Leaderboard: {args.deployment.rstrip('/')}/assets/leaderboard")
        return 1 if report.failures else 0
    variants = seeded(models, args.seed)  # --seed: each model a variant of its own, under a new name
    renamed = dict(zip(models, variants, strict=True))
    only = {renamed[name]: tasks_ for name, tasks_ in only.items()}
    models = variants
    for entry in models.values():
        ensure_runnable(entry)
    runner.start_loading(models)
    print(
        f"vlmbench demo: {len(models)} models x {len(tasks)} tasks, at most {args.max_samples} samples per task\n"
        f"  tasks:  {', '.join(tasks)}\n  DAGSTER_HOME: {prepare_dagster_home()}\n"
        "  models, and what their `auto` settings resolve to on this machine:",
        flush=True,
    )
    print_resolutions(models)
    for name, chosen in only.items():
        print(
            _wrapped(
                f"{name} runs on {', '.join(sorted(chosen)) or 'no task'} only in the demo (its registry entry's "
                f"`demo` list); `vlmbench run --model {name} --task <task>` evaluates it on the others",
                "  ",
            ),
            flush=True,
        )
    report = run_plan(runner, models, tasks, args, only)
    print_leaderboard()
    write_output(report, args)
    print("Browse the runs, assets and metadata with: uv run vlmbench dev")
    wall = time.monotonic() - args.started
    print(f"vlmbench demo: done in {int(wall // 60)} min {wall % 60:.0f} s", flush=True)
    return 1 if report.failures else 0


def demo_tasks_of(models: dict, tasks: dict) -> dict[str, frozenset[str]]:
    """The models whose registry entry lists its demo tasks, with those tasks (the others run on all)."""
    only = {name: frozenset(entry.demo) for name, entry in models.items() if isinstance(entry.demo, list)}
    for name, listed in only.items():
        unknown = sorted(listed - set(tasks))
        if unknown:
            raise UsageError(
                f"model registry entry {name!r}: `demo` lists {unknown[0]!r}, which is not a demo task; "
                f"list some of {', '.join(tasks)} or write `demo: true`"
            )
    return only


def names(values: Sequence[str] | None) -> list[str]:
    """Names given as `--x a,b` and/or `--x a --x b`, in order, without repeats."""
    found = [name.strip() for value in values or () for name in value.split(",") if name.strip()]
    return list(dict.fromkeys(found))


def seeded(models: dict, seed: int | None) -> dict:
    """The models with `--seed` as their generation seed: each changed entry is a variant of its own, so a
    different seed is a different result key."""
    from vlm_pipelines.variants import model_variant

    if seed is None:
        return models
    variants = [model_variant(entry, with_generation(entry, [f"seed={seed}"])) for entry in models.values()]
    return {entry.name: entry for entry in variants}


def registry_entry(name: str):
    """The registry entry `name`, or an ad hoc one for a bare model id."""
    from model_interface import UnknownModelError, get_spec

    from vlm_pipelines.model_registry import ad_hoc_model, load_model_registry

    registry = load_model_registry()
    if name in registry:
        return registry[name]
    for error in registry.errors:
        if error.name == name:
            raise error
    try:
        get_spec(name)
    except UnknownModelError as error:
        raise UsageError(f"{error}; registry names: {', '.join(registry)}") from None
    return ad_hoc_model(name)


def model_entry(name: str, model_params: Sequence[str] = ()):
    """The registry entry `name` (or an ad hoc one for a bare model id) with --model-param merged in."""
    from model_interface import get_spec

    entry = registry_entry(name).with_params(parse_pairs(model_params, "--model-param"))
    get_spec(entry.model).validate_params(entry.params)  # bad params: one line, before anything runs
    return entry


def resolve_model_entry(name: str, args: argparse.Namespace):
    """The registry entry (or an ad hoc one for a bare model id) with --model-param, --gen and --seed merged
    in: changed, it is an entry of its own (`vlm_pipelines.variants`), with its own name and results."""
    from vlm_pipelines.variants import model_variant

    seed = [f"seed={args.seed}"] if args.seed is not None else []
    changed = with_generation(model_entry(name, args.model_param), [*args.gen, *seed])
    return model_variant(registry_entry(name), changed)


def run_tasks(args: argparse.Namespace) -> dict:
    """The tasks of `--task a,b` (with --set and --encoding applied), or the task of `--dataset PATH`."""
    from vlm_pipelines.registry_files import RegistryError
    from vlm_pipelines.tasks import load_task_registry, task_for_dataset
    from vlm_pipelines.variants import save_task

    if args.dataset:
        path = Path(args.dataset).expanduser().resolve()
        if not path.exists():
            raise UsageError(f"dataset path {path} does not exist")
        try:
            tasks = [save_task(task_for_dataset(path, metrics=args.metric or None, encoding=args.encoding))]
        except ValueError as error:
            raise UsageError(str(error)) from None
    else:
        registry = load_task_registry()
        try:
            tasks = [registry.require(name) for name in names(args.task)]
        except RegistryError as error:
            raise UsageError(str(error)) from None
    # --encoding is `--set dataset.encoding=NAME` for a registry task (it already is in a --dataset task)
    encoding = [f"dataset.encoding={args.encoding}"] if args.encoding and not args.dataset else []
    changed = [set_task_fields(task, [*args.set, *encoding]) for task in tasks]
    return {task.name: task for task in changed}


def cmd_run(args: argparse.Namespace) -> int:
    from vlm_pipelines.evaluation import ensure_runnable

    if bool(names(args.task)) == bool(args.dataset):
        raise UsageError("give exactly one of --task NAME or --dataset PATH")
    if args.deployment:
        return submit_run(args)
    if args.model_param and len(names(args.model)) > 1:
        raise UsageError("--model-param applies to one model; give one --model, or use registry entries")
    models = {entry.name: entry for entry in (resolve_model_entry(name, args) for name in names(args.model))}
    runner = runner_for(args)
    runner.start_loading(models)  # imports and weights load while the rest is set up
    tasks = run_tasks(args)
    for entry in models.values():
        ensure_runnable(entry)
    print(f"vlmbench run: {', '.join(models)} on {', '.join(tasks)}", flush=True)
    print_resolutions(models)
    report = run_plan(runner, models, tasks, args)
    for result in evaluated_results(report):
        print_result(result, tasks[result.task])
    write_output(report, args)
    print_leaderboard_paths()
    return 1 if report.failures else 0


def evaluated_results(report) -> list:
    """The archived result of each model x task the run evaluated."""
    from vlm_pipelines.evaluation import default_paths
    from vlm_pipelines.evaluation.archive import load_result

    root = default_paths().results
    return [
        load_result(root, step.task, step.model, step.records["sample_metrics"])
        for step in report.steps
        if step.kind == "evaluate" and step.ok and "sample_metrics" in step.records
    ]


def write_output(report, args: argparse.Namespace) -> None:
    """`--output DIR`: the run's results summary (and with `--log-samples` its per-sample JSONL files)."""
    from vlm_pipelines.results import write_run_output

    if not args.output:
        return
    config = {
        "models": list(dict.fromkeys(step.model for step in report.steps if step.kind == "evaluate")),
        "tasks": list(dict.fromkeys(step.task for step in report.steps if step.kind == "dataset")),
        "limit": args.max_samples,
        "batch_size": getattr(args, "batch_size", None),
        "seed": args.seed,
    }
    written = write_run_output(Path(args.output), evaluated_results(report), config, args.log_samples)
    print(
        f"\nOutput: {written[0]}"
        + (f" and {len(written) - 1} per-sample JSONL file(s)" if written[1:] else "")
    )


def submit_run(args: argparse.Namespace) -> int:
    """`vlmbench run --deployment URL`: the deployment's registry entries, evaluated there."""
    from vlm_pipelines.model_registry import load_model_registry

    refuse_local_overrides(args)
    registry = load_model_registry()
    models = names(args.model)
    unknown = [name for name in models if name not in registry]
    if unknown:
        raise UsageError(f"--deployment needs model registry names; registry names: {', '.join(registry)}")
    tasks = names(args.task)
    print(
        f"vlmbench run: {', '.join(models)} on {', '.join(tasks)}, submitted to {args.deployment}", flush=True
    )
    plan_models = {name: registry[name] for name in models}
    report = run_plan(runner_for(args), plan_models, {name: name for name in tasks}, args)
    print(f"Report: {args.deployment.rstrip('/')}/assets/task_report")
    print(f"Leaderboard: {args.deployment.rstrip('/')}/assets/leaderboard")
    return 1 if report.failures else 0


def print_result(result, task) -> None:
    from vlm_pipelines.aggregate import group_scores
    from vlm_pipelines.reports.tables import markdown_table

    scores = result.sample_metrics
    parsed = float(scores["parsed"].mean()) if scores.height else 0.0
    print(f"\n{result.model_name} on {task.name}: {result.record.sample_set.label}, parse rate {parsed:.1%}")
    print(f"result {result.record.result_id}: {result.folder}\n")
    print(markdown_table(group_scores(scores, list(task.metrics), by=[])).rstrip())
    for column in task.group_by:
        if column in scores.columns:
            print()
            print(markdown_table(group_scores(scores, list(task.metrics)[:1], by=[column])).rstrip())
    report = default_report_path(result.model_name, task.name)
    print(f"\nReport: {report}")


def default_report_path(model_name: str, task_name: str) -> Path:
    from vlm_pipelines.evaluation import default_paths

    return default_paths().report(model_name, task_name) / "report.html"


def port_problem(host: str, port: int) -> str:
    """Why `host:port` cannot be listened on ('' when it can)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind((host, port))
        except OSError as error:
            return f"cannot listen on {host}:{port} ({error.strerror}); pass --port with a free port"
    return ""


def cmd_dev(args: argparse.Namespace) -> int:
    """Starts the Dagster UI on the project's instance."""
    from vlm_pipelines.defs.runner import prepare_dagster_home

    problem = port_problem(args.host, args.port)
    if problem:
        raise UsageError(problem)
    home = prepare_dagster_home()
    dagster = Path(sys.executable).with_name("dagster")
    command = [
        str(dagster) if dagster.exists() else "dagster",
        "dev",
        "-w",
        str(settings.REPO_ROOT / "workspace.yaml"),
        "-h",
        args.host,
        "-p",
        str(args.port),
    ]
    print(f"DAGSTER_HOME={home} {' '.join(command)}", flush=True)
    # `dagster dev` maps SIGTERM to SIGINT's handler; started with SIGINT ignored (`vlmbench dev &` in a
    # script, a CI step, a test worker) it would ignore SIGTERM too and never stop. The defaults, as from a
    # terminal (an ignored signal stays ignored across exec).
    for number in (signal.SIGINT, signal.SIGTERM):
        signal.signal(number, signal.SIG_DFL)
    os.execvp(command[0], command)
    return 0


def cmd_chat(args: argparse.Namespace) -> int:
    """Serves the assistant chat: seeds the demo knowledge base and users on first start."""
    problem = port_problem(args.host, args.port)
    if problem:
        raise UsageError(problem)
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    settings.quiet_model_loading()
    print(
        f"vlmbench chat: preparing (data {settings.data_dir()}; a first start seeds and indexes the demo, "
        "under a minute on 2 cores) ...",
        flush=True,
    )
    from ui.app import launch
    from ui.engine import chat_threads

    launch(settings.data_dir(), host=args.host, port=args.port, block=True, threads=chat_threads())
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    """Serves the given models over an OpenAI-compatible HTTP API until interrupted."""
    from vlm_pipelines.service.access import api_key, bind_problem

    key = api_key(args.api_key)
    problem = bind_problem(args.host, key) or port_problem(args.host, args.port)
    if problem:
        raise UsageError(problem)
    if len(args.model_param) and len(args.model) > 1:
        raise UsageError("--model-param applies to one model; give one --model, or use registry entries")
    entries = {}
    for name in args.model:
        entry = model_entry(name, args.model_param)
        entries[entry.name] = entry
    settings.quiet_model_loading()
    from vlm_pipelines.service.app import serve

    print(
        f"vlmbench serve: {', '.join(entries)} at http://{args.host}:{args.port}/v1 "
        f"(models load on first request; metrics at /metrics)",
        flush=True,
    )
    serve(
        entries,
        args.host,
        args.port,
        max_batch_size=args.max_batch_size,
        max_wait_s=args.max_wait_ms / 1000,
        max_loaded=args.max_loaded,
        min_free_bytes=int(args.min_free_gb * 1024**3),
        api_key=key,
    )
    return 0


def cmd_release(args: argparse.Namespace) -> int:
    """Bumps a model package's version, writes its changelog entry, commits and tags the release."""
    from vlm_pipelines.release import release

    repo = Path(args.repo).resolve() if args.repo else settings.release_repo()
    done = release(repo, args.package, args.part)
    print(f"{done.package}: {done.previous} -> {done.version}; tagged {done.tag} at {done.commit[:12]}")
    print(f"changelog: model_packages/{done.package}/CHANGELOG.md ({len(done.changes)} commit(s))")
    print(
        f"next: git push origin HEAD {done.tag}; the release sensor then evaluates {done.tag} in its own "
        "environment. Prod image: git worktree add /tmp/release "
        f"{done.tag} && docker build -f docker/Dockerfile --target prod -t vlmbench:{done.package}-{done.version} /tmp/release"
    )
    return 0


# --- benchmarks ----------------------------------------------------------------------------------


def cmd_benchmarks(args: argparse.Namespace) -> int:
    from vlm_pipelines import benchmarks

    if args.benchmarks_command == "download":
        benchmark = benchmarks.get_benchmark(args.name)
        copy = benchmarks.download(args.name, Path(args.to).expanduser() if args.to else None)
        print(
            f"{benchmark.name}: {len(copy.files)} file(s) of {benchmark.source} in the {copy.where}, "
            f"{copy.rows_note(benchmark.expected_rows)}"
        )
        print(f"  {copy.path}")
        print(f"run: vlmbench run --model MODEL --task {benchmark.name} --set dataset.path={copy.path}")
        return 0
    folders = [Path(folder).expanduser() for folder in args.dir]
    if args.json:
        described = [benchmarks.describe(benchmark, folders) for benchmark in benchmarks.BENCHMARKS.values()]
        print(json.dumps(described, indent=2, ensure_ascii=False))
    else:
        print(benchmarks.listing_text(folders, WRAP))
    return 0


# --- results -------------------------------------------------------------------------------------


def cmd_results(args: argparse.Namespace) -> int:
    from vlm_pipelines import results as archive
    from vlm_pipelines.evaluation import default_paths

    paths = default_paths()
    try:
        if args.results_command == "list":
            return results_list(archive, paths, args)
        if args.results_command == "show":
            return results_show(archive, paths, args)
        if args.results_command == "compare":
            return results_compare(archive, paths, args)
        return results_export(archive, paths, args)
    except archive.ResultLookupError as error:
        raise UsageError(str(error)) from None


def results_list(archive, paths, args: argparse.Namespace) -> int:
    from vlm_pipelines.reports.tables import markdown_table

    found = archive.find_results(paths.results, task=args.task, model=args.model, history=args.all)
    if not found:
        print(f"no results in {paths.results}" + (" matching the filters" if args.task or args.model else ""))
        return 0
    print(markdown_table(archive.listing(found)).rstrip())
    return 0


def results_show(archive, paths, args: argparse.Namespace) -> int:
    shown = archive.describe(archive.resolve(paths.results, args.key), paths)
    if args.json:
        print(json.dumps(shown, indent=2, ensure_ascii=False))
        return 0
    for name, value in shown.items():
        if name == "metrics":
            print("metrics (mean [95% CI], n):")
            for metric, figures in value.items():
                mean, low, high = (figures[k] for k in ("mean", "ci_low", "ci_high"))
                interval = f"{mean:.3f} [{low:.3f}, {high:.3f}]" if mean is not None else "no scores"
                print(f"  {metric}: {interval}, n {figures['n']}")
        elif isinstance(value, dict):
            print(f"{name}:" + ("" if value else " none"))
            for key, item in value.items():
                print(f"  {key}: {item}")
        elif isinstance(value, list):
            print(f"{name}: {'; '.join(value) or 'none'}")
        else:
            print(f"{name}: {'unknown' if value is None else value}")
    return 0


def results_compare(archive, paths, args: argparse.Namespace) -> int:
    a, b = archive.resolve(paths.results, args.a), archive.resolve(paths.results, args.b)
    compared = archive.compare(a, b, args.metric)
    paired = compared.paired
    for name, result in (("A", a), ("B", b)):
        print(
            f"{name}: {result.model_name} on {result.task}, {result.record.key.package_version}, key {result.record.result_id}"
        )
    print(
        f"\n{paired.score_column} on {paired.n} shared samples: mean A {paired.mean_a:.4f}, mean B {paired.mean_b:.4f}"
    )
    print(
        f"mean difference A - B {paired.diff:+.4f}, {paired.ci:.0%} CI [{paired.ci_low:+.4f}, {paired.ci_high:+.4f}]"
    )
    print(f"p-value {paired.p_value:.4f} ({paired.method}): {paired.verdict}")
    print(f"samples: A better {compared.a_better}, B better {compared.b_better}, equal {compared.equal}")
    for note in compared.notes:
        print(f"note: {note}")
    return 0


def results_export(archive, paths, args: argparse.Namespace) -> int:
    out = Path(args.out).expanduser()
    fmt = args.format or out.suffix.lstrip(".").lower()
    if fmt not in archive.EXPORT_FORMATS:
        raise UsageError(f"give --format csv, jsonl or parquet (the suffix of {out.name} does not say which)")
    resolved = (archive.resolve(paths.results, key) for key in args.keys)
    chosen = list({result.record.result_id: result for result in resolved}.values())
    written = archive.export(chosen, fmt, out)
    rows = sum(result.record.n for result in chosen)
    print(f"wrote {rows} per-sample records of {len(chosen)} result(s) to {written}")
    return 0


# --- the parser ----------------------------------------------------------------------------------


def _command(commands, name: str, help: str) -> argparse.ArgumentParser:
    """A subcommand whose `--help` starts with its whole help line, and whose bad flags print its own usage."""
    parser = commands.add_parser(name, help=help, description=help[0].upper() + help[1:] + ".")
    parser.set_defaults(command_parser=parser)
    return parser


def _run_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--max-samples",
        "--limit",
        dest="max_samples",
        type=int,
        default=parser.get_default("max_samples"),
        metavar="N",
        help="at most N samples per task, the first N by sample id (--limit is the lmms-eval name)"
        + (f" (default {parser.get_default('max_samples')})" if parser.get_default("max_samples") else ""),
    )
    parser.add_argument(
        "--seed",
        type=int,
        default=None,
        help="generation seed; a model entry run with another seed is an entry of its own, with its own "
        "result key (default: the task's)",
    )
    parser.add_argument(
        "--output",
        metavar="DIR",
        help="also write the run's results summary to DIR/results.json (per model and task: key, versions, "
        "n, each metric's mean and interval), like lmms-eval's results file",
    )
    parser.add_argument(
        "--log-samples",
        action="store_true",
        help="with --output: also write each model x task's per-sample records (raw and extracted answers, "
        "scores) to DIR/<model>/samples_<task>.jsonl",
    )
    parser.add_argument(
        "--mlflow",
        nargs="?",
        const="1",
        metavar="URI",
        help="log the run to MLflow: sets VLMBENCH_MLFLOW to URI (a tracking URI), or to 1 without one "
        "(the default local file store), before the run starts",
    )
    parser.add_argument("--quiet", action="store_true", help="hide the runs' progress lines")
    parser.add_argument(
        "--deployment",
        metavar="URL",
        help="submit the runs to a running deployment (its Dagster webserver, e.g. http://dagster:3000) "
        "and follow them, instead of running them here",
    )
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a task field by its dotted path, e.g. dataset.synthetic.n_documents=200 (repeatable)",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="vlmbench", description=" ".join(__doc__.split("\n\n")[0].split()))
    parser.set_defaults(command_parser=parser)
    parser.add_argument("--debug", action="store_true", help="show tracebacks and Dagster's own event log")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    _command(
        commands, "doctor", help="system components and model weights: present, what they enable, the fix"
    )
    _command(commands, "models", help="registered model ids, their package, and whether they run here")
    _command(commands, "tasks", help="tasks in the task registry (broken entries listed with their error)")

    demo = _command(commands, "demo", help="evaluate the CPU demo models on the synthetic demo tasks")
    demo.set_defaults(max_samples=24)
    demo.add_argument("--model", action="append", help="only these demo models: a,b or repeated")
    _run_options(demo)

    run = _command(commands, "run", help="evaluate models on tasks or on a dataset folder")
    run.add_argument(
        "--model",
        "--models",
        action="append",
        required=True,
        help="model registry names or model ids (see `vlmbench models`): a,b or repeated",
    )
    run.add_argument(
        "--task", "--tasks", action="append", help="task names (see `vlmbench tasks`): x,y or repeated"
    )
    run.add_argument("--dataset", help="dataset path; its format is detected")
    run.add_argument(
        "--model-param",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="model parameter merged over the registry entry's, e.g. num_threads=2 (repeatable)",
    )
    run.add_argument(
        "--gen",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="generation setting over the task's and the model entry's: max_new_tokens, temperature, "
        "top_p, seed, stop (repeatable)",
    )
    run.add_argument(
        "--metric", action="append", help="metrics for --dataset (default: anls, exact_match, cer)"
    )
    run.add_argument(
        "--encoding",
        metavar="NAME",
        help="text encoding of the dataset's annotation files, e.g. cp1251 (default: detected)",
    )
    run.add_argument(
        "--batch-size",
        type=int,
        default=None,
        help="requests per generate() call (default: the model entry's)",
    )
    _run_options(run)

    dev = _command(commands, "dev", help="open the Dagster UI on the project's instance")
    dev.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    dev.add_argument("--port", type=int, default=3000, help="port to listen on (default 3000)")

    chat = _command(commands, "chat", help="the assistant chat over the knowledge bases (Gradio, with login)")
    chat.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    chat.add_argument("--port", type=int, default=7860, help="port to listen on (default 7860)")

    serve = _command(
        commands,
        "serve",
        help="serve models over an OpenAI-compatible HTTP API (/v1/chat/completions, /metrics)",
    )
    serve.add_argument(
        "--model", action="append", required=True, help="model registry name or model id (repeatable)"
    )
    serve.add_argument(
        "--model-param",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="model parameter (one --model)",
    )
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    serve.add_argument("--port", type=int, default=8000, help="port to listen on (default 8000)")
    serve.add_argument(
        "--api-key", default=None,
        help="clients must send 'Authorization: Bearer KEY' (default: $VLMBENCH_SERVICE_API_KEY; required "
        "with a --host beyond loopback)",
    )  # fmt: skip
    serve.add_argument(
        "--max-batch-size", type=int, default=8, help="requests one generate() call may take (default 8)"
    )
    serve.add_argument(
        "--max-wait-ms", type=float, default=20.0,
        help="how long a batch waits for more requests after its first (default 20 ms)",
    )  # fmt: skip
    serve.add_argument(
        "--max-loaded", type=int, default=None, help="most models held in memory at once (default: no limit)"
    )
    serve.add_argument(
        "--min-free-gb", type=float, default=2.0,
        help="evict idle models (least recently used first) before loading one while free memory is "
        "under this (GPU memory with CUDA, else RAM; default 2)",
    )  # fmt: skip

    release = _command(
        commands,
        "release",
        help="bump a model package's version, write its changelog, commit and tag <package>/v<version>",
    )
    release.add_argument("package", help="a folder of model_packages/, e.g. model-ocr")
    release.add_argument("part", choices=["major", "minor", "patch", "dev"], help="which part of the version")
    release.add_argument(
        "--repo", help="the git repository (default: VLMBENCH_RELEASE_REPO or this checkout)"
    )
    _results_parser(commands)
    _benchmarks_parser(commands)
    return parser


def _benchmarks_parser(commands) -> None:
    from vlm_pipelines.benchmarks import BENCHMARKS

    benchmarks = _command(
        commands,
        "benchmarks",
        help="the standard document benchmarks: where their data comes from, whether it is here, their "
        "published figures; download one",
    )
    actions = benchmarks.add_subparsers(dest="benchmarks_command", metavar="ACTION")
    listed = _command(
        actions, "list", help="each benchmark, its data sources, copies here and reference figures"
    )
    # `benchmarks --dir X` and `benchmarks list --dir X` alike; the action's own options win over the parent's
    for parser, own in ((benchmarks, False), (listed, True)):
        parser.add_argument(
            "--dir",
            action="append",
            default=argparse.SUPPRESS if own else [],
            metavar="DIR",
            help="also look for the parquet shards (the hub repo's layout) and VLMEvalKit TSVs in DIR "
            "(repeatable; the hub cache and $LMUData are always searched)",
        )
        parser.add_argument(
            "--json",
            action="store_true",
            default=argparse.SUPPRESS if own else False,
            help="print it as JSON",
        )
    download = _command(
        actions,
        "download",
        help="download a benchmark's split from the Hugging Face Hub (honours HF_ENDPOINT and HF_TOKEN)",
    )
    download.add_argument("name", metavar="NAME", choices=list(BENCHMARKS), help=", ".join(BENCHMARKS))
    download.add_argument(
        "--to", metavar="DIR", help="into folder DIR, in the repo's layout (default: the hub cache)"
    )


def _results_parser(commands) -> None:
    results = _command(commands, "results", help="list, show, compare and export past results")
    actions = results.add_subparsers(dest="results_command", required=True, metavar="ACTION")
    listed = _command(
        actions,
        "list",
        help="task, model, version, n, main score, date and key of each model's newest result",
    )
    listed.add_argument("--task", help="only results on this task")
    listed.add_argument("--model", help="only results of this model entry")
    listed.add_argument(
        "--all", action="store_true", help="every archived result (the history), not only the newest"
    )
    show = _command(
        actions, "show", help="one result: key parts, versions, settings, metrics with intervals, files"
    )
    show.add_argument("key", help="a result key or an unambiguous prefix of one")
    show.add_argument("--json", action="store_true", help="print it as JSON")
    compare = _command(
        actions, "compare", help="result A against result B on their shared samples (paired sign-flip test)"
    )
    compare.add_argument("a", metavar="A", help="result key (or prefix) of A")
    compare.add_argument("b", metavar="B", help="result key (or prefix) of B")
    compare.add_argument("--metric", help="the metric to compare (default: A's main metric)")
    export = _command(
        actions,
        "export",
        help="per-sample records (raw and extracted answers, scores) as CSV, JSONL or parquet",
    )
    export.add_argument("keys", nargs="+", metavar="KEY", help="result keys (or prefixes)")
    export.add_argument("--out", required=True, metavar="FILE", help="the file to write")
    export.add_argument(
        "--format", choices=["csv", "jsonl", "parquet"], help="the file format (default: from FILE's suffix)"
    )


COMMANDS = {
    "doctor": cmd_doctor,
    "models": cmd_models,
    "tasks": cmd_tasks,
    "demo": cmd_demo,
    "run": cmd_run,
    "dev": cmd_dev,
    "chat": cmd_chat,
    "serve": cmd_serve,
    "release": cmd_release,
    "results": cmd_results,
    "benchmarks": cmd_benchmarks,
}


# Commands that end the process when run as one (the console script, `python -m vlm_pipelines.cli`): their
# objects live to the end, so the collector skips them, and the process leaves without tearing them down.
RUN_COMMANDS = {"run", "demo"}
# Young objects collected every 20000 allocations, not 700: a batch loop allocates many short-lived objects.
RUN_GC_THRESHOLD = 20_000


def settle_objects_for_a_run() -> None:
    """Freezes every object alive now (the imports) out of the collector's scans and makes young collections
    rarer. The runner freezes again once the model has loaded (it does so only in a process that froze)."""
    gc.freeze()
    gc.set_threshold(RUN_GC_THRESHOLD, *gc.get_threshold()[1:])


def leave_now(code: int) -> NoReturn:
    """Ends the process once everything is written, without the interpreter's teardown (2 s of garbage
    collection measured after a run, issue 21). What a normal exit would still do first is done here: the
    exit handlers (logging's flush and close, MLflow's, finalizers) and flushing stdout and stderr. Files the
    run wrote are closed by then (the batch files are fsynced, the Dagster instance is closed)."""
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):  # a closed or broken pipe: nothing left to say
            stream.flush()
    os._exit(code)


def unfinished_threads() -> list[threading.Thread]:
    """Threads a normal exit would wait for (non-daemon); daemon threads hold no results here (model
    loading, availability checks)."""
    others = (thread for thread in threading.enumerate() if thread is not threading.current_thread())
    return [thread for thread in others if not thread.daemon and thread.is_alive()]


def main(argv: Sequence[str] | None = None) -> int:
    """The CLI. Called without `argv` (the console script, `python -m vlm_pipelines.cli`), a `run` or `demo`
    tunes the collector and ends the process itself with `leave_now`; called with `argv` (tests, library
    use), it returns the exit code like any function."""
    args, unknown = build_parser().parse_known_args(argv)
    args.started = STARTED if argv is None else time.monotonic()  # the console script: from its start
    ends_process = argv is None and args.command in RUN_COMMANDS
    if unknown:  # argparse leaves these to the top-level parser; the subcommand's usage helps more
        args.command_parser.error(f"unrecognized arguments: {' '.join(unknown)}")
    if getattr(args, "mlflow", None) and not getattr(args, "deployment", None):  # that refusal says more
        os.environ["VLMBENCH_MLFLOW"] = args.mlflow
        from vlm_pipelines.tracking import TrackingUnavailable, require_mlflow

        try:
            require_mlflow()  # before a long run, not after it
        except TrackingUnavailable as error:
            print(f"vlmbench: error: {error}", file=sys.stderr)
            return 2
    if getattr(args, "log_samples", False) and not args.output:
        print("vlmbench: error: --log-samples needs --output DIR", file=sys.stderr)
        return 2
    for name in ("max_samples", "batch_size", "max_batch_size", "max_loaded"):
        value = getattr(args, name, None)
        if value is not None and value < 1:
            print(f"vlmbench: error: --{name.replace('_', '-')} must be at least 1", file=sys.stderr)
            return 2
    if not args.debug:
        # A pooled SQLite connection closed while Ctrl-C unwinds logs a traceback; the user asked to stop.
        logging.getLogger("sqlalchemy.pool").setLevel(logging.CRITICAL)
    if ends_process:
        settle_objects_for_a_run()
    try:
        code = COMMANDS[args.command](args)
    except KeyboardInterrupt:
        print("\nvlmbench: interrupted; run the same command again to resume", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:  # `vlmbench models | head`: the reader has gone; nothing left to say
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except UsageError as error:
        if args.debug:
            raise
        print(f"vlmbench: error: {error}", file=sys.stderr)
        return 2
    except Exception as error:
        if args.debug:
            raise
        if isinstance(error, _user_errors()):
            print(f"vlmbench: error: {' '.join(str(error).split())}", file=sys.stderr)
            return 1
        print(
            f"vlmbench: internal error: {type(error).__name__}: {' '.join(str(error).split())[:500]} "
            "(run again with --debug for the traceback)",
            file=sys.stderr,
        )
        return 1
    if ends_process and not unfinished_threads():
        leave_now(code)
    return code


if __name__ == "__main__":
    sys.exit(main())
