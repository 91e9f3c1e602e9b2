"""The `openai-compatible` model id (entry point `vlmbench.models`). Cheap: registering imports no HTTP
library (loading the Dagster definitions discovers every model); `check` and `resolve` make one short
HTTP request each to the endpoint."""

from __future__ import annotations

from typing import TYPE_CHECKING

from model_interface import Availability, ModelSpec, Resolution, package_version
from pydantic import BaseModel

from model_openai.params import OpenAIClientParams

if TYPE_CHECKING:
    from model_openai.adapter import OpenAIClientModel

PACKAGE = "model-openai"

MODEL_ID = "openai-compatible"
UNREPORTED = "unreported"


def model_specs() -> list[ModelSpec]:
    return [
        ModelSpec(
            model_id=MODEL_ID,
            package=PACKAGE,
            description="Any OpenAI-compatible chat endpoint (vLLM serve, SGLang, llama.cpp server, "
            "vlmbench serve); params base_url and served_model.",
            params_model=OpenAIClientParams,
            factory=create_client_model,
            check=check_endpoint,
            resolve=resolve_endpoint,
            modality="vision",
        )
    ]


def create_client_model(model_id: str, params: BaseModel) -> OpenAIClientModel:
    from model_openai.adapter import OpenAIClientModel

    assert isinstance(params, OpenAIClientParams)
    return OpenAIClientModel(model_id, package_version(PACKAGE), params)


def _served(response) -> dict[str, dict]:
    """`/v1/models` entries by id."""
    response.raise_for_status()
    return {entry["id"]: entry for entry in response.json().get("data", [])}


def _key_refused(params: OpenAIClientParams, status: int) -> str:
    import os

    sent = "a key" if os.environ.get(params.api_key_env) else "no key"
    return (
        f"{params.base_url} refused the request (HTTP {status}; {sent} was sent): set the environment variable "
        f"{params.api_key_env} (the api_key_env param) to the server's API key"
    )


def check_endpoint(params: BaseModel) -> Availability:
    import httpx

    from model_openai.transport import Endpoint

    assert isinstance(params, OpenAIClientParams)
    try:
        with Endpoint(params) as endpoint:
            response = endpoint.get(f"{params.base_url}/models")
            if response.status_code in (401, 403):
                return Availability(False, _key_refused(params, response.status_code))
            models = _served(response)
    except (httpx.HTTPError, ValueError, KeyError) as error:
        return Availability(
            False,
            f"cannot reach {params.base_url}/models ({type(error).__name__}: {error}); start the server, "
            f"e.g. `vlmbench serve --model {params.served_model} --port 8000`",
        )
    if params.served_model not in models:
        return Availability(
            False,
            f"{params.base_url} does not serve {params.served_model!r}; it serves: {', '.join(models) or 'nothing'}",
        )
    return Availability(True)


def _reported_version(endpoint, params: OpenAIClientParams, models_response) -> str:
    """`/version` (vLLM, vlmbench serve); else the `Server` header of `/v1/models`; else 'unreported'."""
    import httpx

    try:
        response = endpoint.get(f"{params.server_root}/version")
        if response.status_code == 200 and response.json().get("version"):
            return str(response.json()["version"])
    except (httpx.HTTPError, ValueError, AttributeError):
        pass
    server = models_response.headers.get("server") if models_response is not None else None
    return server or UNREPORTED


def resolve_endpoint(params: BaseModel) -> Resolution:
    """The endpoint, served model and reported version key the results; a vlmbench service also reports the
    served wrapper's package version and its own resolved settings (the `vlmbench` field of `/v1/models`).
    One connection, one request to each of `/v1/models` and `/version`."""
    import httpx

    from model_openai.transport import Endpoint

    assert isinstance(params, OpenAIClientParams)
    with Endpoint(params) as endpoint:
        try:
            models_response = endpoint.get(f"{params.base_url}/models")
            served = _served(models_response).get(params.served_model, {}).get("vlmbench") or {}
        except (httpx.HTTPError, ValueError, KeyError):
            models_response, served = None, {}
        settings = {
            "endpoint": params.base_url,
            "served model": params.served_model,
            "endpoint version": _reported_version(endpoint, params, models_response),
        }
    if served:
        settings["served by"] = (
            f"{served.get('model_id')} ({served.get('package')} {served.get('package_version')})"
        )
        settings.update(
            {f"served {key}": str(value) for key, value in (served.get("resolved") or {}).items()}
        )
        settings.update(  # the versions of the packages the served model uses (its own included)
            {f"served uses {p}": str(v) for p, v in (served.get("package_versions") or {}).items()}
        )
    return Resolution(settings=settings)
