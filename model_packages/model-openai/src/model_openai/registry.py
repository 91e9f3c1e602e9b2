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


def served_models(params: OpenAIClientParams) -> dict[str, dict]:
    """The endpoint's `/v1/models` entries by id; raises httpx errors when it cannot be reached."""
    from model_openai.transport import Endpoint

    response = Endpoint(params).get(f"{params.base_url}/models")
    response.raise_for_status()
    return {entry["id"]: entry for entry in response.json().get("data", [])}


def check_endpoint(params: BaseModel) -> Availability:
    import httpx

    assert isinstance(params, OpenAIClientParams)
    try:
        models = served_models(params)
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


def endpoint_version(params: OpenAIClientParams) -> str:
    """`/version` (vLLM, vlmbench serve); else the `Server` header of `/v1/models`; else 'unreported'."""
    import httpx

    from model_openai.transport import Endpoint

    endpoint = Endpoint(params)
    try:
        response = endpoint.get(f"{params.server_root}/version")
        if response.status_code == 200:
            version = response.json().get("version")
            if version:
                return str(version)
        server = endpoint.get(f"{params.base_url}/models").headers.get("server")
    except (httpx.HTTPError, ValueError, AttributeError):
        return UNREPORTED
    return server or UNREPORTED


def resolve_endpoint(params: BaseModel) -> Resolution:
    """The endpoint, served model and reported version key the results; a vlmbench service also reports the
    served wrapper's package version and its own resolved settings (the `vlmbench` field of `/v1/models`)."""
    import httpx

    assert isinstance(params, OpenAIClientParams)
    settings = {
        "endpoint": params.base_url,
        "served model": params.served_model,
        "endpoint version": endpoint_version(params),
    }
    try:
        served = served_models(params).get(params.served_model, {}).get("vlmbench") or {}
    except (httpx.HTTPError, ValueError, KeyError):
        served = {}
    if served:
        settings["served by"] = (
            f"{served.get('model_id')} ({served.get('package')} {served.get('package_version')})"
        )
        settings.update(
            {f"served {key}": str(value) for key, value in (served.get("resolved") or {}).items()}
        )
    return Resolution(settings=settings)
