"""Running evaluations: the one orchestrator behind `vlmbench demo` and `vlmbench run`.

A plan (models x tasks, sample cap, batch size) is executed by a `Runner`. `InProcessRunner` is the
embedded default: it materializes each task's dataset, then every model x task partition, then the
leaderboard, in this process, recording the runs in the project's Dagster instance under the jobs the
Dagster UI shows (`evaluate`, `datasets`, `leaderboard_job`). Another runner (for
example one that submits to a deployment) only has to honour the same `run(plan, on_step)` contract.

Ctrl-C stops the whole run: during a step Dagster turns the signal into a failed step, which this module
turns back into `KeyboardInterrupt`; between steps the signal is held until the next safe point (never in
the middle of a write to the instance). The caller exits 130 and a rerun resumes from the stored batches.
"""

from __future__ import annotations

import contextlib
import gc
import logging
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from vlm_pipelines import settings
from vlm_pipelines.model_registry import EvaluatedModel

PID_TAG = "vlmbench/pid"
INTERRUPTED_ERRORS = {"DagsterExecutionInterruptedError", "KeyboardInterrupt"}


EMBEDDED_INSTANCE_MARK = "# The embedded default Dagster instance."


def prepare_dagster_home() -> Path:
    """Points DAGSTER_HOME at the project's instance folder and installs the repo's dagster.yaml there,
    unless the folder has a dagster.yaml of its own (a Postgres instance, say), which is left as it is."""
    home = settings.dagster_home()
    home.mkdir(parents=True, exist_ok=True)
    source = settings.REPO_ROOT / "dagster.yaml"
    target = home / "dagster.yaml"
    current = target.read_text(encoding="utf-8") if target.exists() else None
    ours = current is None or current.startswith(EMBEDDED_INSTANCE_MARK)
    if source.exists() and ours:
        wanted = embedded_instance_config(source.read_text(encoding="utf-8"), home)
        if current != wanted:
            target.write_text(wanted, encoding="utf-8")
    os.environ["DAGSTER_HOME"] = str(home)
    return home


SINGLE_EVENT_LOG_MARK = "# One SQLite event log for every run"


def embedded_instance_config(text: str, home: Path) -> str:
    """The embedded dagster.yaml for `home`: as written, or, where the folder already keeps Dagster's
    per-run event logs (`history/runs/`, made before the single event log), without the single event log's
    lines, so that the runs already there keep their logs in the UI."""
    if (home / "history" / "runs").is_dir() and not (home / "event_log.db").exists():
        return text.split(SINGLE_EVENT_LOG_MARK)[0]
    return text


@dataclass(frozen=True)
class EvaluationPlan:
    models: Mapping[str, EvaluatedModel]
    tasks: Mapping[str, Any]  # name -> TaskConfig
    max_samples: int | None = None
    batch_size: int | None = None
    only: Mapping[str, frozenset[str]] = field(default_factory=dict)  # model -> the only tasks it runs

    def evaluates(self, model: str, task: str) -> bool:
        return model not in self.only or task in self.only[model]


@dataclass
class StepOutcome:
    """One run of the plan: a dataset, a model x task partition, or the leaderboard."""

    kind: str  # "dataset", "evaluate" or "leaderboard"
    label: str
    ok: bool
    seconds: float
    run_id: str = ""
    message: str = ""
    model: str = ""
    task: str = ""
    metadata: dict[str, Any] = field(default_factory=dict)  # the materializations' metadata values
    records: dict[str, str] = field(default_factory=dict)  # asset -> id of the record it made


@dataclass
class RunReport:
    steps: list[StepOutcome] = field(default_factory=list)

    @property
    def failures(self) -> list[StepOutcome]:
        return [step for step in self.steps if not step.ok]


class Runner(Protocol):
    def run(self, plan: EvaluationPlan, on_step: Callable[[StepOutcome], None]) -> RunReport: ...


@dataclass(frozen=True)
class PlanStep:
    """One run a plan needs: a task's dataset, a model x task partition's evaluation, or the leaderboard."""

    kind: str  # "dataset", "evaluate" or "leaderboard"
    job: str  # the Dagster job that makes it
    model: str = ""
    task: str = ""

    @property
    def label(self) -> str:
        return {"dataset": f"dataset {self.task}", "evaluate": f"{self.model} x {self.task}"}.get(
            self.kind, self.kind
        )


