"""How a task builds its prompts: the `prompt:` block of a task YAML."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, model_validator

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
        if self.template is not None:
            compile_template(self.template)
        if self.builder is not None:
            load_callable(self.builder, PROMPT_BUILDERS_GROUP)
        return self
