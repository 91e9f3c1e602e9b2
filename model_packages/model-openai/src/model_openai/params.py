"""Settings of an OpenAI-compatible endpoint client (registry YAML or `--model-param key=value`)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, field_validator


class OpenAIClientParams(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, protected_namespaces=())

    base_url: str = Field(
        default="http://127.0.0.1:8000/v1", description="The endpoint's API root, ending in /v1."
    )
    served_model: str = Field(min_length=1, description="The model name the endpoint serves (`model` field).")
    api_key_env: str = Field(
        default="OPENAI_API_KEY", description="Environment variable holding the API key (unset: no key)."
    )
    max_concurrency: int = Field(default=8, ge=1, le=256, description="Requests in flight at once.")
    timeout_s: float = Field(
        default=300.0, gt=0, description="Seconds a request (or a stream pause) may take."
    )
    connect_timeout_s: float = Field(default=10.0, gt=0)
    max_retries: int = Field(
        default=3, ge=0, le=20, description="Retries of a transport error, 408, 429 or 5xx."
    )
    backoff_s: float = Field(default=0.5, ge=0, description="First retry delay; doubles per retry.")
    backoff_max_s: float = Field(default=8.0, ge=0)
    stream: bool = Field(
        default=False,
        description="Read answers as server-sent events: measures TTFT, but an HF model behind `vlmbench serve` "
        "then answers one request at a time (vLLM and SGLang batch streamed requests too).",
    )

    @field_validator("base_url")
    @classmethod
    def _api_root(cls, base_url: str) -> str:
        base_url = base_url.strip().rstrip("/")
        if not base_url.startswith(("http://", "https://")):
            raise ValueError(f"{base_url!r} is not an http(s) URL (e.g. http://127.0.0.1:8000/v1)")
        return base_url

    @property
    def server_root(self) -> str:
        """The server's root URL (where vLLM and `vlmbench serve` answer `/version` and `/health`)."""
        return self.base_url.removesuffix("/v1")
