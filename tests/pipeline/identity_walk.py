"""Issue 14's model-based test: a seeded random walk over 2 models x 3 tasks that checks, after every step,
that every number is one keyed record and nothing overwrites it.

A walk is a list of actions drawn from a seeded generator and the walk's own state (the variants it has
made so far); each action is plain data, so a failing walk can be replayed step by step (`replay`). Most
steps are cheap: in-process `vlmbench run` with random `--max-samples` (1-6), `--gen`, `--set` and
`--model-param`; the same evaluation steps called directly (`evaluation.steps`) on an entry the walk made;
a rerun of an earlier command; a leaderboard build; Tesseract put on or taken off PATH. A few are expensive
and scheduled: a `vlmbench run` subprocess killed with SIGKILL once its first batch file lands (then
resumed), a rerun from a `vlmbench run` subprocess, and a rerun of an evaluated partition with
`dagster job execute`.

After every step (`IdentityWalk.check`):
- (a) every archived result, re-scored from its own predictions (its manifest, `score` into a scratch
  archive), equals what the archive says, scores included;
- (b) no two keys share storage: each result folder is its record's result id (recomputed from the key),
  under its task and model, ids unique; each manifest file is its manifest id; and no result seen before
  has been overwritten with other content;
- (c) after a leaderboard build, each task's section shows exactly the newest result of each key (ranked
  rows plus `others`), each with its n, and each model's newest result is among them;
- (d) each speed figure belongs to its key: a result's `speed.computed` is the sum of its manifest's runs'
  `computed`, at most the sample set's size, and the leaderboard's speed cells are the row's result's.

The walk also checks a small model of the expected outcome: the exit code a command should have, that a
successful run archived a result of the expected n, and that a rerun of the same command on the same
machine state reproduces the same result id and means.

Used by `tests/pipeline/test_identity_walk.py` (CI) and `bench/identity_walk.py` (longer walks).
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[2]
PYTHON = sys.executable
DAGSTER = str(Path(sys.executable).with_name("dagster"))

# The second model: another registry entry of the fast OCR baseline, with params of its own (the other
# registered models need minutes of CPU per walk). It lives in the walk's copy of the registry.
SECOND_MODEL = {
    "name": "ocr-rules-lenient",
    "model": "ocr-rules",
    "params": {"label_score_cutoff": 55},
    "batch_size": 4,
}
MODELS = ("ocr-rules", SECOND_MODEL["name"])
TASKS = ("synth_vqa_en", "demo_mini_vqa", "synth_classification_en")
# The walk's registry copy makes the synthetic tasks small (documents each): every distinct page is OCR'd
# once per model instance, and that, not the pipeline, would otherwise be most of a walk's time.
SMALL_SYNTHETIC = {"synth_vqa_en": 2, "synth_classification_en": 4}
SYNTHETIC = tuple(SMALL_SYNTHETIC)
GEN_VALUES = ("max_new_tokens=16", "max_new_tokens=40", "seed=1", "seed=7", "top_p=0.9", "temperature=0")
PARAM_VALUES = ("engine=rapidocr", "engine=tesseract", "engine=auto", "label_score_cutoff=60")
MAX_SAMPLES = 5  # --max-samples is drawn from 1..MAX_SAMPLES (the kill step takes 6)
HANG_S = 600  # bounds a hang of one subprocess; never reached by a healthy step


class InvariantError(AssertionError):
    """An invariant (or the walk's model of the expected outcome) does not hold."""


@dataclass(frozen=True)
class Action:
    """One step, as data: `kind` and its arguments (replayable)."""

    kind: str
    argv: tuple[str, ...] = ()  # `vlmbench` arguments (cli, rerun, subprocess, kill)
    model: str = ""  # steps, dagster
    task: str = ""
    max_samples: int = 0
    tesseract: bool = True  # toggle: the new state

    def describe(self) -> str:
        if self.argv:
            return f"{self.kind}: vlmbench {' '.join(self.argv)}"
        if self.kind == "toggle":
            return f"toggle: Tesseract {'on' if self.tesseract else 'off'} PATH"
        if self.kind == "leaderboard":
            return "leaderboard: build"
        return f"{self.kind}: {self.model} x {self.task} --max-samples {self.max_samples}"


@dataclass
class WalkReport:
    seed: int
    steps: int = 0
    checks: Counter = field(default_factory=Counter)
    kinds: Counter = field(default_factory=Counter)
    exits: Counter = field(default_factory=Counter)
    kills_mid_run: int = 0
    tolerated: int = 0
    results: int = 0
    seconds: Counter = field(default_factory=Counter)  # per step kind, and "checks"
    wall_s: float = 0.0
    history: list[str] = field(default_factory=list)

    def summary(self) -> str:
        kinds = ", ".join(
            f"{kind} {count} in {self.seconds[kind]:.0f} s" for kind, count in sorted(self.kinds.items())
        )
        checks = ", ".join(f"{name} {count}" for name, count in sorted(self.checks.items()))
        return (
            f"seed {self.seed}: {self.steps} steps ({kinds}); {sum(self.checks.values())} invariant checks "
            f"({checks}) in {self.seconds['checks']:.0f} s; {self.results} archived results; "
            f"{self.kills_mid_run} kill(s) landed mid-run; {self.tolerated} tolerated failure(s); "
            f"{self.wall_s:.1f} s"
        )


# --- the machine: PATH with and without Tesseract --------------------------------------------------------


def path_without(program: str, path: str, shims: Path) -> str:
    """`path` with every folder that holds `program` replaced by a folder of links to its other entries."""
    folders = []
    for index, folder in enumerate(path.split(os.pathsep)):
        if folder and (Path(folder) / program).exists():
            shim = shims / str(index)
            if not shim.exists():
                shim.mkdir(parents=True)
                for entry in Path(folder).iterdir():
                    if entry.name != program:
                        (shim / entry.name).symlink_to(entry)
            folder = str(shim)
        folders.append(folder)
    return os.pathsep.join(folders)


def forget_machine_state() -> None:
    """What this process cached about the machine (a fresh `vlmbench` process would probe again): the shared
    model instances (their OCR engine was picked at load), Tesseract's languages and version, the probes."""
    from model_interface.registry import _shared_model
    from model_ocr import engines

    from vlm_pipelines.components import probe

    _shared_model.cache_clear()
    engines.tesseract_languages.cache_clear()
    engines.engine_version.cache_clear()
    probe.cache_clear()


@contextlib.contextmanager
def walk_environment(root: Path) -> Iterator[dict[str, str]]:
    """VLMBENCH_DATA_DIR, DAGSTER_HOME and a registry copy with the second model, under `root`, for this
    process and its subprocesses; the previous environment is restored afterwards."""
    import yaml

    registry = root / "registry"
    shutil.copytree(REPO_ROOT / "registry", registry)
    models = registry / "models" / "cpu.yaml"
    entries = yaml.safe_load(models.read_text(encoding="utf-8"))
    models.write_text(yaml.safe_dump([*entries, SECOND_MODEL], sort_keys=False), encoding="utf-8")
    for task, documents in SMALL_SYNTHETIC.items():  # fewer pages to OCR per model instance
        path = registry / "tasks" / f"{task}.yaml"
        entry = yaml.safe_load(path.read_text(encoding="utf-8"))
        entry["dataset"]["synthetic"]["n_documents"] = documents
        path.write_text(yaml.safe_dump(entry, sort_keys=False, allow_unicode=True), encoding="utf-8")
    home = root / "dagster_home"
    home.mkdir(parents=True)
    shutil.copy(REPO_ROOT / "dagster.yaml", home / "dagster.yaml")
    changes = {
        "VLMBENCH_DATA_DIR": str(root / "data"),
        "DAGSTER_HOME": str(home),
        "VLMBENCH_REGISTRY_DIR": str(registry),
    }
    saved = {name: os.environ.get(name) for name in [*changes, "PATH"]}
    os.environ.update(changes)
    try:
        yield changes
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        forget_machine_state()


# --- the walk ----------------------------------------------------------------------------------------------


def _canonical(record: Any) -> str:
    """A record as canonical JSON, without the time it was written."""
    return json.dumps(record.model_dump(mode="json", exclude={"created_ns"}), sort_keys=True)


def _digest(*parts: Path | str) -> str:
    """Of files (their paths and bytes) and texts."""
    hasher = hashlib.sha256()
    for part in parts:
        hasher.update(str(part).encode())
        if isinstance(part, Path):
            hasher.update(part.read_bytes() if part.is_file() else b"-")
    return hasher.hexdigest()


@dataclass
class Outcome:
    exit_code: int
    output: str = ""
    model: str = ""  # the entry and task the step evaluated (variants included)
    task: str = ""
    max_samples: int | None = None
    built_leaderboard: bool = False
    killed_mid_run: bool = False


class IdentityWalk:
    """A walk in the data folder of `walk_environment`; `run(steps)` draws and executes the actions,
    checking every invariant after each."""

    def __init__(
        self, root: Path, seed: int, *, expensive: int | None = None, tolerate: tuple[str, ...] = ()
    ) -> None:
        from vlm_pipelines.evaluation import EvaluationPaths

        self.root = root
        self.seed = seed
        self.rng = random.Random(seed)
        self.expensive = (
            expensive  # kills, subprocess reruns and dagster reruns each (default: 1 per 100 steps)
        )
        self.tolerate = tolerate  # output excerpts of known bugs whose failed step the walk goes past
        self.paths = EvaluationPaths(root / "data")
        self.full_path = os.environ["PATH"]
        self.bare_path = path_without("tesseract", self.full_path, root / "bin-without-tesseract")
        self.tesseract = True
        self.report = WalkReport(seed)
        self.actions: list[Action] = []
        self.known_models: set[str] = set(MODELS)
        self.known_tasks: set[str] = set(TASKS)
        self.renamed: dict[str, tuple[str, ...]] = {}  # `--set name=X`: X -> the other --set pairs it got
        self.succeeded: list[Action] = []  # commands that succeeded (for reruns), with their machine state
        self.outcomes: dict[tuple, tuple[str, str]] = {}  # (model, task, n, tesseract) -> (result id, means)
        self.batch_answers: dict[Path, dict[tuple, set[str]]] = {}  # batch file -> key -> its sample ids
        self.verified: dict[str, str] = {}  # result id -> digest of what its re-scoring read
        self.seen: dict[str, str] = {}  # result id -> its record's canonical JSON
        self.scratch = root / "rescore"
        self.unique = 0

    # --- drawing actions ---------------------------------------------------------------------------------

    def _expensive_schedule(self, steps: int) -> dict[int, str]:
        count = self.expensive if self.expensive is not None else max(1, steps // 100)
        kinds = [kind for kind in ("kill", "subprocess", "dagster") for _ in range(count)]
        positions = self.rng.sample(range(steps // 10, steps), len(kinds))  # after some history exists
        return dict(zip(positions, kinds, strict=True))

    def draw(self, kind: str) -> Action:
        rng = self.rng
        if kind == "cli":
            return Action("cli", tuple(self._random_run()))
        if kind == "rerun":
            if not self.succeeded:
                return Action("cli", tuple(self._random_run()))
            return Action("rerun", rng.choice(self.succeeded).argv)
        if kind == "subprocess":
            previous = [a.argv for a in self.succeeded] or [tuple(self._random_run())]
            return Action("subprocess", rng.choice(previous))
        if kind == "kill":
            self.unique += 1
            # A fresh generation seed: a key with nothing stored, so the run has batches left to kill.
            argv = [
                "run", "--model", rng.choice(MODELS), "--task", rng.choice(TASKS), "--max-samples", "6",
                "--batch-size", "1", "--gen", f"seed={1000 * self.seed + self.unique}",
            ]  # fmt: skip
            return Action("kill", tuple(argv))
        if kind in ("steps", "dagster"):
            candidates = [  # a partition evaluated before, runnable on this machine state
                (a.model, a.task, a.max_samples)
                for a in self.succeeded
                if self.expected_exit(a.argv) == 0 and a.max_samples
            ] or [(rng.choice(MODELS), rng.choice(TASKS), 3)]
            model, task, samples = rng.choice(candidates)
            if kind == "steps":
                model = rng.choice(sorted(self.known_models))
                task = rng.choice(sorted(self.known_tasks))
                samples = rng.randint(1, MAX_SAMPLES)
            return Action(kind, model=model, task=task, max_samples=samples)
        if kind == "toggle":
            return Action("toggle", tesseract=not self.tesseract)
        return Action("leaderboard")

    def _random_run(self) -> list[str]:
        rng = self.rng
        model, task = rng.choice(MODELS), rng.choice(TASKS)
        argv = [
            "run",
            "--model",
            model,
            "--task",
            task,
            "--quiet",
            "--max-samples",
            str(rng.randint(1, MAX_SAMPLES)),
        ]
        if rng.random() < 0.3:
            argv += ["--gen", rng.choice(GEN_VALUES)]
        if rng.random() < 0.3:
            argv += ["--model-param", rng.choice(PARAM_VALUES)]
        if rng.random() < 0.35:
            for pair in rng.sample(self._set_pool(task), rng.choice((1, 1, 2))):
                argv += ["--set", pair]
        return argv

    def _set_pool(self, task: str) -> list[str]:
        pool = [
            "description=a walk variant",
            "generation.max_new_tokens=24",
            f"name={task}_walk",
            f"name={self.rng.choice([t for t in TASKS if t != task])}",
        ]
        if task in SYNTHETIC:
            pool += ["dataset.synthetic.n_documents=3"]
        else:
            pool += ["postprocess=[strip_label]"]
        return pool

    # --- the expected exit code (the walk's model) ----------------------------------------------------------

    def expected_exit(self, argv: tuple[str, ...]) -> int:
        pairs = [argv[i + 1] for i, word in enumerate(argv) if word == "--set"]
        names = [pair.split("=", 1)[1] for pair in pairs if pair.startswith("name=")]
        if any(name in TASKS for name in names):
            return 2  # another registered task's name
        if names:
            others = tuple(
                sorted([f"task={_arg(argv, '--task')}"] + [p for p in pairs if not p.startswith("name=")])
            )
            if self.renamed.get(names[0], others) != others:
                return 2  # that name is already a task with other settings
        if "engine=tesseract" in argv and not self.tesseract:
            return 1
        return 0

    def _remember_rename(self, argv: tuple[str, ...]) -> None:
        pairs = [argv[i + 1] for i, word in enumerate(argv) if word == "--set"]
        names = [pair.split("=", 1)[1] for pair in pairs if pair.startswith("name=")]
        if names:
            others = tuple(
                sorted([f"task={_arg(argv, '--task')}"] + [p for p in pairs if not p.startswith("name=")])
            )
            self.renamed.setdefault(names[0], others)

    # --- executing actions ----------------------------------------------------------------------------------

    def env(self) -> dict[str, str]:
        return {**os.environ, "PATH": self.full_path if self.tesseract else self.bare_path}

    def execute(self, action: Action) -> Outcome:
        return getattr(self, f"_do_{action.kind}")(action)

    def _do_cli(self, action: Action) -> Outcome:
        from vlm_pipelines import cli

        out, err = io.StringIO(), io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = cli.main(list(action.argv))
        return self._cli_outcome(action, code, out.getvalue() + err.getvalue())

    _do_rerun = _do_cli

    def _do_subprocess(self, action: Action) -> Outcome:
        done = subprocess.run(
            [PYTHON, "-m", "vlm_pipelines.cli", *action.argv],
            cwd=REPO_ROOT,
            env=self.env(),
            capture_output=True,
            text=True,
            timeout=HANG_S,
        )
        return self._cli_outcome(action, done.returncode, done.stdout + done.stderr)

    def _cli_outcome(self, action: Action, code: int, output: str) -> Outcome:
        outcome = Outcome(code, output, built_leaderboard="ok   leaderboard" in output)
        for line in output.splitlines():
            if line.startswith("vlmbench run: ") and " on " in line:
                outcome.model, outcome.task = line.removeprefix("vlmbench run: ").split(" on ", 1)
        samples = _arg(action.argv, "--max-samples")
        outcome.max_samples = int(samples) if samples else None
        return outcome

    def _do_kill(self, action: Action) -> Outcome:
        """`vlmbench run` in a subprocess, frozen and killed with SIGKILL as soon as a new batch file lands
        (the wait is on its progress lines; a timer bounds a hang), then the same command again."""
        batches = self.paths.root / "predictions"
        before = set(batches.glob("*/*/batch-*.parquet"))
        argv = [a for a in action.argv if a != "--quiet"]  # its progress lines say when a batch lands
        process = subprocess.Popen(
            [PYTHON, "-m", "vlm_pipelines.cli", *argv],
            cwd=REPO_ROOT,
            env=self.env(),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        hang = threading.Timer(HANG_S, process.kill)
        hang.start()
        killed_mid_run = False
        try:
            assert process.stdout is not None
            for _line in process.stdout:
                if set(batches.glob("*/*/batch-*.parquet")) - before:
                    os.kill(process.pid, signal.SIGSTOP)  # frozen at once, then killed
                    killed_mid_run = process.poll() is None
                    os.kill(process.pid, signal.SIGKILL)
                    break
        finally:
            hang.cancel()
            process.wait()
            if process.stdout:
                process.stdout.close()
        if not killed_mid_run:
            raise InvariantError(f"the run to kill ended (exit {process.returncode}) before any batch landed")
        resumed = self._do_cli(Action("cli", action.argv))  # the user runs the same command again
        resumed.killed_mid_run = True
        return resumed

    def _do_steps(self, action: Action) -> Outcome:
        """The steps the assets call, called directly: prepare, predict, score."""
        from vlm_pipelines.evaluation import ModelNotRunnableError, predict, prepare_dataset, score
        from vlm_pipelines.model_registry import load_model_registry
        from vlm_pipelines.tasks import load_task_registry

        entry = load_model_registry()[action.model]
        task = load_task_registry().require(action.task)
        prepare_dataset(task, self.paths)
        try:
            predicted = predict(entry, task, self.paths, max_samples=action.max_samples)
        except ModelNotRunnableError as error:
            return Outcome(1, str(error), action.model, action.task, action.max_samples)
        score(task, predicted.manifest, self.paths)
        return Outcome(0, "", action.model, action.task, action.max_samples)

    def _do_dagster(self, action: Action) -> Outcome:
        """The README's recipe for one partition, with the run's `--max-samples` as resource config."""
        config = self.root / "dagster-run.yaml"
        config.write_text(
            json.dumps({"resources": {"evaluation": {"config": {"max_samples": action.max_samples}}}})
        )
        tags = {
            "dagster/partition": f"{action.model}|{action.task}",
            "dagster/partition/model": action.model,
            "dagster/partition/task": action.task,
        }
        done = subprocess.run(
            [DAGSTER, "job", "execute", "-m", "vlm_pipelines.definitions", "-a", "defs", "-j", "evaluate",
             "-c", str(config), "--tags", json.dumps(tags)],
            cwd=REPO_ROOT,
            env=self.env(),
            capture_output=True,
            text=True,
            timeout=HANG_S,
        )  # fmt: skip
        output = done.stdout + done.stderr
        code = done.returncode if "RUN_SUCCESS" in output or done.returncode else 1
        return Outcome(code, output[-4000:], action.model, action.task, action.max_samples)

    def _do_toggle(self, action: Action) -> Outcome:
        self.tesseract = action.tesseract
        os.environ["PATH"] = self.full_path if self.tesseract else self.bare_path
        forget_machine_state()
        return Outcome(0)

    def _do_leaderboard(self, action: Action) -> Outcome:
        """What the `leaderboard` asset does."""
        from vlm_pipelines.reports.leaderboard import build_data_folder_leaderboard
        from vlm_pipelines.tasks import load_task_registry

        tasks = load_task_registry()
        build_data_folder_leaderboard(self.paths, {name: list(t.metrics) for name, t in tasks.items()})
        return Outcome(0, built_leaderboard=True)

    # --- the walk ---------------------------------------------------------------------------------------------

    # In-process CLI runs (2-3 s each: a Dagster run) make the variants; the core steps and leaderboard
    # builds (a fraction of a second) are most of the walk, so 200 steps fit in CI.
    WEIGHTS = {"cli": 4, "steps": 50, "rerun": 2, "leaderboard": 30, "toggle": 3}

    def run(self, steps: int) -> WalkReport:
        started = time.perf_counter()
        schedule = self._expensive_schedule(steps)
        kinds, weights = zip(*self.WEIGHTS.items(), strict=True)
        for index in range(steps):
            kind = schedule.get(index) or self.rng.choices(kinds, weights)[0]
            self.step(self.draw(kind))
        self.report.wall_s = time.perf_counter() - started
        return self.report

    def replay(self, actions: list[Action]) -> WalkReport:
        """The given actions, in order, each checked (to narrow a failing walk down)."""
        started = time.perf_counter()
        for action in actions:
            self.step(action)
        self.report.wall_s = time.perf_counter() - started
        return self.report

    def step(self, action: Action) -> None:
        self.actions.append(action)
        index = len(self.actions) - 1
        expected = self.expected_exit(action.argv) if action.argv else None
        if action.kind == "toggle":
            expected = 0
        state = self.tesseract
        try:
            clock = time.perf_counter()
            outcome = self.execute(action)
            self.report.seconds[action.kind] += time.perf_counter() - clock
            self.report.history.append(f"{index}: {action.describe()} -> exit {outcome.exit_code}")
            self.report.steps += 1
            self.report.kinds[action.kind] += 1
            self.report.exits[outcome.exit_code] += 1
            self.report.kills_mid_run += outcome.killed_mid_run
            if expected == 0 and outcome.exit_code == 1 and any(t in outcome.output for t in self.tolerate):
                self.report.tolerated += 1
                self.report.history[-1] += " (a tolerated known bug)"
            elif expected is not None and outcome.exit_code != expected:
                raise InvariantError(
                    f"exit {outcome.exit_code}, expected {expected}; output:\n{outcome.output[-3000:]}"
                )
            if action.argv and outcome.exit_code != 2:
                # `--set name=X` saved X before anything else could fail (a model that cannot run here)
                self._remember_rename(action.argv)
            if action.kind == "dagster" and outcome.exit_code != 0:
                raise InvariantError(f"dagster job execute failed:\n{outcome.output}")
            if action.kind == "steps" and outcome.exit_code != 0 and self.tesseract:
                raise InvariantError(f"the steps failed with Tesseract on PATH: {outcome.output}")
            if outcome.exit_code == 0 and outcome.model:
                self._check_outcome(action, outcome, state)
            clock = time.perf_counter()
            self.check(outcome.built_leaderboard)
            self.report.seconds["checks"] += time.perf_counter() - clock
        except InvariantError as error:
            raise InvariantError(
                f"seed {self.seed}, step {index} ({action.describe()}), Tesseract "
                f"{'on' if self.tesseract else 'off'}: {error}\nsteps so far:\n"
                + "\n".join(self.report.history)
                + "\nactions: "
                + repr(self.actions)
            ) from None

    def _check_outcome(self, action: Action, outcome: Outcome, tesseract: bool) -> None:
        """The walk's model: the run archived a result of the expected n, and the same run on the same
        machine state reproduces the same result id and means."""
        from vlm_pipelines.evaluation import dataset_record
        from vlm_pipelines.evaluation.archive import list_results

        record = dataset_record(outcome.task, self.paths)
        assert record is not None
        n = min(outcome.max_samples or record.rows, record.rows)
        mine = [
            r.record
            for r in list_results(self.paths.results)
            if r.record.model_name == outcome.model and r.record.task == outcome.task
        ]
        if not mine:
            raise InvariantError(f"a successful run of {outcome.model} x {outcome.task} archived nothing")
        newest = mine[-1]
        if newest.n != n or newest.sample_set.n != n:
            raise InvariantError(
                f"{outcome.model} x {outcome.task} with at most {outcome.max_samples} samples of {record.rows}: "
                f"newest result {newest.result_id} has n {newest.n} (sample set {newest.sample_set.n}), expected {n}"
            )
        made = (newest.result_id, json.dumps(newest.means, sort_keys=True))
        earlier = self.outcomes.setdefault((outcome.model, outcome.task, n, tesseract), made)
        if earlier != made:
            raise InvariantError(
                f"the same run on the same machine state gave result {made} where it gave {earlier} before"
            )
        if action.argv:
            self.succeeded.append(
                Action("rerun", action.argv, outcome.model, outcome.task, outcome.max_samples or 0)
            )
            self.known_models.add(outcome.model)
            self.known_tasks.add(outcome.task)

    # --- the invariants ---------------------------------------------------------------------------------------

    def check(self, built_leaderboard: bool) -> None:
        from vlm_pipelines.evaluation.archive import list_results

        results = list_results(self.paths.results)
        self.report.results = len(results)
        self._check_storage(results)
        manifests = self._check_manifests()
        datasets = {task: self._dataset_text(task) for task in {result.record.task for result in results}}
        for result in results:
            self._check_rescored(result, manifests, datasets[result.record.task])
        if built_leaderboard:
            self._check_leaderboard(results)

    def _count(self, name: str) -> None:
        self.report.checks[name] += 1

    def _check_storage(self, results: list) -> None:
        """(b) one folder per key, named by the key; nothing seen before was overwritten."""
        from vlm_pipelines.evaluation.identity import manifest_id, result_id

        self._count("b: storage")
        folders = sorted(p.parent for p in self.paths.results.glob("*/*/*/record.json"))
        if len(folders) != len(results):
            raise InvariantError(
                f"{len(folders)} result folders with a record, {len(results)} results listed"
            )
        ids = [r.record.result_id for r in results]
        if len(set(ids)) != len(ids):
            raise InvariantError(f"two result folders hold the same result id: {Counter(ids).most_common(1)}")
        for result in results:
            rec = result.record
            expected = result_id(rec.model_name, rec.key, rec.sample_set)
            place = (result.folder.parent.parent.name, result.folder.parent.name, result.folder.name)
            if rec.result_id != expected or place != (rec.task, rec.model_name, rec.result_id):
                raise InvariantError(
                    f"result {rec.result_id} (key says {expected}) of {rec.model_name} x {rec.task} is stored at "
                    f"{'/'.join(place)}"
                )
            if rec.manifest_id != manifest_id(rec.model_name, rec.key, rec.sample_set):
                raise InvariantError(f"result {rec.result_id} names manifest {rec.manifest_id}, not its own")
            if (
                rec.n != rec.sample_set.n
                or rec.sample_set.task != rec.task
                or rec.model.name != rec.model_name
            ):
                raise InvariantError(
                    f"result {rec.result_id}: n {rec.n} of a sample set of {rec.sample_set.n}"
                )
            content = _canonical(rec)
            before = self.seen.setdefault(rec.result_id, content)
            if before != content:
                raise InvariantError(
                    f"result {rec.result_id} of {rec.model_name} x {rec.task} was overwritten with other "
                    f"content:\nbefore {before}\nnow    {content}"
                )
        missing = set(self.seen) - set(ids)
        if missing:
            raise InvariantError(f"archived results disappeared: {sorted(missing)}")

    def _check_manifests(self) -> dict[str, Any]:
        """(b) each manifest file is named by its own manifest id, under its model and task."""
        from vlm_pipelines.evaluation.records import PredictionManifest, read_record

        self._count("b: manifests")
        manifests = {}
        for path in sorted(self.paths.root.glob("predictions/*/*/manifests/*.json")):
            manifest = read_record(PredictionManifest, path)
            place = (path.parent.parent.parent.name, path.parent.parent.name, path.stem)
            if place != (manifest.model_name, manifest.task, manifest.manifest_id):
                raise InvariantError(f"manifest {manifest.manifest_id} is stored at {'/'.join(place)}")
            if manifest.manifest_id in manifests:
                raise InvariantError(f"manifest id {manifest.manifest_id} is stored twice")
            manifests[manifest.manifest_id] = manifest
        return manifests

    def _dataset_text(self, task: str) -> str:
        """The task's dataset record as a re-scoring reads it: without the time of its preparation, which each
        preparation rewrites and nothing reads."""
        from vlm_pipelines.evaluation import dataset_record

        record = dataset_record(task, self.paths)
        return record.model_dump_json(exclude={"prepared_ns"}) if record else "-"

    def _check_rescored(self, result: Any, manifests: dict[str, Any], dataset: str) -> None:
        """(a) and (d): re-scored from its own predictions, the result is what the archive says, and its
        speed is its manifest's. Re-scored again only when something it reads changed (`dataset`: its task's
        `_dataset_text`)."""
        from vlm_pipelines.evaluation import EvaluationPaths, load_manifest, score
        from vlm_pipelines.tasks import load_task_registry

        rec = result.record
        predictions = self.paths.predictions(rec.model_name, rec.task)
        digest = _digest(
            result.folder / "record.json",
            result.folder / "sample_metrics.parquet",
            self.paths.manifest(rec.model_name, rec.task, rec.manifest_id),
            dataset,
            self.paths.dataset(rec.task) / "samples.parquet",
            *self._batches_of(predictions, rec.key, rec.sample_set.sample_ids),
        )
        if self.verified.get(rec.result_id) == digest:
            return
        self._count("a: re-scored")
        self._count("d: speed")
        manifest = load_manifest(self.paths, rec.model_name, rec.task, rec.manifest_id)
        if manifest.manifest_id not in manifests:
            raise InvariantError(f"result {rec.result_id}: its manifest {rec.manifest_id} is not stored")
        if manifest.key != rec.key or manifest.sample_set != rec.sample_set:
            raise InvariantError(f"result {rec.result_id}: its manifest has another key or sample set")
        computed = sum(run.computed for run in manifest.runs)
        computing = sum(1 for run in manifest.runs if run.computed)
        if (rec.speed.computed, rec.speed.runs) != (computed, computing) or computed > rec.sample_set.n:
            raise InvariantError(
                f"result {rec.result_id}: speed says {rec.speed.computed} computed in {rec.speed.runs} runs; its "
                f"manifest's runs computed {computed} in {computing} runs, of {rec.sample_set.n} samples"
            )
        task = load_task_registry().require(rec.task)
        scratch = EvaluationPaths(self.scratch)
        if not scratch.root.exists():
            scratch.root.mkdir(parents=True)
            (scratch.root / "datasets").symlink_to(self.paths.root / "datasets")
            (scratch.root / "predictions").symlink_to(self.paths.root / "predictions")
        again, scores = score(task, manifest, scratch)
        if _canonical(again) != _canonical(rec):
            raise InvariantError(
                f"result {rec.result_id} re-scored from its predictions differs from the archive:\n"
                f"archive   {_canonical(rec)}\nre-scored {_canonical(again)}"
            )
        if not result.sample_metrics.equals(scores):
            raise InvariantError(f"result {rec.result_id}: its per-sample scores differ when re-scored")
        shutil.rmtree(scratch.results / rec.task, ignore_errors=True)
        self.verified[rec.result_id] = digest

    def _batches_of(self, folder: Path, key: Any, sample_ids: tuple[str, ...]) -> list[Path]:
        """The batch files (written once, never changed) that hold an answer under `key` to one of
        `sample_ids`: all a re-scoring reads (`manifest_predictions` keeps only those rows)."""
        import polars as pl

        from vlm_pipelines.evaluation.identity import KEY_COLUMNS

        wanted = tuple(key.as_dict()[name] for name in KEY_COLUMNS)
        found = []
        for path in sorted(folder.glob("batch-*.parquet")):
            if path not in self.batch_answers:
                answers: dict[tuple, set[str]] = {}
                rows = pl.read_parquet(path, columns=[*KEY_COLUMNS, "sample_id"]).rows()
                for *key_values, sample_id in rows:
                    answers.setdefault(tuple(key_values), set()).add(sample_id)
                self.batch_answers[path] = answers
            if not self.batch_answers[path].get(wanted, set()).isdisjoint(sample_ids):
                found.append(path)
        return found

    def _check_leaderboard(self, results: list) -> None:
        """(c) and (d) on `leaderboard.json`: per task, the newest result of every key, with its n; each
        model's newest result shown; speed cells from the row's own result."""
        from vlm_pipelines.evaluation.archive import newest_by_key

        self._count("c: leaderboard")
        board = json.loads((self.paths.leaderboard / "leaderboard.json").read_text(encoding="utf-8"))
        newest = {r.record.result_id: r.record for r in newest_by_key(results)}
        by_task: dict[str, dict[str, Any]] = {}
        for rec in newest.values():
            by_task.setdefault(rec.task, {})[rec.result_id] = rec
        sections = {section["task"]: section for section in board["sections"]}
        missing = sorted(set(by_task) - set(sections))
        if missing:
            raise InvariantError(f"tasks with results but no leaderboard section: {missing}")
        for task, section in sections.items():
            shown = [*section["rows"], *section["others"]]
            ids = [row["result"] for row in shown]
            expected = by_task.get(task, {})
            if len(ids) != len(set(ids)) or set(ids) != set(expected):
                raise InvariantError(
                    f"leaderboard section {task} shows results {sorted(ids)}; the newest of each key are "
                    f"{sorted(expected)}"
                )
            for row in shown:
                rec = expected[row["result"]]
                if row["n"] != rec.n or row["model"] != rec.model_name:
                    raise InvariantError(
                        f"leaderboard {task}: row {row} says n {row['n']}, result has {rec.n}"
                    )
            ranked_models = [row["model"] for row in section["rows"]]
            if len(ranked_models) != len(set(ranked_models)):
                raise InvariantError(f"leaderboard {task}: a model is ranked twice: {ranked_models}")
            for row in section["rows"]:
                speed = expected[row["result"]].speed
                cells = (row["samples/s"], row["end-to-end samples/s"], row["model load s"])
                if cells != (speed.samples_per_s, speed.end_to_end_samples_per_s, speed.load_s):
                    raise InvariantError(
                        f"leaderboard {task}: speed {cells} of row {row['result']} is not its own"
                    )
            newest_of_model: dict[str, Any] = {}
            for rec in sorted(expected.values(), key=lambda rec: rec.created_ns):
                newest_of_model[rec.model_name] = rec
            for model, rec in newest_of_model.items():
                if rec.result_id not in ids:
                    raise InvariantError(
                        f"leaderboard {task}: {model}'s newest result {rec.result_id} is missing"
                    )


def _arg(argv: tuple[str, ...] | list[str], option: str) -> str | None:
    return argv[argv.index(option) + 1] if option in argv else None


def run_walk(
    root: Path, seed: int, steps: int, *, expensive: int | None = None, tolerate: tuple[str, ...] = ()
) -> WalkReport:
    """One walk of `steps` steps in a fresh data folder under `root`."""
    root.mkdir(parents=True, exist_ok=True)
    with walk_environment(root):
        walk = IdentityWalk(root, seed, expensive=expensive, tolerate=tolerate)
        return walk.run(steps)
