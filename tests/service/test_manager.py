"""The model manager loads real models lazily and evicts the least recently used idle one. Free memory
is the one thing simulated: a low-memory machine cannot be made on demand."""

from __future__ import annotations

import threading

from vlm_pipelines.model_registry import ad_hoc_model
from vlm_pipelines.service.manager import GIB, ModelManager


def _entries(*names: str) -> dict:
    # Real OCR baselines (RapidOCR loads in about a second): cheap models that really load.
    return {name: ad_hoc_model("ocr-rules", {"engine": "rapidocr"}).model_copy(update={"name": name})
            for name in names}  # fmt: skip


def test_models_load_on_first_use_and_the_least_recently_used_goes_first() -> None:
    manager = ModelManager(_entries("a", "b", "c"), max_loaded=2, free_memory=lambda: 64 * GIB)
    assert manager.loaded() == []  # nothing loads at start
    with manager.use("a") as model_a:
        assert model_a.is_loaded
    with manager.use("b"):
        pass
    with manager.use("a") as again:
        assert again is model_a  # kept, not reloaded
    with manager.use("c"):
        pass
    assert manager.evictions == ["b"]  # a was used after b
    assert manager.loaded() == ["a", "c"]


def test_low_memory_evicts_before_loading_but_never_a_model_that_is_answering() -> None:
    free = {"bytes": 64 * GIB}
    manager = ModelManager(_entries("a", "b", "c"), min_free_bytes=4 * GIB, free_memory=lambda: free["bytes"])
    with manager.use("a"), manager.use("b"):
        pass
    free["bytes"] = 1 * GIB  # the machine ran low
    answering = threading.Event()
    release = threading.Event()

    def busy_b() -> None:
        with manager.use("b"):
            answering.set()
            release.wait(30)

    worker = threading.Thread(target=busy_b)
    worker.start()
    answering.wait(30)
    with manager.use("c"):
        pass
    release.set()
    worker.join()
    assert manager.evictions == ["a"]  # b was busy, so only a went; c loaded anyway
    assert manager.loaded() == ["b", "c"]


def test_the_identity_names_the_wrapper_its_version_and_what_auto_resolved_to() -> None:
    manager = ModelManager(_entries("ocr"))
    identity = manager.identity("ocr")
    assert identity["model_id"] == "ocr-rules" and identity["package"] == "model-ocr"
    assert identity["package_version"].startswith("0.")
    assert identity["resolved"]["ocr_engine"] == "rapidocr"
    assert manager.loaded() == []  # describing a model does not load it


def test_the_eviction_callback_may_call_back_into_the_manager() -> None:
    """The service's callback reads `loaded()`; it used to run holding the manager's lock (a deadlock)."""
    seen: list[tuple[str, list[str]]] = []
    manager = ModelManager(
        _entries("a", "b"),
        max_loaded=1,
        free_memory=lambda: 64 * GIB,
        on_evict=lambda name: seen.append((name, manager.loaded())),
    )

    def use_both() -> None:
        for name in ("a", "b"):
            with manager.use(name):
                pass

    worker = threading.Thread(target=use_both, daemon=True)
    worker.start()
    worker.join(60)  # bounds a deadlock only
    assert not worker.is_alive(), "the eviction callback deadlocked on the manager's lock"
    assert seen == [("a", ["b"])]
