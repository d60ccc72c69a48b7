import threading
from dataclasses import replace

import pytest

from retrieval.bands import BandThresholds, ConfidenceBand
from retrieval.retriever import RankingWeights, Retriever, SearchMode
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


# ----- topics: an article and its translations -----


def _bilingual_retriever(
    encoder: HashingEncoder,
    thresholds: BandThresholds,
    articles: list[Article],
    weights: RankingWeights | None = None,
) -> Retriever:
    """The fixture's articles with the Chinese returns policy linked to the English one."""
    linked = [
        replace(a, topic_id="returns-policy") if a.id == "returns-policy-zh" else a
        for a in articles
    ]
    r = Retriever(encoder, thresholds, weights)
    r.upsert(linked)
    return r


def test_a_chinese_question_gets_the_chinese_version_of_a_topic_and_never_both(
    encoder: HashingEncoder, thresholds: BandThresholds, articles: list[Article]
) -> None:
    r = _bilingual_retriever(encoder, thresholds, articles)
    result = r.search("我想退货", k=10)
    ids = [hit.article_id for hit in result.hits]
    assert ids[0] == "returns-policy-zh"
    assert "returns-policy" not in ids
    topics = [hit.topic_id for hit in result.hits]
    assert len(topics) == len(set(topics))


def test_the_customers_version_is_shown_even_when_the_other_matched_better(
    encoder: HashingEncoder, thresholds: BandThresholds, articles: list[Article]
) -> None:
    # English words in a conversation held in Chinese: only the English version matches them.
    r = _bilingual_retriever(encoder, thresholds, articles)
    english = r.search("How do I return an item?", language="en").hits[0]
    chinese = r.search("How do I return an item?", language="zh", k=10)
    assert english.article_id == "returns-policy"
    assert chinese.hits[0].article_id == "returns-policy-zh"
    assert chinese.hits[0].score == english.score  # ranked by the topic's best match
    assert "returns-policy" not in [hit.article_id for hit in chinese.hits]
    assert chinese.band is ConfidenceBand.ANSWER


def test_an_english_only_topic_answers_a_chinese_question_it_alone_matches(
    encoder: HashingEncoder, thresholds: BandThresholds, articles: list[Article]
) -> None:
    gift_card = Article(
        "gift-card", "Gift cards", "Redeem a gift card at checkout.", ["How do I use a gift card?"]
    )
    r = _bilingual_retriever(encoder, thresholds, [*articles, gift_card])
    result = r.search("gift card怎么用")
    assert result.language == "zh"
    top = result.hits[0]
    assert (top.article_id, top.language) == ("gift-card", "en")
    assert result.band is ConfidenceBand.ANSWER


def test_a_topic_only_in_the_other_language_gets_the_cross_language_bonus(
    encoder: HashingEncoder, thresholds: BandThresholds
) -> None:
    # Two English articles that match a Chinese question equally well; one topic also has a
    # Chinese version (which does not match). The topic only in English gets the bonus.
    question = ["How do I use a gift card?"]
    kb = [
        Article("gift-card", "Gift cards", questions=question),
        Article("business-gift-card", "Gift cards", questions=question),
        Article(
            "business-gift-card-zh",
            "企业礼品卡",
            questions=["企业礼品卡怎么买"],
            language="zh",
            topic_id="business-gift-card",
        ),
    ]

    def scores(weights: RankingWeights) -> dict[str, float]:
        r = Retriever(encoder, thresholds, weights)
        r.upsert(kb)
        return {hit.article_id: hit.score for hit in r.search("gift card怎么用").hits}

    shipped = RankingWeights()
    ranked = scores(shipped)
    assert list(ranked)[:2] == ["gift-card", "business-gift-card-zh"]
    assert ranked["gift-card"] - ranked["business-gift-card-zh"] == pytest.approx(
        shipped.cross_language, abs=1e-3
    )
    without = scores(replace(shipped, cross_language=0.0))
    assert without["gift-card"] == pytest.approx(without["business-gift-card-zh"], abs=1e-3)


