"""The model service: an OpenAI-compatible HTTP server (FastAPI) over the registered model wrappers.
Imports without Dagster; `vlmbench serve` starts it."""
