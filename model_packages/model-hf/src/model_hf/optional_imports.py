"""transformers imported without two optional packages the adapter never uses.

transformers imports every optional package it finds installed. Two of them cost each process that loads a
model about 1.3 s of CPU (docs/benchmarks.md, "Optional packages transformers does not need"), all of it
holding the GIL while the run's main thread waits for it:
- scikit-learn, with scipy.stats: `transformers.generation` imports `sklearn.metrics.roc_curve` for assisted
  generation's confidence threshold, which the adapter does not use;
- mistral-common, with OpenCV: every processor checks its tokenizer against `MistralCommonBackend`, and
  only a checkpoint with a mistral-common tokenizer (`tekken.json`) uses one.

`import_transformers(folder)` imports transformers with these reported missing to its availability checks
(transformers asks `importlib.util.find_spec` once and keeps the answer for the process). Nothing else is
hidden: `import sklearn` works as before for everyone else. It changes nothing where transformers was
imported already, where `VLMBENCH_TRANSFORMERS_OPTIONAL=all`, and mistral-common stays for a checkpoint
whose tokenizer needs it. A later checkpoint that needs mistral-common in a process that hid it fails with
the fix, instead of loading another tokenizer than the model's own.
"""

from __future__ import annotations

import importlib.util
import os
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from model_interface import ModelUnavailableError
from model_interface.checkpoints import TRANSFORMERS_OPTIONAL_ENV as ENV_VAR
from model_interface.checkpoints import needs_mistral_common

SKLEARN = "sklearn"
MISTRAL_COMMON = "mistral_common"

_lock = threading.Lock()
_hidden: frozenset[str] | None = None  # what this process hid from transformers; None: not imported by us


def hidden_packages(folder: Path) -> frozenset[str]:
    """The packages `import_transformers` hides for a first load of `folder`."""
    if os.environ.get(ENV_VAR, "").strip().lower() == "all":
        return frozenset()
    return frozenset({SKLEARN} if needs_mistral_common(folder) else {SKLEARN, MISTRAL_COMMON})


@contextmanager
def _missing_to_find_spec(names: frozenset[str]) -> Iterator[None]:
    find_spec = importlib.util.find_spec

    def find_spec_without(name: str, package: str | None = None):  # noqa: ANN202 - find_spec's own signature
        if name.partition(".")[0] in names:
            return None
        return find_spec(name, package)

    importlib.util.find_spec = find_spec_without
    try:
        yield
    finally:
        importlib.util.find_spec = find_spec


def import_transformers(folder: Path) -> None:
    """Imports transformers for loading `folder` (see the module's text); call it before any transformers
    import in the adapter's load."""
    global _hidden
    with _lock:
        if _hidden is None:
            if "transformers" in sys.modules:
                _hidden = frozenset()
            else:
                names = hidden_packages(folder)
                with _missing_to_find_spec(names):
                    from transformers.utils import import_utils  # imports transformers itself first

                    # both answers are cached by transformers: asked here, they hold for the process
                    import_utils.is_sklearn_available()
                    import_utils.is_mistral_common_available()
                _hidden = names
        hidden = _hidden
    if MISTRAL_COMMON in hidden and needs_mistral_common(folder):
        raise ModelUnavailableError(
            f"{folder} has a mistral-common tokenizer, and this process loaded an earlier model with "
            f"mistral-common hidden from transformers; set {ENV_VAR}=all, or evaluate this model on its own"
        )