StageRunner = Callable[[list[PlanStep]], Iterable[StepOutcome]]


def one_at_a_time(execute: Callable[[PlanStep], StepOutcome]) -> StageRunner:
    """A stage's steps run one after the other (the in-process runner)."""

    def run_stage(steps: list[PlanStep]) -> Iterator[StepOutcome]:
        for step in steps:
            yield execute(step)

    return run_stage


def walk_plan(
    plan: EvaluationPlan,
    run_stage: StageRunner,
    on_step: Callable[[StepOutcome], None],
    check: Callable[[], None] = lambda: None,
) -> RunReport:
    """The order every runner follows, in three stages: each task's dataset; each model on each task whose
    dataset is ready; the leaderboard. A stage's steps do not depend on each other, so `run_stage` may run
    them one by one or all at once, yielding each outcome as it ends. `check` runs between outcomes (the
    in-process runner's Ctrl-C point)."""
    report = RunReport()

    def stage(steps: list[PlanStep]) -> list[StepOutcome]:
        check()
        outcomes = []
        for outcome in run_stage(steps):
            report.steps.append(outcome)
            on_step(outcome)
            outcomes.append(outcome)
            check()
        return outcomes

    datasets = stage([PlanStep("dataset", "datasets", task=task) for task in plan.tasks])
    ready = [task for task in plan.tasks if any(o.ok and o.task == task for o in datasets)]
    stage(
        [
            PlanStep("evaluate", "evaluate", model=model, task=task)
            for model in plan.models
            for task in ready
            if plan.evaluates(model, task)
        ]
    )
    stage([PlanStep("leaderboard", "leaderboard_job")])
    return report


# ---- the console logger of in-process runs --------------------------------------------------------


class _ProgressHandler(logging.Handler):
    """Prints the assets' own log lines (progress, speed), indented; Dagster's events and tracebacks
    only with `debug` (failures are reported once, in one line, by the runner)."""

    def __init__(self, debug: bool) -> None:
        super().__init__()
        self.debug = debug

    def emit(self, record: logging.LogRecord) -> None:
        meta = getattr(record, "dagster_meta", None) or {}
        if self.debug:
            print(record.getMessage(), file=sys.stderr, flush=True)
        elif meta.get("dagster_event") is None and meta.get("orig_message"):
            print(f"     {meta['orig_message']}", flush=True)


def _console_logger():
    import dagster as dg

    @dg.logger(config_schema={"log_level": dg.Field(str, default_value="INFO"), "debug": bool})
    def vlmbench_console(init_context) -> logging.Logger:
        logger = logging.getLogger(f"vlmbench.run.{id(init_context)}")
        logger.propagate = False
        logger.setLevel(init_context.logger_config["log_level"])
        logger.handlers = [_ProgressHandler(init_context.logger_config["debug"])]
        return logger

    return vlmbench_console


# ---- dead in-process runs -------------------------------------------------------------------------


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def release_runs_of_dead_processes(instance) -> list[str]:
    """Marks as failed the in-process runs whose `vlmbench` process died (kill -9, power loss) and frees
    their `accelerator` pool slots, which would otherwise block every later run. Returns their ids."""
    import dagster as dg

    released = []
    records = instance.get_run_records(
        filters=dg.RunsFilter(statuses=[dg.DagsterRunStatus.STARTED, dg.DagsterRunStatus.STARTING])
    )
    for record in records:
        run = record.dagster_run
        pid = run.tags.get(PID_TAG)
        if pid is None or _process_alive(int(pid)):
            continue
        instance.report_run_failed(run, f"the vlmbench process {pid} running it is gone")
        instance.event_log_storage.free_concurrency_slots_for_run(run.run_id)
        released.append(run.run_id)
    return released


# ---- outcomes -------------------------------------------------------------------------------------


def _root_cause(error) -> str:
    while error.cause is not None:
        error = error.cause
    lines = error.message.strip().splitlines()
    text = lines[-1] if lines else error.cls_name
    for prefix in ("dagster._core.definitions.events.Failure: ", "Failure: "):
        text = text.removeprefix(prefix)
    return text.strip() or error.cls_name


def _step_errors(result) -> list:
    return [
        event.event_specific_data.error
        for event in result.all_events
        if event.is_step_failure and event.event_specific_data and event.event_specific_data.error
    ]


