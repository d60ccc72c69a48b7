"""Both Chinese scripts: Traditional questions match Simplified articles and the other way
round, and a customer who writes Traditional reads the answer in Traditional.

Everything retrieval indexes or searches is first converted to Simplified (OpenCC's
``tw2sp``: characters and Taiwan phrasing, so 網路 matches 网络 and 帳號 matches 账号); a
Simplified text passes through unchanged. Answers go the other way with ``s2t`` (script only,
no regional vocabulary, which suits Taiwan and Hong Kong readers alike). OpenCC keeps Markdown,
links and Latin text as they are: it converts Chinese characters and nothing else.
"""

from __future__ import annotations

import re
import threading
from functools import cache
from typing import Any, Literal

Script = Literal["hans", "hant"]

_lock = threading.Lock()
# OpenCC writes Traditional 帳 (account) as 帐, but Simplified writes money matters with 账
# (账号, 账户, 到账); 帐 stays only for a tent or a net (帐篷, 蚊帐).
_ACCOUNT = re.compile(r"(?<!蚊)帐(?![篷幕])")


@cache
def _converter(config: str) -> Any:
    import opencc

    return opencc.OpenCC(config)


def _convert(config: str, text: str) -> str:
    # OpenCC converters are not documented as thread-safe; a conversion takes microseconds.
    with _lock:
        result: str = _converter(config).convert(text)
    return result


def to_simplified(text: str) -> str:
    """The text with Traditional characters and phrasing in Simplified (for matching)."""
    return _ACCOUNT.sub("账", _convert("tw2sp", text)) if text else text


def to_traditional(text: str) -> str:
    """Simplified characters in Traditional (for a customer who writes Traditional)."""
    return _convert("s2t", text) if text else text


def script_of(text: str) -> Script:
    """``hant`` when the text has a character that only Traditional writes, else ``hans``."""
    return "hant" if text and _convert("t2s", text) != text else "hans"


def in_script(text: str, script: Script) -> str:
    """Chinese text in the reader's script."""
    return to_traditional(text) if script == "hant" else text
