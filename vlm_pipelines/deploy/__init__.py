"""Deployment pieces that need Dagster's deployment libraries (dagster-docker): the GPU run launcher."""
