from retrieval.lexical_index import LexicalIndex


def test_passage_with_every_query_word_scores_near_one() -> None:
    index = LexicalIndex()
    index.add(1, "refund timeline for card payments")
    index.add(2, "reset your password")
    scores = index.search("refund card")
    assert set(scores) == {1}
    assert 0.5 < scores[1] <= 1.0


def test_removed_passages_are_never_returned() -> None:
    index = LexicalIndex()
    index.add(1, "gift card balance")
    index.add(2, "gift card expiry")
    index.remove([1])
    assert set(index.search("gift card")) == {2}
    assert len(index) == 1


def test_re_adding_a_passage_replaces_its_words() -> None:
    index = LexicalIndex()
    index.add(1, "old wording about coupons")
    index.add(1, "new wording about vouchers")
    assert index.search("coupons") == {}
    assert set(index.search("vouchers")) == {1}


def test_chinese_terms_match() -> None:
    index = LexicalIndex()
    index.add(1, "如何申请发票")
    index.add(2, "修改收货地址")
    assert set(index.search("发票")) == {1}


def test_query_of_only_stopwords_matches_nothing() -> None:
    index = LexicalIndex()
    index.add(1, "the shipping times")
    assert index.search("the of and") == {}
