"""Answer quality of the chat's default assistant on the `project-docs` question set.

What it measures: the seeded assistant "Docs helper" (smollm2-135m, template "Cite the sources", its
search limit and max tokens) answers every question of `registry/knowledge/questions/project-docs-answers.yaml`
through `ui.engine.ChatEngine`, in a fresh data folder and Dagster instance (seeded and ingested as the app
does), once per retrieval mode (`hybrid`, `keyword` = BM25 alone), and the first six questions again as one
six-turn conversation.

    uv run --frozen python bench/chat_answers.py                 # both modes, about 5 min here
    uv run --frozen python bench/chat_answers.py --modes keyword --json out.json

Definitions (per question):
- right: the normalized reference occurs in the normalized answer (NFKC, case-folded, every run of
  characters other than letters and digits made one space, matched on word boundaries);
- citation right: the answer cites exactly one source, and its document is the question's document;
- in prompt: the normalized reference occurs in the sources the prompt showed the model;
- marker loop: the model's raw text holds three or more citation markers in a row (`[1] [n] [2]`), or the
  stored answer holds two or more;
- not in sources: no retrieved sentence held enough of the question, so the chat said the sources do not
  contain the answer;
- by span / by quote: a right answer that is the model's own words (a span of the cited sentence), or the
  cited sentence quoted because the model's words were not in it.
Questions marked `split: held-out` were written before the thresholds were tuned and are totalled apart.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import sys
import tempfile
import time
import unicodedata
from pathlib import Path

import yaml

REPO_ROOT = Path(__file__).resolve().parents[1]
QUESTIONS = REPO_ROOT / "registry" / "knowledge" / "questions" / "project-docs-answers.yaml"
LOOP_RAW = re.compile(r"(?:\[(?:\d{1,2}|n)\]\s*){3,}")
LOOP_STORED = re.compile(r"(?:\[(?:\d{1,2}|n)\]\s*){2,}")
CONVERSATION_TURNS = 6
COUNTED = ("right", "by_span", "by_quote", "citation_right", "in_prompt", "marker_loop", "not_in_sources")


def normalize(text: str) -> str:
    text = unicodedata.normalize("NFKC", text).casefold()
    return " ".join(re.sub(r"[^\w]|_", " ", text).split())


def contains(text: str, reference: str) -> bool:
    return f" {normalize(reference)} " in f" {normalize(text)} "


def expected_documents(item: dict) -> set[str]:
    return set(item.get("documents") or [item["document"]])


def load_questions(path: Path = QUESTIONS) -> list[dict]:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def prepared_site(root: Path) -> Path:
    """A data folder and Dagster home with the seeded demo (users, project-docs ingested, Docs helper)."""
    data_dir, home = root / "data", root / "dagster_home"
    home.mkdir(parents=True, exist_ok=True)
    shutil.copy(REPO_ROOT / "dagster.yaml", home / "dagster.yaml")
    os.environ.update(
        VLMBENCH_DATA_DIR=str(data_dir), DAGSTER_HOME=str(home), VLMBENCH_CHAT_USERS="demo:demo"
    )
    from ui.service import seed_demo
    from vlm_pipelines.chat.store import Store

    seed_demo(Store(Store.default_url(data_dir)), data_dir, ingest_now=True)
    return data_dir


def ask(engine, conversation_id: int, question: str) -> dict:
    """One answer: the model's raw text (the last streamed piece before the answer was finished) and the
    stored message."""
    raw = ""
    for reply in engine.ask("demo", conversation_id, question):
        if not reply.done:
            raw = reply.text
    message = reply.message
    return {
        "answer": message.content,
        "raw": raw,
        "cited": [s["document"] for s in message.sources if s["n"] in (message.notes or {}).get("cited", [])],
        "context": message.request["context"],
        "how": (message.notes or {}).get("answer", ""),
        "model_text": (message.notes or {}).get("model_text", raw),
    }


def score(item: dict, result: dict) -> dict:
    from ui.engine import MODEL_SPAN, NOT_IN_SOURCES, QUOTED

    return {
        "right": contains(result["answer"], str(item["answer"])),
        "citation_right": len(result["cited"]) == 1 and result["cited"][0] in expected_documents(item),
        "in_prompt": contains(result["context"], str(item["answer"])),
        "marker_loop": bool(LOOP_RAW.search(result["raw"]) or LOOP_STORED.search(result["answer"])),
        "not_in_sources": result["answer"] == NOT_IN_SOURCES,
        "by_span": contains(result["answer"], str(item["answer"])) and result["how"] == MODEL_SPAN,
        "by_quote": contains(result["answer"], str(item["answer"])) and result["how"] == QUOTED,
    }


def run(data_dir: Path, modes: list[str], questions: list[dict]) -> dict:
    from ui.engine import ChatEngine
    from ui.service import DEMO_ASSISTANT
    from vlm_pipelines.chat.store import Store

    store = Store(Store.default_url(data_dir))
    assistant = next(a for a in store.assistants("demo") if a.name == DEMO_ASSISTANT)
    engine = ChatEngine(store, data_dir)
    engine.warm_up(assistant.model)
    report: dict = {"questions": len(questions), "modes": {}}
    for mode in modes:
        engine.retrieval_mode = mode
        rows = []
        for item in questions:  # the tuned questions first, then the held-out ones
            conversation = store.new_conversation("demo", assistant.id)
            result = ask(engine, conversation.id, item["question"])
            rows.append(
                {"question": item["question"], "reference": item["answer"], "split": item.get("split", "tuned"),
                 **result, **score(item, result)}
            )  # fmt: skip
        conversation = store.new_conversation("demo", assistant.id)
        turns = []
        for item in questions[:CONVERSATION_TURNS]:
            result = ask(engine, conversation.id, item["question"])
            turns.append({"question": item["question"], **result, **score(item, result)})
        totals = {
            split: {
                "n": sum(row["split"] == split for row in rows),
                **{key: sum(row[key] for row in rows if row["split"] == split) for key in COUNTED},
            }
            for split in ("tuned", "held-out")
        }
        totals["conversation_right"] = sum(turn["right"] for turn in turns)
        totals["conversation_alone_right"] = sum(row["right"] for row in rows[:CONVERSATION_TURNS])
        report["modes"][mode] = {"totals": totals, "rows": rows, "conversation": turns}
    return report


def print_report(report: dict) -> None:
    print(f"\nchat answers, Docs helper on project-docs ({report['questions']} questions)")
    print(
        f"{'mode':8} {'split':9} {'right':>6} {'span':>5} {'quote':>6} {'cited ok':>9} {'in prompt':>10} "
        f"{'loops':>6} {'not in src':>11} {'6-turn right':>13}"
    )
    for mode, result in report["modes"].items():
        t = result["totals"]
        for split in ("tuned", "held-out"):
            s, n = t[split], t[split]["n"]
            conversation = (
                f"{t['conversation_right']}/{CONVERSATION_TURNS} ({t['conversation_alone_right']} alone)"
                if split == "tuned"
                else ""
            )
            print(
                f"{mode:8} {split:9} {s['right']:>3}/{n:<2} {s['by_span']:>5} {s['by_quote']:>6} "
                f"{s['citation_right']:>6}/{n:<2} {s['in_prompt']:>7}/{n:<2} {s['marker_loop']:>6} "
                f"{s['not_in_sources']:>11} {conversation:>13}"
            )
    for mode, result in report["modes"].items():
        print(f"\n{mode}: wrong answers")
        for row in result["rows"]:
            if not row["right"]:
                print(f"- {row['question']} (want {row['reference']!r}) -> {row['answer']!r}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--modes", default="hybrid,keyword", help="retrieval modes, comma-separated")
    parser.add_argument("--limit", type=int, default=0, help="the first N questions only")
    parser.add_argument("--json", type=Path, help="write the per-question report here")
    parser.add_argument(
        "--workdir", type=Path, help="keep the ingested index here between runs (seeded anew)"
    )
    args = parser.parse_args(argv)
    questions = load_questions()[: args.limit or None]
    modes = [m.strip() for m in args.modes.split(",") if m.strip()]
    started = time.perf_counter()
    if args.workdir:
        (args.workdir / "data" / "chat" / "app.db").unlink(missing_ok=True)  # the current seeded template
        report = run(prepared_site(args.workdir), modes, questions)
    else:
        with tempfile.TemporaryDirectory(prefix="chat-answers-") as root:
            report = run(prepared_site(Path(root)), modes, questions)
    report["seconds"] = round(time.perf_counter() - started, 1)
    print_report(report)
    print(f"\n{report['seconds']} s")
    if args.json:
        args.json.write_text(json.dumps(report, indent=2, ensure_ascii=False), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
