import pytest

from retrieval.spelling import SpellingCorrector, is_english_word


@pytest.fixture
def corrector() -> SpellingCorrector:
    words = SpellingCorrector()
    words.add("How do I cancel my order?")
    words.add("Cancel an order before it ships. Frying pans and kettles are in stock.")
    words.add("Your warranty covers the battery and the charger. Add a SIM card to your plan.")
    return words


def test_misspelt_words_become_the_words_the_articles_use(corrector: SpellingCorrector) -> None:
    assert corrector.correct("cancle my oder") == "cancel my order"
    assert corrector.correct("is my batery under waranty") == "is my battery under warranty"


def test_a_real_english_word_the_articles_do_not_use_is_left_alone(
    corrector: SpellingCorrector,
) -> None:
    # "frying" is close enough to be a candidate; "flying" is a word all the same.
    assert corrector.closest("flying") == "frying"
    assert is_english_word("flying")
    assert corrector.correct("flying with a kettle") == "flying with a kettle"


def test_short_words_are_left_alone(corrector: SpellingCorrector) -> None:
    # "crd" would become "card" if short words were corrected; too many neighbours to be safe.
    assert corrector.closest("crd") == "card"
    assert corrector.correct("new crd for my plan") == "new crd for my plan"


def test_case_of_unchanged_words_is_kept(corrector: SpellingCorrector) -> None:
    assert corrector.correct("Cancle My ORDER please") == "cancel My ORDER please"
    assert corrector.correct("SIM Card Plan") == "SIM Card Plan"


def test_chinese_and_digits_are_not_touched(corrector: SpellingCorrector) -> None:
    assert corrector.correct("我想cancle订单 12345") == "我想cancel订单 12345"


def test_a_word_is_no_target_once_the_only_text_using_it_is_removed() -> None:
    words = SpellingCorrector()
    words.add("Track your parcel online.")
    words.add("Your warranty covers repairs.")
    assert words.correct("waranty") == "warranty"
    words.remove("Your warranty covers repairs.")
    assert "warranty" not in words
    assert words.correct("waranty") == "waranty"
    assert words.correct("parcl") == "parcel"  # the other article's words are still known


def test_a_word_used_twice_stays_known_until_both_texts_are_removed() -> None:
    words = SpellingCorrector()
    words.add("Warranty claims")
    words.add("Warranty length")
    words.remove("Warranty claims")
    assert words.correct("waranty") == "warranty"
    words.remove("Warranty length")
    assert words.correct("waranty") == "waranty"


def test_removing_more_than_was_added_does_not_hide_a_later_article() -> None:
    words = SpellingCorrector()
    words.add("refund")
    words.remove("refund refund shipping")  # one "refund" and "shipping" were never added
    words.add("Refunds take 3 days, refund")
    assert words.correct("refnd") == "refund"
