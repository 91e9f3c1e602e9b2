"""First token for two chat users asking at the same moment, against one user alone.

What it measures: the real app (`ui.app.launch` on 127.0.0.1, a fresh data folder and Dagster instance, the
handbook documents of `tests/chat` ingested as the app does) with an assistant set as the seeded default
(smollm2-135m, template "Cite the sources", search limit 2, 64 tokens). Users alice and bob each hold a
`gradio_client` connection; per round, one user asks alone, then both ask at once (released together by a
barrier). The first token is the time from submitting `/ask` to its first streamed output (the app streams
only once the answer has text); the engine's own `ttft_s` (stored with each answer, from the start of
`ChatEngine.ask`) is reported too. Figures are medians over the rounds.

    uv run --frozen python bench/chat_two_users.py                # batched (the chat's default)
    uv run --frozen python bench/chat_two_users.py --serial       # one generation at a time, as before
    uv run --frozen python bench/chat_two_users.py --rounds 7 --json out.json

torch threads are what the app ends up with (the model's loading sets them: smollm2-135m's package default
is 1); `--threads N` sets them after loading, for comparison.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
QUESTIONS = {
    "alice": ["What is the warranty period of the ZX-900 pump?", "When was invoice INV-48213 paid?"],
    "bob": ["When does the Riverside office open?", "What is the maintenance code for the cooling unit?"],
}


def first_token(client, assistant_id: int, question: str) -> float:
    """Seconds from submitting the question to its first streamed output; waits for the whole answer."""
    conversation = client.predict(str(assistant_id), api_name="/new_conversation")["value"]
    started = time.perf_counter()
    job = client.submit(conversation, {"text": question, "files": []}, None, api_name="/ask")
    first = None
    for _ in job:
        if first is None:
            first = time.perf_counter() - started
    job.result()
    return first if first is not None else time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--serial", action="store_true", help="one generation per model at a time")
    parser.add_argument("--threads", type=int, help="torch threads, set after the model has loaded")
    parser.add_argument("--json", type=Path, help="write the figures here as well")
    args = parser.parse_args()
    sys.path.insert(0, str(REPO_ROOT))
    import pytest

    from tests.chat.conftest import chat_environment, seed_site, start_site
    from ui.generation import ChatStreams
    from ui.service import DEMO_SYSTEM_PROMPT
    from vlm_pipelines.chat.store import Store

    with tempfile.TemporaryDirectory() as root, pytest.MonkeyPatch.context() as monkeypatch:
        data_dir = chat_environment(monkeypatch, Path(root))
        handbook, private = seed_site(data_dir)
        store = Store(Store.default_url(data_dir))
        template = next(t for t in store.templates("alice") if t.name == "Cite the sources")
        assistant = store.save_assistant(
            None, name="Bench helper", system_prompt=DEMO_SYSTEM_PROMPT, model="smollm2-135m", max_tokens=64,
            search_limit=2, template_id=template.id, private=False, knowledge_bases=["handbook"],
        )  # fmt: skip
        site = start_site(data_dir, handbook, private)
        try:
            import torch

            if args.threads:
                torch.set_num_threads(args.threads)
            if args.serial:
                site.app.engine.streams = ChatStreams(batch=False)
            clients = {user: site.client(user) for user in QUESTIONS}
            first_token(clients["alice"], assistant.id, QUESTIONS["alice"][0])  # warm: MiniLM, caches
            single, pair = [], {"alice": [], "bob": []}
            for round_ in range(args.rounds):
                single.append(first_token(clients["alice"], assistant.id, QUESTIONS["alice"][round_ % 2]))
                barrier = threading.Barrier(len(clients))

                def ask(user: str, round_: int = round_, barrier: threading.Barrier = barrier) -> None:
                    barrier.wait()
                    question = QUESTIONS[user][round_ % 2]
                    pair[user].append(first_token(clients[user], assistant.id, question))

                users = [threading.Thread(target=ask, args=(user,)) for user in clients]
                for user in users:
                    user.start()
                for user in users:
                    user.join()
            engine_ttft = sorted(
                message.ttft_s
                for user in clients
                for conversation in store.conversations(user, assistant.id)
                for message in store.conversation(user, conversation.id).messages
                if message.role == "assistant" and message.ttft_s is not None
            )
        finally:
            site.demo.close()
    figures = {
        "mode": "serial" if args.serial else "batched",
        "torch_threads": torch.get_num_threads(),
        "rounds": args.rounds,
        "single_first_token_s": round(statistics.median(single), 3),
        "alice_first_token_s": round(statistics.median(pair["alice"]), 3),
        "bob_first_token_s": round(statistics.median(pair["bob"]), 3),
        "slower_of_two_first_token_s": round(
            statistics.median(max(a, b) for a, b in zip(pair["alice"], pair["bob"], strict=True)), 3
        ),
        "engine_ttft_median_s": round(statistics.median(engine_ttft), 3),
    }
    print(
        f"{figures['mode']}, {figures['torch_threads']} torch thread(s), median of {args.rounds} rounds: "
        f"first token alone {figures['single_first_token_s']} s; together alice "
        f"{figures['alice_first_token_s']} s, bob {figures['bob_first_token_s']} s "
        f"(slower of the two {figures['slower_of_two_first_token_s']} s)"
    )
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
