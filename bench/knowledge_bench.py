"""Knowledge-base and chat figures (issues 9 and 19): ingestion rate, hybrid-query latency at 10,000 chunks,
BM25 alone, vector alone and hybrid side by side on exact-token questions (the synthetic ledgers) and on the
seeded `project-docs` knowledge base's question set (exact-token and natural-language questions apart),
the hybrid fusions tried on both (what `index.FUSION` was chosen from), time to the first streamed token
with smollm2-135m on a warm model, and the chat app's memory with the demo loaded.

    uv run python bench/knowledge_bench.py [--chunks 10000] [--queries 200] [--json out.json]

Everything is real: MiniLM embeddings, a persistent Chroma collection and BM25 in a temporary folder,
SmolLM2 through the chat engine, and `vlmbench chat` started as a user would start it.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

COMPANIES = [
    "Acme",
    "Globex",
    "Initech",
    "Umbrella",
    "Hooli",
    "Stark",
    "Wayne",
    "Tyrell",
    "Cyberdyne",
    "Soylent",
]
PRODUCTS = [
    "pump",
    "valve",
    "filter",
    "compressor",
    "sensor",
    "motor",
    "gasket",
    "controller",
    "bearing",
    "hose",
]
RECORDS_PER_DOCUMENT = 20


def record(number: int, rng: random.Random) -> str:
    company, product = rng.choice(COMPANIES), rng.choice(PRODUCTS)
    return (
        f"Invoice INV-{number:05d} was issued by {company} Industries for a replacement {product} and its "
        f"installation. The total amount is {rng.randint(100, 99999)}.{rng.randint(0, 99):02d} EUR, payable within "
        f"{rng.choice([14, 30, 45, 60])} days to account {rng.randint(10**7, 10**8 - 1)}. Delivery went to the "
        f"{rng.choice(['north', 'south', 'east', 'west'])} warehouse of {company}, and the {product} is covered "
        f"by the standard warranty terms of the supplier."
    )


def write_corpus(folder: Path, chunks: int, seed: int = 0) -> dict[int, str]:
    """Markdown documents of `RECORDS_PER_DOCUMENT` records, one record per section (one chunk each);
    returns invoice number -> document. The records differ only in numbers and a few words: what vector
    search alone cannot tell apart."""
    rng = random.Random(seed)
    folder.mkdir(parents=True, exist_ok=True)
    where = {}
    for doc_index in range(chunks // RECORDS_PER_DOCUMENT):
        name = f"ledger-{doc_index:04d}.md"
        parts = [f"# Ledger {doc_index}"]
        for offset in range(RECORDS_PER_DOCUMENT):
            number = doc_index * RECORDS_PER_DOCUMENT + offset
            parts.append(f"## Entry {offset + 1}\n\n{record(number, rng)}")
            where[number] = name
        (folder / name).write_text("\n\n".join(parts) + "\n", encoding="utf-8")
    return where


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


# Hybrid fusions compared on every question set; `index.FUSION` is the one chosen from them.
FUSIONS = {
    "RRF 1:1 (before issue 19)": {"keyword_weight": 1.0, "vector_weight": 1.0, "exact_first": False},
    "RRF 2:1 (BM25:vector)": {"keyword_weight": 2.0, "vector_weight": 1.0, "exact_first": False},
    "RRF 1:2": {"keyword_weight": 1.0, "vector_weight": 2.0, "exact_first": False},
    "RRF 1:1, exact tokens first": {"keyword_weight": 1.0, "vector_weight": 1.0, "exact_first": True},
    "RRF 2:1, exact tokens first": {"keyword_weight": 2.0, "vector_weight": 1.0, "exact_first": True},
    "RRF 1:2, exact tokens first": {"keyword_weight": 1.0, "vector_weight": 2.0, "exact_first": True},
}


def quality_figures(index, questions) -> dict:
    """BM25 alone, vector alone and hybrid (the default fusion), then hybrid with each of `FUSIONS`."""
    from vlm_pipelines.knowledge.index import Fusion
    from vlm_pipelines.knowledge.quality import evaluate

    def overall(modes, fusion=None) -> list[dict]:
        extra = {"fusion": Fusion(**fusion)} if fusion else {}
        return [row for row in evaluate(index, questions, modes, **extra) if row["questions"] == "all"]

    return {
        "modes": overall(("keyword", "vector", "hybrid")),
        "fusions": {name: overall(("hybrid",), fusion)[0] for name, fusion in FUSIONS.items()},
    }


def project_docs_figures(work: Path) -> dict:
    """The seeded `project-docs` knowledge base, indexed afresh, on its question set, by question kind."""
    from vlm_pipelines.knowledge.bases import get_base
    from vlm_pipelines.knowledge.index import KnowledgeIndex
    from vlm_pipelines.knowledge.quality import load_questions

    base = get_base("project-docs", work / "data")
    index = KnowledgeIndex("project-docs", work / "data")
    report = index.ingest(base.sources())
    questions = load_questions(base.questions)
    sets = {
        "project-docs, exact token": [q for q in questions if q.kind == "exact token"],
        "project-docs, natural language": [q for q in questions if q.kind != "exact token"],
        "project-docs, all": questions,
    }
    return {"chunks": report.chunks, "sets": {name: quality_figures(index, qs) for name, qs in sets.items()}}


def retrieval_figures(args, work: Path) -> dict:
    from vlm_pipelines.knowledge.embeddings import embed
    from vlm_pipelines.knowledge.index import KnowledgeIndex
    from vlm_pipelines.knowledge.quality import Question

    embed(["warm up"])  # model load is not ingestion
    where = write_corpus(work / "ledgers", args.chunks)
    index = KnowledgeIndex("bench", work / "data")
    report = index.ingest_folder(work / "ledgers")
    rng = random.Random(1)
    numbers = rng.sample(sorted(where), args.queries)
    questions = [
        Question(f"What is the total amount of invoice INV-{n:05d}?", where[n], None, "exact token")
        for n in numbers
    ]
    for question in questions[:10]:
        index.search(question.question, 5)  # warm
    latencies = {}
    for mode in ("hybrid", "vector", "keyword"):
        times = []
        for question in questions:
            started = time.perf_counter()
            index.search(question.question, 5, mode)
            times.append((time.perf_counter() - started) * 1000)
        latencies[mode] = {"p50_ms": percentile(times, 0.5), "p95_ms": percentile(times, 0.95)}
    return {
        "chunks": report.chunks,
        "documents": report.documents,
        "ingest_s": report.seconds,
        "chunks_per_s": report.chunks_per_s,
        "latency": latencies,
        "quality": {
            f"ledgers, exact token ({report.chunks} chunks)": quality_figures(index, questions),
            **project_docs_figures(work)["sets"],
        },
    }


def ttft_figures(work: Path) -> dict:
    from ui.engine import ChatEngine
    from ui.service import seed_demo
    from vlm_pipelines.chat.store import Store

    data = work / "chat-data"
    os.environ["VLMBENCH_DATA_DIR"], os.environ["DAGSTER_HOME"] = str(data), str(work / "home")
    store = Store(Store.default_url(data))
    seed_demo(store, data)
    import torch

    from ui.engine import chat_threads

    torch.set_num_threads(chat_threads())  # what `vlmbench chat` does
    engine = ChatEngine(store, data)
    assistant = next(a for a in store.assistants("demo") if a.name == "Docs helper")
    engine.warm_up(assistant.model)
    questions = [
        "What does VLMBENCH_REGISTRY_DIR move?", "What does exit code 130 mean?", "How do I add a task?",
        "What is in snils_MODELFRAMEWORK_Qwen2-VL-2B-Instruct_VQA_answers?", "Which command gave the 0.977 ratio?",
        "Why is bfloat16 not the default on CPU?", "How do I run the vLLM tests?", "Where do I add a metric?",
        "What does `vlmbench doctor` show?", "What is demo_mini?", "How are prompts hashed?",
    ]  # fmt: skip
    ttft, total = [], []
    list(engine.ask("demo", store.new_conversation("demo", assistant.id).id, questions[0]))  # warm retrieval
    for question in questions[1:]:
        reply = list(engine.ask("demo", store.new_conversation("demo", assistant.id).id, question))[-1]
        ttft.append(reply.ttft_s)
        total.append(reply.processing_s)
    return {"questions": len(ttft), "ttft_median_s": statistics.median(ttft), "ttft_max_s": max(ttft),
            "answer_median_s": statistics.median(total)}  # fmt: skip


def app_memory(work: Path) -> dict:
    import psutil
    from gradio_client import Client

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    env = {**os.environ, "VLMBENCH_DATA_DIR": str(work / "app-data"), "DAGSTER_HOME": str(work / "app-home")}
    started = time.perf_counter()
    server = subprocess.Popen(
        [sys.executable, "-m", "vlm_pipelines.cli", "chat", "--port", str(port)], cwd=REPO_ROOT, env=env,
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    try:
        client = None
        while time.perf_counter() - started < 600 and client is None:
            try:
                client = Client(f"http://127.0.0.1:{port}/", auth=("demo", "demo"), verbose=False)
            except Exception:  # noqa: BLE001 - not up yet
                time.sleep(1)
        ready_s = time.perf_counter() - started
        conversation = client.predict("1", api_name="/new_conversation")["value"]
        client.predict(
            conversation,
            {"text": "What does VLMBENCH_REGISTRY_DIR move?", "files": []},
            None,
            api_name="/ask",
        )
        process = psutil.Process(server.pid)
        rss = process.memory_info().rss + sum(
            child.memory_info().rss for child in process.children(recursive=True)
        )
        return {"first_start_s": ready_s, "rss_mb": rss / 2**20}
    finally:
        server.terminate()
        server.wait(30)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chunks", type=int, default=10_000)
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--json", type=Path)
    parser.add_argument("--parts", default="retrieval,ttft,app", help="which figures (comma-separated)")
    args = parser.parse_args()
    from vlm_pipelines import settings

    settings.quiet_model_loading()
    with tempfile.TemporaryDirectory() as folder:
        work = Path(folder)
        parts = set(args.parts.split(","))
        figures = {
            "retrieval": retrieval_figures(args, work) if "retrieval" in parts else None,
            "ttft": ttft_figures(work) if "ttft" in parts else None,
            "app": app_memory(work) if "app" in parts else None,
        }
    report(figures)
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2))


def report(figures: dict) -> None:
    r, t, a = figures["retrieval"], figures["ttft"], figures["app"]
    if r:
        print_retrieval(r)
    if t:
        print(
            f"\nTTFT smollm2-135m (warm, {t['questions']} questions): median {t['ttft_median_s']:.2f} s, max {t['ttft_max_s']:.2f} s; answer median {t['answer_median_s']:.2f} s"
        )
    if a:
        print(
            f"app: first start {a['first_start_s']:.0f} s (seeding included); RSS after one answer {a['rss_mb']:.0f} MB"
        )


def print_retrieval(r: dict) -> None:
    print(
        f"ingestion: {r['chunks']} chunks in {r['documents']} documents, {r['ingest_s']:.1f} s, {r['chunks_per_s']:.1f} chunks/s"
    )
    print("| mode | p50 ms | p95 ms |\n| :--- | ---: | ---: |")
    for mode, row in r["latency"].items():
        print(f"| {mode} | {row['p50_ms']:.1f} | {row['p95_ms']:.1f} |")
    header = "| questions | {} | n | hit@1 | hit@3 | hit@5 | MRR |\n| :--- | :--- | ---: | ---: | ---: | ---: | ---: |"
    names = {"keyword": "BM25 alone", "vector": "vector alone", "hybrid": "hybrid (default fusion)"}
    print("\n" + header.format("retrieval"))
    for questions, figures in r["quality"].items():
        for row in figures["modes"]:
            print(quality_line(questions, names[row["mode"]], row))
    print("\n" + header.format("hybrid fusion"))
    for questions, figures in r["quality"].items():
        for fusion, row in figures["fusions"].items():
            print(quality_line(questions, fusion, row))


def quality_line(questions: str, label: str, row: dict) -> str:
    figures = " | ".join(f"{row[key]:.3f}" for key in ("hit@1", "hit@3", "hit@5", "mrr"))
    return f"| {questions} | {label} | {row['n']} | {figures} |"


if __name__ == "__main__":
    main()
