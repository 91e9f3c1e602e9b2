"""Submit mode: `vlmbench run/demo --deployment URL` sends the plan's runs to a running deployment through
Dagster's GraphQL API (dagster-graphql), one after the other as the in-process runner does, and follows
each until it ends. The deployment evaluates its own registry entries with its own code; only the plan's
names, sample cap and batch size are sent."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlparse

from vlm_pipelines.defs.runner import EvaluationPlan, PlanStep, RunReport, StepOutcome, walk_plan

TERMINAL = {"SUCCESS", "FAILURE", "CANCELED"}
QUEUED_WARNING_S = 60  # the daemon dequeues runs: a run still queued after this says it may be down
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

    def _follow(self, client, step: PlanStep, tags: dict[str, str], plan: EvaluationPlan) -> StepOutcome:
        started, label = time.perf_counter(), step.label
        run_id = self._submit(client, step.job, tags, plan)
        self.say(f"...  {label}: submitted run {run_id[:8]} ({self.url}/runs/{run_id})")
        status, last, warned = "QUEUED", "", False
        while status not in TERMINAL:
            time.sleep(self.poll_s)
            status = client.get_run_status(run_id).value
            if status != last:
                self.say(f"     {label}: {status.lower()}")
                last = status
            if status == "QUEUED" and not warned and time.perf_counter() - started > QUEUED_WARNING_S:
                self.say(
                    f"     {label}: still queued after {QUEUED_WARNING_S} s: is the deployment's daemon running?"
                )
                warned = True
        ok = status == "SUCCESS"
        message = (
            ""
            if ok
            else (self._failure(client, run_id) or f"run {status.lower()}; see {self.url}/runs/{run_id}")
        )
        return StepOutcome(
            step.kind,
            label,
            ok,
            time.perf_counter() - started,
            run_id,
            message,
            model=step.model,
            task=step.task,
        )

    def run(self, plan: EvaluationPlan, on_step: Callable[[StepOutcome], None]) -> RunReport:
        from vlm_pipelines.defs.automation.sensors import partition_run_tags

        client = graphql_client(self.url)
        self._check_reachable()

        def execute(step: PlanStep) -> StepOutcome:
            tags: dict[str, Any] = {}
            if step.kind == "dataset":
                tags = {"dagster/partition": step.task}
            elif step.kind == "evaluate":
                tags = {
                    "dagster/partition": f"{step.model}|{step.task}",
                    "dagster/partition/model": step.model,
                    "dagster/partition/task": step.task,
                    **partition_run_tags(plan.models[step.model]),
                }
            return self._follow(client, step, tags, plan)

        return walk_plan(plan, execute, on_step)
