import json
from dataclasses import replace
from pathlib import Path

from retrieval.index_store import (
    MANIFEST_FILE,
    PASSAGES_FILE,
    VECTORS_FILE,
    load_index,
    open_index,
    save_index,
)
from retrieval.retriever import Retriever
from tests.retrieval.conftest import Article, HashingEncoder


def test_saved_index_loads_with_the_same_results(
    tmp_path: Path, retriever: Retriever, encoder: HashingEncoder
) -> None:
    manifest = save_index(retriever, tmp_path)
    assert manifest.encoder == "hashing-test"
    assert manifest.articles["refund-timeline"] == 1
    loaded = load_index(tmp_path, encoder)
    query = "When will I get my refund?"
    assert [h.article_id for h in loaded.search(query).hits] == [
        h.article_id for h in retriever.search(query).hits
    ]
    assert loaded.passage_count == retriever.passage_count


def test_no_temporary_files_are_left_behind(tmp_path: Path, retriever: Retriever) -> None:
    save_index(retriever, tmp_path)
    save_index(retriever, tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        [MANIFEST_FILE, PASSAGES_FILE, VECTORS_FILE]
    )


def test_missing_index_is_built_from_the_database(
    tmp_path: Path, encoder: HashingEncoder, articles
) -> None:
    opened = open_index(tmp_path / "index", encoder, lambda: articles)
    assert opened.source == "rebuilt: index missing"
    assert len(opened.sync.added) == len(articles)
    assert (tmp_path / "index" / MANIFEST_FILE).exists()
    again = open_index(tmp_path / "index", encoder, lambda: articles)
    assert again.source == "loaded"
    assert again.sync.changed == 0


def test_corrupt_vectors_file_is_detected_and_rebuilt(
    tmp_path: Path, retriever: Retriever, encoder: HashingEncoder, articles
) -> None:
    save_index(retriever, tmp_path)
    (tmp_path / VECTORS_FILE).write_bytes(b"not a faiss index")
    opened = open_index(tmp_path, encoder, lambda: articles)
    assert opened.source.startswith("rebuilt: index corrupt")
    assert opened.retriever.search("I forgot my password").hits[0].article_id == "reset-password"


def test_unreadable_manifest_is_rebuilt(
    tmp_path: Path, retriever: Retriever, encoder: HashingEncoder, articles
) -> None:
    save_index(retriever, tmp_path)
    (tmp_path / MANIFEST_FILE).write_text("{not json", encoding="utf-8")
    assert open_index(tmp_path, encoder, lambda: articles).source.startswith("rebuilt")


def test_index_of_another_encoder_is_rebuilt(
    tmp_path: Path, retriever: Retriever, encoder: HashingEncoder, articles
) -> None:
    save_index(retriever, tmp_path)
    manifest = json.loads((tmp_path / MANIFEST_FILE).read_text(encoding="utf-8"))
    manifest["encoder"] = "some-other-model"
    (tmp_path / MANIFEST_FILE).write_text(json.dumps(manifest), encoding="utf-8")
    opened = open_index(tmp_path, encoder, lambda: articles)
    assert opened.source == "rebuilt: index built with encoder some-other-model, not hashing-test"


def test_stale_index_is_brought_up_to_date_at_start(
    tmp_path: Path, retriever: Retriever, encoder: HashingEncoder, articles
) -> None:
    save_index(retriever, tmp_path)
    changed = [*articles[1:], replace(articles[0], version=2), Article("gift-card", "Gift cards")]
    opened = open_index(tmp_path, encoder, lambda: changed)
    assert opened.source == "loaded"
    assert opened.sync.updated == ["returns-policy"]
    assert opened.sync.added == ["gift-card"]
    reloaded = load_index(tmp_path, encoder)
    assert reloaded.article_versions["returns-policy"] == 2
