"""Rated chat answers become evaluation tasks: `chat_feedback_<assistant>`.

Each answer rated +1 (or picked in compare mode) gives one sample: the user's question, the exact prompt
the chat sent (with the retrieved passages frozen as they were at the time), and the accepted answer as
the reference (`reference_of`: what the user was given, without its citation marker).
The stored answer is kept in metadata (`answer`). Text questions are text-only samples (`context` in metadata); a question asked about an
image keeps its image. The task is written to `<data dir>/tasks/`, where the task registry reads it, so it
is evaluated like any task and re-evaluated by the release-tag sensor.

Metrics: `token_f1` (SQuAD token F1, citations removed), `anls` (DocVQA ANLS, tolerant of small edits in
short answers) and `citation_match` (the answer cites a source the accepted answer cited).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

import yaml

from vlm_pipelines.chat import STOP as CHAT_STOP
from vlm_pipelines.chat.store import Message, Store
from vlm_pipelines.tasks.registry import sanitize_task_name

TASK_PREFIX = "chat_feedback_"
METRICS = ["token_f1", "anls", "citation_match"]


@dataclass(frozen=True)
class FeedbackTask:
    name: str
    samples: int
    path: Path


def feedback_task_name(assistant_name: str) -> str:
    return TASK_PREFIX + sanitize_task_name(assistant_name)[:48]


def _write(path: Path, text: str) -> None:
    partial = path.with_name(f".{path.name}.tmp")
    partial.write_text(text, encoding="utf-8")
    os.replace(partial, path)


def reference_of(answer: Message) -> str:
    """What the user was given, without its citation marker (`notes["answer_text"]`): the model's own words,
    the quoted sentence, or "not in the sources"; an answer stored before that note, as stored."""
    return (answer.notes or {}).get("answer_text", answer.content)


def write_feedback_tasks(data_dir: Path, store: Store | None = None) -> list[FeedbackTask]:
    """Writes one task per assistant with accepted answers (rewritten in full each time)."""
    store = store or Store(Store.default_url(data_dir))
    by_assistant: dict[int, list] = {}
    for assistant, question, answer in store.rated_messages():
        by_assistant.setdefault(assistant.id, []).append((assistant, question, answer))
    tasks_dir = Path(data_dir) / "tasks"
    tasks_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for rows in by_assistant.values():
        assistant = rows[0][0]
        name = feedback_task_name(assistant.name)
        folder = tasks_dir / name
        folder.mkdir(exist_ok=True)
        lines = []
        for _, question, answer in rows:
            image = (question.notes or {}).get("image")
            record = {
                "id": f"message-{answer.id}",
                "question": question.content,
                "answers": [reference_of(answer)],
                "doc_type": "chat",
                "field_name": assistant.type,
                "images": [image] if image and Path(image).is_file() else [],
                "metadata": {
                    "context": (answer.request or {}).get("context") or "(no sources)",
                    "prompt": (answer.request or {}).get("prompt") or question.content,
                    "sources": [source.get("document") for source in answer.sources or []],
                    "model": (answer.request or {}).get("model"),
                    "conversation_id": answer.conversation_id,
                    "message_id": answer.id,
                    "answer": answer.content,
                },
            }
            lines.append(json.dumps(record, ensure_ascii=False))
        _write(folder / "manifest.jsonl", "\n".join(lines) + "\n")
        entry = {
            "name": name,
            "description": f"Questions users accepted answers to in the chat with assistant {assistant.name!r}.",
            "dataset": {"path": str(folder / "manifest.jsonl"), "format": "jsonl_manifest"},
            "prompt": {
                "strategy": "template",
                "template": "{{ metadata.prompt }}",
                **({"system_prompt": assistant.system_prompt} if assistant.system_prompt else {}),
            },
            # The chat's own generation settings, so the same model reproduces the accepted answer.
            "generation": {
                "max_new_tokens": int(assistant.max_tokens),
                "temperature": float(assistant.temperature),
                "stop": list(CHAT_STOP),
            },
            "postprocess": ["normalize_whitespace"],
            "metrics": METRICS,
            "group_by": ["field_name"],
        }
        _write(tasks_dir / f"{name}.yaml", yaml.safe_dump(entry, allow_unicode=True, sort_keys=False))
        written.append(FeedbackTask(name, len(rows), tasks_dir / f"{name}.yaml"))
    return written
