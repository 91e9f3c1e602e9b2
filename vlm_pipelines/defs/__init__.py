"""Dagster definitions, one folder per area, in the layout of dagster-open-platform:

- `evaluation/`: each task's dataset, and each model x task partition's predictions, scores and report
  (`assets.py`, `checks.py`, `jobs.py`);
- `leaderboard/`: the cross-model leaderboard;
- `automation/`: the release-tag sensor and the weekly schedule (`sensors.py`, `schedules.py`);
- `partitions.py` and `resources.py`, declared once; `runner.py`, which runs them for the CLI.

Each module declares; the work happens in the `vlm_pipelines` core modules, which import no Dagster.
"""
