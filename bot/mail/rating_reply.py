"""The customer's answer to the rating request mail: a score from 1 to 5 at the start of the
reply's new text (docs/email.md#the-rating-by-mail).

The request says "reply with a number from 1 (poor) to 5 (excellent), and a comment if you
like", so the reply is read as a score only when it starts with one, in the forms customers
type: ``4``, ``５``, ``5/5``, ``5 stars``, ``5分``, ``五星``, ``四分``, ``三``, followed by the
end, a line break, punctuation or a space and the comment. A number that is the start of a
sentence ("3 days and still no refund", "10 out of 10", "一直没收到", "三个问题") is not a
score: the mail is then a customer message like any other.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

MAX_COMMENT_CHARS = 1000  # the widget's rating comment (RatingCreate)

_CHINESE = {"一": 1, "二": 2, "三": 3, "四": 4, "五": 5}
_FULL_WIDTH = {chr(ord("１") + n): n + 1 for n in range(5)}  # １…５

# A digit score: not part of a longer number, then a unit, or the end, a break, punctuation, or
# whitespace and then something that is not a word (or a word that is a unit: "5 stars").
_DIGIT_SCORE = re.compile(
    r"""^(?P<score>[1-5１-５])(?![0-9０-９.,][0-9０-９])(?![0-9０-９])
    (?P<unit>\s*(?:/\s*[5５]|(?:out\s+)?of\s+[5５]|分(?!钟)|颗星|星|stars?\b|points?\b))?
    (?P<rest>.*)$""",
    re.IGNORECASE | re.DOTALL | re.VERBOSE,
)
# A Chinese numeral is a score only with its unit, or alone before the end or punctuation:
# 一, 三 start many sentences (一直, 三个).
_CHINESE_SCORE = re.compile(
    r"^(?P<score>[一二三四五])(?P<unit>分(?!钟)|颗星|星)?(?P<rest>.*)$", re.DOTALL
)
_LEADING_SEPARATORS = re.compile(r"^[\s\-–—:：.,，。!！;；、)）~～]+")


@dataclass(frozen=True)
class RatingReply:
    score: int
    comment: str | None


def read_rating(text: str) -> RatingReply | None:
    """The score (and the comment after it) a reply starts with; None when it starts with
    none."""
    stripped = text.strip()
    digit = _DIGIT_SCORE.match(stripped)
    chinese = _CHINESE_SCORE.match(stripped)
    if digit is not None:
        symbol, unit, rest = digit["score"], digit["unit"], digit["rest"]
        score = _FULL_WIDTH.get(symbol) or int(symbol)
        if not unit and not _bare_score_ends(rest, allow_words=True):
            return None
    elif chinese is not None:
        score, unit, rest = _CHINESE[chinese["score"]], chinese["unit"], chinese["rest"]
        if not unit and not _bare_score_ends(rest, allow_words=False):
            return None
    else:
        return None
    comment = _LEADING_SEPARATORS.sub("", rest).strip()[:MAX_COMMENT_CHARS].strip()
    # What every database stores (db/text.py): no NUL, no lone surrogate.
    comment = comment.replace("\x00", "").encode("utf-8", "replace").decode("utf-8")
    return RatingReply(score, comment or None)


def _bare_score_ends(rest: str, allow_words: bool) -> bool:
    """After a score with no unit: the end, a line break or punctuation; for a digit also a
    space and a comment that does not read as the rest of a sentence about a quantity."""
    if not rest.strip() or rest.lstrip(" \t").startswith(("\n", "\r")):
        return True
    if re.match(r"^\s*[-–—:：.,，。!！;；、)）~～]", rest):
        return True
    if not allow_words or not rest[:1].isspace():
        return False
    word = rest.split(None, 1)[0].lower()
    return word not in _QUANTITY_WORDS and not word[:1].isdigit()


# "3 days", "2 weeks", "5 items": a sentence about a quantity, not a score and a comment.
_QUANTITY_WORDS = {
    "day", "days", "week", "weeks", "month", "months", "hour", "hours", "minute", "minutes",
    "year", "years", "item", "items", "times", "time", "orders", "order", "parcels", "parcel",
    "packages", "package", "boxes", "box", "pieces", "pcs", "of", "more", "people", "emails",
    "mails", "calls", "euros", "dollars", "usd", "eur", "yuan", "rmb", "元", "天", "个", "次",
}  # fmt: skip
