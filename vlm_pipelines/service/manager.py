"""Which models the service holds in memory: loaded on first use, least recently used evicted first.

Before a model loads, idle loaded models are evicted (least recently used first) while the service holds
`max_loaded` models or the free memory is under `min_free_bytes`: GPU memory (the device with the least
free) where CUDA is in use, else the machine's available RAM. A model that is answering (acquired and
not yet released) is never evicted. An evicted wrapper with a `close()` (vLLM: its engine process) is
closed; `on_evict` is called after the manager's lock is released, so it may call back into the manager.
"""

from __future__ import annotations

import contextlib
import gc
import sys
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from model_interface import VisionLanguageModel, create_model

from vlm_pipelines.model_registry import EvaluatedModel

GIB = 1024**3


def free_memory_bytes() -> int:
    """Free memory where the models live: the least free CUDA device if torch uses CUDA, else RAM."""
    torch = sys.modules.get("torch")
    if torch is not None and torch.cuda.is_available() and torch.cuda.device_count():
        return min(torch.cuda.mem_get_info(device)[0] for device in range(torch.cuda.device_count()))
    import psutil

    return int(psutil.virtual_memory().available)


def release_memory() -> None:
    gc.collect()
    torch = sys.modules.get("torch")
    if torch is not None and torch.cuda.is_available():
        torch.cuda.empty_cache()


@dataclass
class _Slot:
    model: VisionLanguageModel
    busy: int = 0  # requests answering with it now (never evicted while above 0)


class ModelManager:
    def __init__(
        self,
        entries: Mapping[str, EvaluatedModel],
        *,
        max_loaded: int | None = None,
        min_free_bytes: int = 2 * GIB,
        free_memory: Callable[[], int] = free_memory_bytes,
        on_evict: Callable[[str], None] = lambda name: None,
    ) -> None:
        self.entries = dict(entries)
        self.max_loaded = max_loaded
        self.min_free_bytes = min_free_bytes
        self.free_memory = free_memory
        self.on_evict = on_evict
        self._loaded: OrderedDict[str, _Slot] = OrderedDict()  # least recently used first (by acquire)
        self._lock = threading.Lock()
        self._identities: dict[str, dict[str, Any]] = {}
        self.evictions: list[str] = []

    @property
    def names(self) -> list[str]:
        return list(self.entries)

    def loaded(self) -> list[str]:
        with self._lock:
            return list(self._loaded)

    def identity(self, name: str) -> dict[str, Any]:
        """What answers under `name`: model id, package and version, and what its settings resolved to."""
        if name not in self._identities:
            from vlm_pipelines.evaluation.identity import model_identity

            identity = model_identity(self.entries[name])
            self._identities[name] = {
                "model_id": identity.model_id,
                "package": identity.package,
                "package_version": identity.package_version,
                "package_versions": identity.package_versions,
                "resolved": identity.resolved,
            }
        return self._identities[name]

    @contextlib.contextmanager
    def use(self, name: str) -> Iterator[VisionLanguageModel]:
        """The loaded model for `name` (loading it, and evicting others first, if needed)."""
        model = self.acquire(name)
        try:
            yield model
        finally:
            self.release(name)

    def acquire(self, name: str) -> VisionLanguageModel:
        """The loaded model for `name`, held (never evicted) until `release(name)`. Blocks while it loads."""
        with self._lock:
            slot = self._loaded.get(name)
            evicted: list[str] = []
            if slot is None:
                evicted = self._make_room()
                entry = self.entries[name]
                slot = _Slot(create_model(entry.model, entry.params))
                self._loaded[name] = slot
            self._loaded.move_to_end(name)
            slot.busy += 1
        for evicted_name in evicted:
            self.on_evict(evicted_name)
        try:
            slot.model.load()
        except BaseException:
            self.release(name)
            raise
        return slot.model

    def close(self) -> None:
        """Closes every loaded wrapper that has a `close()` (the service is shutting down)."""
        with self._lock:
            models = [slot.model for slot in self._loaded.values()]
            self._loaded.clear()
        for model in models:
            close = getattr(model, "close", None)
            if callable(close):
                close()

    def release(self, name: str) -> None:
        with self._lock:
            slot = self._loaded.get(name)
            if slot is not None:
                slot.busy -= 1

    def _make_room(self) -> list[str]:
        """Evicts idle models, least recently used first, until one more fits (called holding the lock);
        returns their names, reported through `on_evict` once the lock is released."""

        def crowded() -> bool:
            full = self.max_loaded is not None and len(self._loaded) >= self.max_loaded
            return full or (bool(self._loaded) and self.free_memory() < self.min_free_bytes)

        evicted = []
        while crowded():
            idle = [name for name, slot in self._loaded.items() if slot.busy == 0]
            if not idle:
                break  # every loaded model is answering: load anyway rather than fail the request
            model = self._loaded.pop(idle[0]).model
            close = getattr(model, "close", None)
            if callable(close):
                close()  # a vLLM engine runs in processes of its own
            del model
            release_memory()
            evicted.append(idle[0])
            self.evictions.append(idle[0])
        return evicted
