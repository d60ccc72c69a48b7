from retrieval.language import detect_language, lexical_tokens


def test_chinese_text_is_detected_even_with_product_names() -> None:
    assert detect_language("我想退货") == "zh"
    assert detect_language("iPhone 15 怎么退货") == "zh"


def test_english_text_is_detected() -> None:
    assert detect_language("How long does a refund take?") == "en"
    assert detect_language("") == "en"


def test_english_tokens_drop_stopwords_and_plurals() -> None:
    assert lexical_tokens("How do I track my orders?") == ["track", "order"]


def test_chinese_tokens_are_words_not_single_characters() -> None:
    tokens = lexical_tokens("我想申请退款")
    assert "退款" in tokens
    assert "我" not in tokens
