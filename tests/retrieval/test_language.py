from retrieval.language import lexical_tokens


def test_english_tokens_drop_stopwords_and_plurals() -> None:
    assert lexical_tokens("How do I track my orders?") == ["track", "order"]


def test_chinese_tokens_are_words_not_single_characters() -> None:
    tokens = lexical_tokens("我想申请退款")
    assert "退款" in tokens
    assert "我" not in tokens
