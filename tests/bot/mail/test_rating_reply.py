"""Reading the score a customer's answer to the rating request mail starts with."""

from __future__ import annotations

import pytest

from bot.mail.rating_reply import MAX_COMMENT_CHARS, RatingReply, read_rating


@pytest.mark.parametrize(
    ("text", "score", "comment"),
    [
        ("5", 5, None),
        ("  4\n", 4, None),
        ("1 - nobody answered for a week", 1, "nobody answered for a week"),
        ("5 great service, thanks!", 5, "great service, thanks!"),
        ("3. The parcel came late", 3, "The parcel came late"),
        ("4/5 quick answer", 4, "quick answer"),
        ("5 out of 5", 5, None),
        ("2 stars", 2, None),
        ("5!\nThanks Mia", 5, "Thanks Mia"),
        ("５", 5, None),
        ("３，还行", 3, "还行"),
        ("5分", 5, None),
        ("4分，回复很快", 4, "回复很快"),
        ("五星", 5, None),
        ("五星好评", 5, "好评"),
        ("四分 回复很快", 4, "回复很快"),
        ("三", 3, None),
        ("二。等了太久", 2, "等了太久"),
        ("一颗星", 1, None),
    ],
)
def test_a_reply_starting_with_a_score_is_read(text: str, score: int, comment: str | None) -> None:
    assert read_rating(text) == RatingReply(score, comment)


@pytest.mark.parametrize(
    "text",
    [
        "",
        "Thanks, all good now",
        "0",
        "6",
        "10/10",
        "45",
        "4.5",
        "3 days and still no refund",
        "2 items are missing from my order",
        "5am delivery please",
        "一直没收到退款",
        "三个问题还没解决",
        "五分钟前又坏了",
        "5分钟前又坏了",
        "六",
        "Rating: 5",  # the score must come first, as the mail asks
    ],
)
def test_anything_else_is_no_rating(text: str) -> None:
    assert read_rating(text) is None


def test_the_comment_is_bounded_and_storable() -> None:
    rating = read_rating("4 " + "x\x00" * MAX_COMMENT_CHARS)
    assert rating is not None and rating.comment is not None
    assert len(rating.comment) <= MAX_COMMENT_CHARS and "\x00" not in rating.comment
