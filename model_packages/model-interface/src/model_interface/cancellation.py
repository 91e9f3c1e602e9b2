"""A caller's way to stop a generation whose answer nobody waits for any more (its client left).

    with cancel_on(stop):                     # the caller, in the thread that calls generate()
        results = model.generate(requests, config)
    stop.set()                                # from another thread, while generate() runs

A wrapper that can stop early reads `cancel_event()` in the thread running `generate` (model-hf ends
every row at its next token and returns what was generated); the others finish the batch as usual.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from contextvars import ContextVar

_CANCEL: ContextVar[threading.Event | None] = ContextVar("model_interface_cancel", default=None)


@contextlib.contextmanager
def cancel_on(event: threading.Event) -> Iterator[None]:
    """Generations started in this context stop early once `event` is set (where the wrapper can)."""
    token = _CANCEL.set(event)
    try:
        yield
    finally:
        _CANCEL.reset(token)


def cancel_event() -> threading.Event | None:
    """The event set when the current generation's caller no longer wants its answer (None: no caller asked)."""
    return _CANCEL.get()