def _materialized_metadata(result) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for event in result.get_asset_materialization_events():
        materialization = event.step_materialization_data.materialization
        prefix = materialization.asset_key.to_user_string()
        for name, value in materialization.metadata.items():
            values[f"{prefix}.{name}"] = getattr(value, "value", value)
    return values


def _check_failures(result) -> list[str]:
    return [
        f"{evaluation.asset_key.to_user_string()} check {evaluation.check_name} failed: "
        f"{evaluation.description or ''}".rstrip(": ")
        for evaluation in result.get_asset_check_evaluations()
        if not evaluation.passed
    ]


def outcome_of(kind: str, label: str, result, started: float, **names: str) -> StepOutcome:
    """A StepOutcome from an execute_in_process result; KeyboardInterrupt if the run was interrupted."""
    from vlm_pipelines.defs.evaluation.metadata import RECORD_ID_KEYS

    errors = _step_errors(result)
    if any(error.cls_name in INTERRUPTED_ERRORS for error in errors):
        raise KeyboardInterrupt
    message = ""
    if not result.success:
        checks = _check_failures(result)
        message = (
            checks[0] if checks else (_root_cause(errors[0]) if errors else "failed (see `vlmbench dev`)")
        )
    metadata = _materialized_metadata(result)
    return StepOutcome(
        kind=kind,
        label=label,
        ok=result.success,
        seconds=time.perf_counter() - started,
        run_id=result.run_id,
        message=message,
        metadata=metadata,
        records={
            asset: metadata[f"{asset}.{key}"]
            for asset, key in RECORD_ID_KEYS.items()
            if f"{asset}.{key}" in metadata
        },
        **names,
    )


# ---- the runs as the Dagster UI lists them -------------------------------------------------------


def ui_repository_origin():
    """The repository the Dagster UI (`vlmbench dev`, the repository's workspace.yaml) loads the definitions
    as, or None without that file. The UI lists a run under Jobs → <job> by its job name and the repository
    tag, and on the Overview timeline by its job origin; `execute_in_process` sets neither."""
    from dagster._core.definitions.repository_definition.valid_definitions import SINGLETON_REPOSITORY_NAME
    from dagster._core.remote_origin import RemoteRepositoryOrigin
    from dagster._core.workspace.load import location_origins_from_yaml_paths

    workspace = settings.REPO_ROOT / "workspace.yaml"
    if not workspace.exists():
        return None
    location = location_origins_from_yaml_paths([str(workspace)])[0]
    return RemoteRepositoryOrigin(code_location_origin=location, repository_name=SINGLETON_REPOSITORY_NAME)


def execute_as_ui_job(job, repository, instance, **options):
    """`job.execute_in_process(**options)`, its run filed under the UI's `job` (see `ui_repository_origin`):
    the repository tag from the start, so the job's page lists it while it runs, the job origin once it
    ends (Dagster records it only when it creates a run, which `execute_in_process` does without one)."""
    from dagster._core.storage.tags import REPOSITORY_LABEL_TAG

    if repository is None:
        return job.execute_in_process(instance=instance, **options)
    tags = {**options.pop("tags", {}), REPOSITORY_LABEL_TAG: repository.get_label()}
    result = job.execute_in_process(instance=instance, tags=tags, **options)
    instance.run_storage.replace_job_origin(result.dagster_run, repository.get_job_origin(job.name))
    return result


# ---- Ctrl-C between steps ------------------------------------------------------------------------


@contextlib.contextmanager
def interrupts_at_safe_points() -> Iterator[Callable[[], None]]:
    """Holds SIGINT until the returned `check()` is called, which raises KeyboardInterrupt if one came.
    (Inside `execute_in_process` Dagster installs its own handler and restores this one afterwards.)"""
    received = threading.Event()
    if threading.current_thread() is not threading.main_thread():
        yield lambda: None
        return
    previous = signal.signal(signal.SIGINT, lambda signum, frame: received.set())

    def check() -> None:
        if received.is_set():
            raise KeyboardInterrupt

    try:
        yield check
    finally:
        signal.signal(signal.SIGINT, previous)


# ---- the in-process runner ------------------------------------------------------------------------


