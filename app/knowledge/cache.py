"""A persistent embedding cache: (model name, sha256 of the text) -> vector, one SQLite file per model."""

from __future__ import annotations

import hashlib
import re
import sqlite3
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
from tqdm import tqdm

from app.knowledge.embedder import Embedder, FusedEmbedder, parts_of


def _key(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def cache_path(cache_dir: Path, model: str) -> Path:
    """Return the cache file for one model (names like `sentence-transformers:/x/y` made file-safe)."""
    return cache_dir / f"embeddings-{re.sub(r'[^A-Za-z0-9_.-]+', '_', model)}.sqlite"


class EmbeddingCache:
    """Vectors of texts one model has embedded before, so unchanged text is never embedded twice."""

    def __init__(self, cache_dir: Path, model: str) -> None:
        cache_dir.mkdir(parents=True, exist_ok=True)
        self.path = cache_path(cache_dir, model)
        self.model = model
        self._db = sqlite3.connect(self.path, check_same_thread=False)
        self._db.execute("CREATE TABLE IF NOT EXISTS vectors (key TEXT PRIMARY KEY, dim INTEGER, vector BLOB)")

    def get(self, texts: list[str]) -> dict[str, np.ndarray]:
        """Return text -> vector for the texts already in the cache."""
        keys = {_key(t): t for t in texts}
        found: dict[str, np.ndarray] = {}
        wanted = list(keys)
        for i in range(0, len(wanted), 500):  # SQLite's limit on bound parameters
            chunk = wanted[i : i + 500]
            rows = self._db.execute(
                f"SELECT key, vector FROM vectors WHERE key IN ({','.join('?' * len(chunk))})", chunk
            )
            for key, blob in rows:
                found[keys[key]] = np.frombuffer(blob, dtype=np.float32).copy()
        return found

    def put(self, texts: list[str], vectors: np.ndarray) -> None:
        """Store freshly embedded vectors."""
        self._db.executemany(
            "INSERT OR REPLACE INTO vectors (key, dim, vector) VALUES (?, ?, ?)",
            [(_key(t), int(v.shape[0]), np.asarray(v, dtype=np.float32).tobytes()) for t, v in zip(texts, vectors,
                                                                                                   strict=True)],
        )
        self._db.commit()

    def close(self) -> None:
        """Close the SQLite file."""
        self._db.close()


def embed_cached(
    embedder: Embedder,
    texts: list[str],
    cache: EmbeddingCache | None,
    batch: int = 32,
    on_batch: Callable[[int], None] | None = None,
) -> np.ndarray:
    """Embed `texts` with one model, taking what the cache has and embedding (and storing) only the rest.

    Texts are embedded longest first in batches of similar length, so a batch pads little; `on_batch`
    hears how many texts each batch (or the cache) settled.
    """
    unique = list(dict.fromkeys(texts))
    known = cache.get(unique) if cache is not None else {}
    if known and on_batch:
        on_batch(len(known))
    missing = sorted((t for t in unique if t not in known), key=len, reverse=True)
    for i in range(0, len(missing), batch):
        chunk = missing[i : i + batch]
        vectors = embedder.embed_documents(chunk)
        if cache is not None:
            cache.put(chunk, vectors)
        known.update(zip(chunk, vectors, strict=True))
        if on_batch:
            on_batch(len(chunk))
    if not texts:
        return np.zeros((0, embedder.dim), dtype=np.float32)
    return np.vstack([known[t] for t in texts]).astype(np.float32)


class CachedEmbedder:
    """One model behind the embedding cache: documents come from the cache when it has them."""

    def __init__(self, inner: Embedder, cache_dir: Path) -> None:
        self.inner = inner
        self.name = inner.name
        self.cache = EmbeddingCache(cache_dir, inner.name)

    @property
    def dim(self) -> int:
        return self.inner.dim

    def embed_documents(self, texts: list[str]) -> np.ndarray:
        return embed_cached(self.inner, texts, self.cache)

    def embed_query(self, text: str) -> np.ndarray:
        return self.inner.embed_query(text)


def with_cache(embedder: Embedder, cache_dir: Path) -> Embedder:
    """Put every model of `embedder` behind its embedding cache in `cache_dir`."""
    parts = parts_of(embedder)
    cached: list[Embedder] = [CachedEmbedder(part, cache_dir) for part in parts]
    return cached[0] if len(cached) == 1 else FusedEmbedder(cached)


def warm(embedder: Embedder, texts: list[str], cache_dir: Path, desc: str, progress: bool = False) -> None:
    """Embed whatever of `texts` the cache lacks, one thread per model, with a progress bar when asked."""
    parts = parts_of(embedder)
    caches = [EmbeddingCache(cache_dir, part.name) for part in parts]
    try:
        known = [cache.get(texts) for cache in caches]
        missing = [[t for t in dict.fromkeys(texts) if t not in have] for have in known]
        total = sum(map(len, missing))
        if total == 0:
            return
        with tqdm(total=total, unit="text", desc=desc, disable=not progress, leave=False) as bar:
            with ThreadPoolExecutor(max_workers=len(parts), thread_name_prefix="embed") as pool:
                list(pool.map(lambda n: embed_cached(parts[n], missing[n], caches[n], on_batch=bar.update),
                              range(len(parts))))
    finally:
        for cache in caches:
            cache.close()
