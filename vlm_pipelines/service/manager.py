"""Which models the service holds in memory: loaded on first use, least recently used evicted first.

Before a model loads, idle loaded models are evicted (least recently used first) while the service holds
`max_loaded` models or the free memory is under `min_free_bytes`: GPU memory (the device with the least
free) where CUDA is in use, else the machine's available RAM. A model that is answering is never evicted.
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
        slot = self._acquire(name)
        try:
            slot.model.load()
            yield slot.model
        finally:
            with self._lock:
                slot.busy -= 1

    def _acquire(self, name: str) -> _Slot:
        with self._lock:
            slot = self._loaded.get(name)
            if slot is None:
                self._make_room()
                entry = self.entries[name]
                slot = _Slot(create_model(entry.model, entry.params))
                self._loaded[name] = slot
            self._loaded.move_to_end(name)
            slot.busy += 1
            return slot

    def _make_room(self) -> None:
        """Evicts idle models, least recently used first, until one more fits (called holding the lock)."""

        def crowded() -> bool:
            full = self.max_loaded is not None and len(self._loaded) >= self.max_loaded
            return full or (bool(self._loaded) and self.free_memory() < self.min_free_bytes)

        while crowded():
            idle = [name for name, slot in self._loaded.items() if slot.busy == 0]
            if not idle:
                return  # every loaded model is answering: load anyway rather than fail the request
            self._evict(idle[0])

    def _evict(self, name: str) -> None:
        del self._loaded[name]
        release_memory()
        self.evictions.append(name)
        self.on_evict(name)
