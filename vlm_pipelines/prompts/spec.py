"""How a task builds its prompts: the `prompt:` block of a task YAML."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from vlm_pipelines.plugins import PROMPT_BUILDERS_GROUP, load_callable
from vlm_pipelines.prompts.template import compile_template

# The prompt keys each strategy uses (others may not be set), and the one it cannot do without.
_STRATEGY_KEYS = {
    "collection": ("collection",),
    "template": ("template",),
    "json_schema": ("fields", "json_schema", "instructions"),
    "builder": ("builder",),
}
_REQUIRED_PROMPT_KEY = {"collection": "collection", "template": "template", "builder": "builder"}


class PromptVariant(BaseModel):
    """A named alternative prompt of a task (e.g. the one another harness sends): a Jinja template, and
    optionally its own system prompt."""

    model_config = ConfigDict(extra="forbid")

    template: str
    system_prompt: str | None = None
    description: str = ""


class PromptSpec(BaseModel):
    """How a sample's prompt is built.

    - question: the dataset question as is.
    - collection: `collection` is a `prompt;doc_class_question_type[;cer]` CSV; its prompt for
      "<doc_type> <field_name>" replaces the question (rows without a key keep the question).
    - template: `template` is Jinja over question, doc_type, field_name, split, metadata, image_count.
    - json_schema: an extraction prompt listing `fields` (and `json_schema` when given); `instructions`
      replaces the default lead sentence.
    - builder: `builder` names a function from an installed package, `package.module:function` or an entry
      point in `vlmbench.prompt_builders`; it gets the template's variables as a dict and returns the prompt.

    `variants` names alternative prompts (`PromptVariant`); `variant` picks one of them instead of the
    prompt above (`vlmbench run --set prompt.variant=vlmevalkit`). The variant is part of the prompt hash.
    """

    model_config = ConfigDict(extra="forbid")

    strategy: Literal["question", "collection", "template", "json_schema", "builder"] = "question"
    system_prompt: str | None = None
    collection: str | None = None
    template: str | None = None
    fields: list[str] | None = None
    json_schema: dict[str, Any] | None = None
    instructions: str | None = None
    builder: str | None = None
    variants: dict[str, PromptVariant] = Field(default_factory=dict)
    variant: str | None = None

    def resolved(self) -> PromptSpec:
        """The spec that builds the prompts: this one, or its chosen variant as a template strategy."""
        if self.variant is None:
            return self
        chosen = self.variants[self.variant]
        return PromptSpec(
            strategy="template",
            template=chosen.template,
            system_prompt=chosen.system_prompt if chosen.system_prompt is not None else self.system_prompt,
        )

    @model_validator(mode="after")
    def _keys_match_strategy(self) -> PromptSpec:
        required = _REQUIRED_PROMPT_KEY.get(self.strategy)
        if required and not getattr(self, required):
            raise ValueError(f"strategy {self.strategy!r} needs the key '{required}'")
        for strategy, keys in _STRATEGY_KEYS.items():
            for key in keys:
                if strategy != self.strategy and getattr(self, key) is not None:
                    raise ValueError(
                        f"'{key}' is only used by strategy {strategy!r}, not {self.strategy!r}: "
                        f"remove it or change the strategy"
                    )
        if self.variant is not None and self.variant not in self.variants:
            known = ", ".join(sorted(self.variants)) or "none defined"
            raise ValueError(f"unknown prompt variant {self.variant!r}; this task's variants: {known}")
        for name, variant in self.variants.items():
            try:
                compile_template(variant.template)
            except ValueError as error:
                raise ValueError(f"prompt variant {name!r}: {error}") from error
        if self.template is not None:
            compile_template(self.template)
        if self.builder is not None:
            load_callable(self.builder, PROMPT_BUILDERS_GROUP)
        return self
