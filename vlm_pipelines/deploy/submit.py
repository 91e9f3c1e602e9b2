"""Submit mode: `vlmbench run/demo --deployment URL` sends the plan's runs to a running deployment through
Dagster's GraphQL API (dagster-graphql) and follows them to their end. Each stage of the plan (datasets,
then evaluations, then the leaderboard) is sent whole, then its runs are followed together, so a
deployment with several GPUs (or a Kubernetes cluster) runs them side by side; the deployment's queue and
run coordinator decide where each runs. A deployment that splits inference from scoring
(`VLMBENCH_SPLIT_INFERENCE=1`) gets `inference` runs, and each is followed into the `scoring` run its
`score_after_inference` sensor starts. The deployment evaluates its own registry entries with its own code;
only the plan's names, sample cap and batch size are sent."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlparse

from vlm_pipelines.defs.runner import EvaluationPlan, PlanStep, RunReport, StepOutcome, walk_plan

TERMINAL = {"SUCCESS", "FAILURE", "CANCELED"}
QUEUED_WARNING_S = 60  # the daemon dequeues runs: a run still queued after this says it may be down
SCORING_WARNING_S = 120  # the scoring sensor runs every 30 s
FAILURE_QUERY = """
query RunFailure($runId: ID!) {
  logsForRun(runId: $runId) {
    __typename
    ... on EventConnection {
      events {
        __typename
        ... on ExecutionStepFailureEvent { stepKey error { message } }
        ... on RunFailureEvent { message }
      }
    }
  }
}
"""
SENSOR_TARGETS_QUERY = """
query SensorTargets {
  repositoriesOrError {
    ... on RepositoryConnection { nodes { sensors { name targets { pipelineName } } } }
  }
}
"""
RUN_BY_KEY_QUERY = """
query RunByKey($key: String!) {
  runsOrError(filter: {tags: [{key: "dagster/run_key", value: $key}]}) {
    ... on Runs { results { runId } }
  }
}
"""


class DeploymentError(RuntimeError):
    pass


def graphql_client(url: str):
    from dagster_graphql import DagsterGraphQLClient

    parsed = urlparse(url if "://" in url else f"http://{url}")
    if not parsed.hostname:
        raise DeploymentError(f"--deployment {url!r} is not a URL (e.g. http://dagster-host:3000)")
    return DagsterGraphQLClient(
        parsed.hostname,
        port_number=parsed.port,
        use_https=parsed.scheme == "https",
        path_prefix=parsed.path.rstrip("/"),
        timeout=60,
    )


@dataclass
class Followed:
    """A submitted step and the run that currently stands for it (its inference, then its scoring run)."""

    step: PlanStep
    run_id: str
    started: float
    status: str = "QUEUED"
    warned: bool = False
    awaiting_scoring_since: float | None = None
    run_ids: list[str] = field(default_factory=list)


@dataclass
class DeploymentRunner:
    url: str
    poll_s: float = 1.0
    say: Callable[[str], None] = print

    def start_loading(self, models: Mapping) -> None:
        """Nothing loads here: the deployment's run containers load the models."""

    def _check_reachable(self) -> None:
        import httpx

        try:
            httpx.get(f"{self.url}/server_info", timeout=10).raise_for_status()
        except httpx.HTTPError as error:
            raise DeploymentError(
                f"cannot reach the deployment at {self.url} ({type(error).__name__}: {error}); "
                "give its Dagster webserver's URL, e.g. http://dagster-host:3000"
            ) from None

    def _splits_inference(self, client) -> bool:
        """Whether the deployment evaluates in `inference` + `scoring` runs: its release sensor targets
        `inference` (definitions.py, VLMBENCH_SPLIT_INFERENCE on its code server)."""
        repositories = client._execute(SENSOR_TARGETS_QUERY)["repositoriesOrError"]  # noqa: SLF001
        return any(
            sensor["name"] == "model_release_sensor"
            and any(target["pipelineName"] == "inference" for target in sensor["targets"] or [])
            for repository in repositories.get("nodes", [])
            for sensor in repository["sensors"]
        )

    def _submit(self, client, job: str, tags: dict[str, str], plan: EvaluationPlan) -> str:
        from dagster_graphql import DagsterGraphQLClientError

        evaluation = {key: value for key, value in
                      {"max_samples": plan.max_samples, "batch_size": plan.batch_size}.items() if value}  # fmt: skip
        run_config = {"resources": {"evaluation": {"config": evaluation}}} if evaluation else {}
        try:
            return client.submit_job_execution(job, run_config=run_config, tags=tags)
        except DagsterGraphQLClientError as error:
            raise DeploymentError(f"{self.url} refused the {job} run: {error}") from None

    def _failure(self, client, run_id: str) -> str:
        try:
            logs = client._execute(FAILURE_QUERY, {"runId": run_id})["logsForRun"]  # noqa: SLF001
        except Exception:  # noqa: BLE001 - the status already says it failed
            return ""
        messages = [
            (event.get("error") or {}).get("message") or event.get("message") or ""
            for event in logs.get("events", [])
            if event["__typename"] in ("ExecutionStepFailureEvent", "RunFailureEvent")
        ]
        lines = messages[0].strip().splitlines() if messages else []
        return lines[-1] if lines else ""

    def _scoring_run(self, client, inference_run_id: str) -> str | None:
        found = client._execute(RUN_BY_KEY_QUERY, {"key": f"score:{inference_run_id}"})  # noqa: SLF001
        results = found["runsOrError"].get("results") or []
        return results[0]["runId"] if results else None

    def _outcome(self, client, followed: Followed) -> StepOutcome:
        step, ok = followed.step, followed.status == "SUCCESS"
        message = ""
        if not ok:
            message = self._failure(client, followed.run_id) or (
                f"run {followed.status.lower()}; see {self.url}/runs/{followed.run_id}"
            )
        return StepOutcome(
            step.kind,
            step.label,
            ok,
            time.perf_counter() - followed.started,
            followed.run_id,
            message,
            model=step.model,
            task=step.task,
        )

    def _advance(self, client, followed: Followed, split: bool) -> bool:
        """One poll of a followed step; True when it has ended."""
        label = followed.step.label
        if followed.awaiting_scoring_since is not None:
            scoring = self._scoring_run(client, followed.run_id)
            if scoring is None:
                waited = time.perf_counter() - followed.awaiting_scoring_since
                if waited > SCORING_WARNING_S and not followed.warned:
                    self.say(f"     {label}: no scoring run yet: is the score_after_inference sensor on?")
                    followed.warned = True
                return False
            self.say(f"     {label}: scoring in run {scoring[:8]} ({self.url}/runs/{scoring})")
            followed.run_id, followed.status, followed.awaiting_scoring_since = scoring, "QUEUED", None
            followed.run_ids.append(scoring)
            return False
        status = client.get_run_status(followed.run_id).value
        if status != followed.status:
            self.say(f"     {label}: {status.lower()}")
            followed.status = status
        waited = time.perf_counter() - followed.started
        if status == "QUEUED" and not followed.warned and waited > QUEUED_WARNING_S:
            self.say(
                f"     {label}: still queued after {QUEUED_WARNING_S} s: waiting for GPUs, or is the deployment's daemon down?"
            )
            followed.warned = True
        if status not in TERMINAL:
            return False
        if split and followed.step.kind == "evaluate" and status == "SUCCESS" and len(followed.run_ids) == 1:
            followed.awaiting_scoring_since, followed.warned = time.perf_counter(), False
            return False
        return True

    def run(self, plan: EvaluationPlan, on_step: Callable[[StepOutcome], None]) -> RunReport:
        client = graphql_client(self.url)
        self._check_reachable()
        split = self._splits_inference(client)

        def tags_of(step: PlanStep) -> dict[str, Any]:
            if step.kind == "dataset":
                return {"dagster/partition": step.task}
            if step.kind == "evaluate":  # the deployment's run coordinator adds the GPUs the model needs
                return {
                    "dagster/partition": f"{step.model}|{step.task}",
                    "dagster/partition/model": step.model,
                    "dagster/partition/task": step.task,
                }
            return {}

        def run_stage(steps: list[PlanStep]) -> Iterator[StepOutcome]:
            pending = []
            for step in steps:
                job = "inference" if split and step.kind == "evaluate" else step.job
                run_id = self._submit(client, job, tags_of(step), plan)
                self.say(f"...  {step.label}: submitted run {run_id[:8]} ({self.url}/runs/{run_id})")
                pending.append(Followed(step, run_id, time.perf_counter(), run_ids=[run_id]))
            while pending:
                time.sleep(self.poll_s)
                for followed in list(pending):
                    if self._advance(client, followed, split):
                        pending.remove(followed)
                        yield self._outcome(client, followed)

        return walk_plan(plan, run_stage, on_step)