def test_a_traditional_question_finds_the_simplified_article(retriever: Retriever) -> None:
    traditional = retriever.search("我想退貨")
    simplified = retriever.search("我想退货")
    assert traditional.hits[0].article_id == simplified.hits[0].article_id == "returns-policy-zh"
    assert traditional.hits[0].score == simplified.hits[0].score
    assert (traditional.script, simplified.script) == ("hant", "hans")
    assert retriever.search("How do I return an item?").script == "hans"


def test_a_misspelt_question_finds_what_the_right_spelling_finds(
    encoder: HashingEncoder, thresholds: BandThresholds, articles: list[Article]
) -> None:
    retriever = Retriever(encoder, thresholds)
    retriever.upsert(articles)
    spelt_right = retriever.search("password reset")
    misspelt = retriever.search("pasword resett")
    assert misspelt.hits[0].article_id == spelt_right.hits[0].article_id == "reset-password"
    assert misspelt.band is spelt_right.band is ConfidenceBand.ANSWER
    # Without the correction the same question does not get an answer.
    uncorrected = Retriever(encoder, thresholds, RankingWeights(correct_spelling=False))
    uncorrected.upsert(articles)
    assert uncorrected.search("pasword resett").band is not ConfidenceBand.ANSWER


def test_sync_reindexes_an_article_linked_to_a_translation_at_the_same_version(
    retriever: Retriever, articles: list[Article]
) -> None:
    before = [hit.article_id for hit in retriever.search("我想退货", k=10).hits]
    assert "returns-policy" in before  # two topics: the English one is still offered
    linked = [
        replace(a, topic_id="returns-policy") if a.id == "returns-policy-zh" else a
        for a in articles
    ]
    report = retriever.sync(linked)
    assert report.updated == ["returns-policy-zh"]
    assert report.added == report.removed == []
    assert retriever.article_versions["returns-policy-zh"] == 1
    assert retriever.article_topics["returns-policy-zh"] == "returns-policy"
    after = [hit.article_id for hit in retriever.search("我想退货", k=10).hits]
    assert after[0] == "returns-policy-zh"
    assert "returns-policy" not in after
    assert retriever.sync(linked).changed == 0


def test_rank_can_leave_out_one_passage(retriever: Retriever, encoder: HashingEncoder) -> None:
    question = "When will I get my refund?"
    pid = next(pid for pid, p in retriever.passages().items() if p.text == question)
    vector = encoder.encode_queries([question])
    with_it = retriever.rank(question, vector, "en")[0]
    without = retriever.rank(question, vector, "en", exclude_passage=pid)[0]
    assert (with_it.article_id, with_it.matched.text) == ("refund-timeline", question)
    assert without.article_id == "refund-timeline"  # still found by its other passages
    assert without.matched.text != question
    assert without.score < with_it.score


def test_rank_can_leave_out_a_whole_topic(
    encoder: HashingEncoder, thresholds: BandThresholds, articles: list[Article]
) -> None:
    r = _bilingual_retriever(encoder, thresholds, articles)
    question = "How do I return an item?"
    vector = encoder.encode_queries([question])
    assert r.rank(question, vector, "en")[0].topic_id == "returns-policy"
    hits = r.rank(question, vector, "en", exclude_topic="returns-policy")
    assert hits
    assert all(hit.topic_id != "returns-policy" for hit in hits)
    assert {hit.article_id for hit in hits}.isdisjoint({"returns-policy", "returns-policy-zh"})


def test_on_change_is_called_after_every_change_of_the_index(
    retriever: Retriever, articles: list[Article]
) -> None:
    calls: list[int] = []
    retriever.on_change = lambda: calls.append(retriever.passage_count)
    retriever.upsert([Article("gift-card", "Gift cards")])
    assert len(calls) == 1
    assert calls[0] == retriever.passage_count  # called once the change is in the index
    retriever.remove(["gift-card"])
    assert len(calls) == 2
    retriever.remove(["never-indexed"])
    assert retriever.sync(articles).changed == 0
    assert len(calls) == 2  # nothing changed, nothing to recalibrate
    retriever.sync(articles[:-1])
    assert len(calls) == 3