@contextlib.contextmanager
def collector_paused_for_the_run() -> Iterator[None]:
    """In a process that froze its imports (a CLI run, which keeps them to its end), the garbage collector is
    off while the model loads, and what the load made joins the frozen objects after: the collector would
    only scan, again and again, the modules and weights the run keeps (0.74 s of collections while a 200-sample
    run's model loaded, all holding the GIL the main thread needs; docs/benchmarks.md). Elsewhere, nothing
    changes."""
    if not (gc.get_freeze_count() and gc.isenabled()):
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.freeze()
        gc.enable()


def load_in_background(entry: EvaluatedModel) -> threading.Thread:
    """Starts loading `entry`'s model (the process-wide instance predictions will use) in a thread, so the
    imports and weights load while Dagster sets up and the dataset is read. A failure is left for the
    predictions step to report, where it happens again with its message."""
    from model_interface import get_spec, shared_model

    settings.quiet_model_loading()

    def load() -> None:
        try:
            if get_spec(entry.model).availability(entry.params).ok:
                with collector_paused_for_the_run():
                    shared_model(entry.model, entry.params).load()
            from vlm_pipelines.reports.plots import load_plotting

            load_plotting()  # the reports' plotting library, imported while the model answers (1.2 s measured)
        except Exception:  # noqa: BLE001 - reported by the step that needs the model
            pass

    thread = threading.Thread(target=load, name=f"load-{entry.name}", daemon=True)
    thread.start()
    return thread


@dataclass
class InProcessRunner:
    """Executes a plan in this process against the project's Dagster instance (DAGSTER_HOME)."""

    quiet: bool = False
    debug: bool = False
    _loading: set[str] = field(default_factory=set)

    def start_loading(self, models: Mapping[str, EvaluatedModel]) -> None:
        """Starts loading the plan's first model in the background (once); call it as early as the models
        are known, so the imports and weights load while everything else is set up."""
        entry = next(iter(models.values()), None)
        if entry is not None and entry.name not in self._loading:
            self._loading.add(entry.name)
            load_in_background(entry)

    def run(self, plan: EvaluationPlan, on_step: Callable[[StepOutcome], None]) -> RunReport:
        import dagster as dg

        from vlm_pipelines.definitions import build_definitions
        from vlm_pipelines.defs.evaluation.versions import report_versions
        from vlm_pipelines.defs.partitions import evaluation_partition_key
        from vlm_pipelines.defs.resources import EvaluationSettings
        from vlm_pipelines.model_registry import load_model_registry
        from vlm_pipelines.tasks import load_task_registry

        prepare_dagster_home()
        self.start_loading(plan.models)
        # The definitions the Dagster UI loads (the registries, with the entries made on the command line),
        # so every partition run here can be seen and re-run there.
        defs = build_definitions(
            {**load_model_registry(), **plan.models},
            {**load_task_registry(), **plan.tasks},
            EvaluationSettings(max_samples=plan.max_samples, batch_size=plan.batch_size),
            loggers={"console": _console_logger()},
        )
        if gc.get_freeze_count():  # a CLI run froze its imports: Dagster's and the definitions join them
            gc.freeze()
        level = "CRITICAL" if self.quiet and not self.debug else "INFO"
        run_config = {"loggers": {"console": {"config": {"log_level": level, "debug": self.debug}}}}
        tags = {PID_TAG: str(os.getpid())}
        repository = ui_repository_origin()
        partitions = {
            "dataset": lambda step: step.task,
            "evaluate": lambda step: evaluation_partition_key(step.model, step.task),
            "leaderboard": lambda step: None,
        }

        def execute(step: PlanStep) -> StepOutcome:
            started = time.perf_counter()
            if step.kind == "evaluate":
                print(f"...  evaluating {step.model} on {step.task}", flush=True)
            result = execute_as_ui_job(
                defs.resolve_job_def(step.job),
                repository,
                instance,
                partition_key=partitions[step.kind](step),
                run_config=run_config,
                raise_on_error=False,
                tags=tags,
            )
            return outcome_of(step.kind, step.label, result, started, model=step.model, task=step.task)

        with interrupts_at_safe_points() as check, dg.DagsterInstance.get() as instance:
            report_versions(instance, plan.models, plan.tasks)  # marks stale what changed, for the UI
            for run_id in release_runs_of_dead_processes(instance):
                print(
                    f"note: run {run_id[:8]} was interrupted (its process is gone); marked failed", flush=True
                )
            return walk_plan(plan, one_at_a_time(execute), on_step, check)
