"""Saving and opening the retrieval index on disk: FAISS file, passages and a manifest.

Each file is written to a temporary name, fsynced and renamed; the manifest goes last and
records the checksums of the others, so a crash mid-save leaves a manifest that does not
match, and the index is rebuilt from the database instead of being trusted.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

from kb.files import write_atomically
from retrieval.bands import BandThresholds, load_thresholds
from retrieval.encoders import SentenceEncoder
from retrieval.passages import IndexableArticle, Passage
from retrieval.retriever import Progress, RankingWeights, Retriever, SyncReport
from retrieval.vector_index import VectorIndex

FORMAT_VERSION = 2  # 2: passages carry their topic
VECTORS_FILE = "vectors.faiss"
PASSAGES_FILE = "passages.jsonl"
MANIFEST_FILE = "manifest.json"


class IndexUnusableError(Exception):
    """The saved index is missing, corrupt or made with another model; rebuild it."""


@dataclass(frozen=True, slots=True)
class IndexManifest:
    format: int
    encoder: str
    dimension: int
    passages: int
    next_id: int
    articles: dict[str, int]
    checksums: dict[str, str]
    saved_at: str


@dataclass(frozen=True, slots=True)
class OpenedIndex:
    """The retriever, how it was obtained and what the sync with the database changed."""

    retriever: Retriever
    source: str  # "loaded", or "rebuilt: <why>"
    sync: SyncReport


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def save_index(retriever: Retriever, directory: Path) -> IndexManifest:
    """Persist the retriever's index under ``directory`` atomically."""
    directory.mkdir(parents=True, exist_ok=True)
    # Vectors and passages are taken under one lock so they describe the same moment.
    passages, versions, next_id = retriever.write_vectors(directory / VECTORS_FILE)
    lines = [
        json.dumps({"id": pid, **asdict(p)}, ensure_ascii=False)
        for pid, p in sorted(passages.items())
    ]
    write_atomically(directory / PASSAGES_FILE, ("\n".join(lines) + "\n").encode("utf-8"))
    manifest = IndexManifest(
        format=FORMAT_VERSION,
        encoder=retriever.encoder.name,
        dimension=retriever.encoder.dimension,
        passages=len(passages),
        next_id=next_id,
        articles=versions,
        checksums={name: _sha256(directory / name) for name in (VECTORS_FILE, PASSAGES_FILE)},
        saved_at=datetime.now(UTC).isoformat(timespec="seconds"),
    )
    payload = json.dumps(asdict(manifest), ensure_ascii=False, indent=2, sort_keys=True)
    write_atomically(directory / MANIFEST_FILE, payload.encode("utf-8"))
    return manifest


def read_manifest(directory: Path) -> IndexManifest:
    path = directory / MANIFEST_FILE
    if not path.exists():
        raise IndexUnusableError("missing")
    try:
        return IndexManifest(**json.loads(path.read_text(encoding="utf-8")))
    except (ValueError, TypeError, UnicodeDecodeError) as error:
        raise IndexUnusableError(f"corrupt manifest ({error})") from error


def load_index(
    directory: Path,
    encoder: SentenceEncoder,
    thresholds: BandThresholds | None = None,
    weights: RankingWeights | None = None,
) -> Retriever:
    """Load a saved index, checking format, encoder, dimension and checksums."""
    manifest = read_manifest(directory)
    if manifest.format != FORMAT_VERSION:
        raise IndexUnusableError(f"format {manifest.format}, expected {FORMAT_VERSION}")
    if manifest.encoder != encoder.name:
        raise IndexUnusableError(f"built with encoder {manifest.encoder}, not {encoder.name}")
    for name, checksum in manifest.checksums.items():
        if not (directory / name).exists() or _sha256(directory / name) != checksum:
            raise IndexUnusableError(f"corrupt ({name} does not match the manifest)")
    if encoder.dimension != manifest.dimension:
        raise IndexUnusableError("dimension differs from the encoder's")
    passages: dict[int, Passage] = {}
    try:
        vectors = VectorIndex.load(directory / VECTORS_FILE)
        with open(directory / PASSAGES_FILE, encoding="utf-8") as handle:
            for line in handle:
                if line.strip():
                    row = json.loads(line)
                    passage_id = int(row.pop("id"))
                    passages[passage_id] = Passage(**row)
    except (RuntimeError, ValueError, TypeError, KeyError) as error:
        raise IndexUnusableError(f"unreadable ({error})") from error
    if len(vectors) != len(passages):
        raise IndexUnusableError("vector and passage counts differ")
    retriever = Retriever(encoder, thresholds or load_thresholds(encoder.name), weights, vectors)
    retriever.restore_passages(passages, manifest.next_id)
    return retriever


def open_index(
    directory: Path,
    encoder: SentenceEncoder,
    published: Callable[[], Iterable[IndexableArticle]],
    progress: Progress | None = None,
    save: bool = True,
) -> OpenedIndex:
    """Load the saved index, or rebuild it when unusable; then sync it with the database."""
    try:
        retriever = load_index(directory, encoder)
        source = "loaded"
    except IndexUnusableError as why:
        retriever = Retriever(encoder, load_thresholds(encoder.name))
        source = f"rebuilt: index {why}"
    report = retriever.sync(published(), progress)
    if save and (report.changed or source != "loaded"):
        save_index(retriever, directory)
    return OpenedIndex(retriever, source, report)
