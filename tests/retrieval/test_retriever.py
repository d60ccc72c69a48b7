import threading
from dataclasses import replace

from retrieval.bands import BandThresholds, ConfidenceBand
from retrieval.retriever import Retriever, SearchMode
from tests.retrieval.conftest import Article, HashingEncoder


def test_results_are_folded_per_article_with_the_matching_passage(retriever: Retriever) -> None:
    result = retriever.search("When will I get my refund?")
    ids = [hit.article_id for hit in result.hits]
    assert ids[0] == "refund-timeline"
    assert len(ids) == len(set(ids))
    assert result.hits[0].matched.kind == "question"
    assert result.hits[0].version == 1


def test_band_follows_the_thresholds(retriever: Retriever) -> None:
    assert retriever.search("How long does a refund take?").band is ConfidenceBand.ANSWER
    assert retriever.search("weather forecast tomorrow").band is ConfidenceBand.NONE


def test_customer_language_is_preferred_when_both_versions_exist(retriever: Retriever) -> None:
    result = retriever.search("我想退货")
    assert result.language == "zh"
    assert result.hits[0].article_id == "returns-policy-zh"


def test_editing_an_article_updates_the_index_in_place(retriever: Retriever, articles) -> None:
    edited = replace(articles[2], version=2, questions=["My account is locked"])
    retriever.upsert([edited])
    assert retriever.article_versions["reset-password"] == 2
    top = retriever.search("My account is locked").hits[0]
    assert (top.article_id, top.version) == ("reset-password", 2)
    assert all(h.matched.text != "I forgot my password" for h in retriever.search("forgot").hits)


def test_archived_and_draft_articles_are_not_indexed(retriever: Retriever, articles) -> None:
    retriever.upsert([replace(articles[0], status="archived", version=2)])
    retriever.upsert([Article("new-draft", "Gift wrapping", status="draft")])
    ids = {h.article_id for h in retriever.search("return an item gift wrapping", k=10).hits}
    assert "returns-policy" not in ids
    assert "new-draft" not in ids


def test_sync_adds_updates_and_removes(retriever: Retriever, articles) -> None:
    wanted = [replace(articles[0], version=3), articles[1], Article("gift-card", "Gift cards")]
    report = retriever.sync(wanted)
    assert report.added == ["gift-card"]
    assert report.updated == ["returns-policy"]
    assert report.removed == ["reset-password", "returns-policy-zh"]
    assert retriever.article_versions == {"returns-policy": 3, "refund-timeline": 1, "gift-card": 1}


def test_sync_with_nothing_changed_encodes_nothing(
    encoder: HashingEncoder, retriever: Retriever, articles
) -> None:
    before = encoder.documents_encoded
    assert retriever.sync(articles).changed == 0
    assert encoder.documents_encoded == before


def test_bm25_baseline_mode_uses_words_only(retriever: Retriever) -> None:
    result = retriever.search("password", mode=SearchMode.LEXICAL)
    assert result.hits[0].article_id == "reset-password"
    assert result.hits[0].dense_score == 0.0


def test_empty_index_answers_none(encoder: HashingEncoder, thresholds: BandThresholds) -> None:
    result = Retriever(encoder, thresholds).search("anything")
    assert result.hits == []
    assert result.band is ConfidenceBand.NONE


def test_searches_during_updates_never_fail_or_return_removed_articles(
    retriever: Retriever, articles
) -> None:
    errors: list[BaseException] = []
    inconsistent: list[str] = []
    seen_after_removal: list[str] = []
    removed_for_good = threading.Event()
    stop = threading.Event()

    def search_loop() -> None:
        while not stop.is_set():
            started_after_removal = removed_for_good.is_set()
            try:
                for hit in retriever.search("return refund password temporary").hits:
                    # A hit must describe one version entirely: title and version agree.
                    if hit.article_id == "temporary" and hit.title != f"temporary {hit.version}":
                        inconsistent.append(hit.title)
                    if hit.article_id == "temporary" and started_after_removal:
                        seen_after_removal.append(hit.title)
            except BaseException as error:  # the test fails on any exception
                errors.append(error)

    threads = [threading.Thread(target=search_loop) for _ in range(3)]
    for thread in threads:
        thread.start()
    for version in range(1, 40):
        retriever.upsert([Article("temporary", f"temporary {version}", version=version)])
        retriever.upsert([replace(articles[1], version=version + 1)])
        if version % 3 == 0:
            retriever.remove(["temporary"])
    retriever.remove(["temporary"])
    removed_for_good.set()
    stop.wait(0.2)
    stop.set()
    for thread in threads:
        thread.join()
    assert errors == []
    assert inconsistent == []
    assert seen_after_removal == []
