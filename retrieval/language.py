"""Lexical tokenisation for Chinese and English text (the language itself: texts.language)."""

from __future__ import annotations

import logging
import re
from functools import lru_cache
from typing import Any

_LATIN_WORD = re.compile(r"[a-z0-9]+(?:['’][a-z]+)?")
_CJK_RUN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]+")

# Short function words carry no topic; dropping them keeps BM25 focused on the content words.
_EN_STOPWORDS = frozenset(
    """a an the and or but if of to in on at by for from with about as into is are was were be been
    being am do does did doing have has had having i me my mine we our you your he she it its they
    them their this that these those there here what which who whom how when where why can could
    would should will shall may might must just so too very not no yes please hi hello thanks thank
    want need get got also any some all one up out than then""".split()
)
_ZH_STOPWORDS = frozenset(
    """的 了 吗 呢 吧 啊 呀 哦 嗯 我 你 您 他 她 它 我们 你们 是 在 有
    和 与 及 就 都 也 还 要 想 会 能 可以 怎么 怎么办 怎样 如何 什么
    为什么 请问 一下 这个 那个 这 那 个 把 被 给 让 对 么 亲 好 请 谢谢
    如果 已经 自己 一个 没有 不 没""".split()
)


@lru_cache(maxsize=1)
def _jieba() -> Any:
    import jieba

    jieba.setLogLevel(logging.WARNING)
    jieba.initialize()
    return jieba


def _stem(word: str) -> str:
    # A light plural/ing strip is enough for help-centre vocabulary and never merges topics.
    for suffix, keep in (("ies", "y"), ("ing", ""), ("es", ""), ("s", "")):
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            return word[: -len(suffix)] + keep
    return word


def lexical_tokens(text: str) -> list[str]:
    """Tokens for BM25: jieba words for Chinese runs, stemmed lowercase words for the rest."""
    tokens: list[str] = []
    lowered = text.lower()
    for word in _LATIN_WORD.findall(_CJK_RUN.sub(" ", lowered)):
        if word not in _EN_STOPWORDS:
            tokens.append(_stem(word))
    for run in _CJK_RUN.findall(lowered):
        for word in _jieba().cut_for_search(run):
            if word not in _ZH_STOPWORDS:
                tokens.append(word)
    return tokens


def char_ngrams(text: str, n: int = 3) -> list[str]:
    """Character n-grams of the English content words, with word boundaries marked: a
    misspelt word ("cancle", "pakage") still shares most of its n-grams with the right one."""
    grams: list[str] = []
    for word in _LATIN_WORD.findall(_CJK_RUN.sub(" ", text.lower())):
        if word in _EN_STOPWORDS or len(word) < n:
            continue
        marked = f"#{word}#"
        grams += [marked[i : i + n] for i in range(len(marked) - n + 1)]
    return grams
