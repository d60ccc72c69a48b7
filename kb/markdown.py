"""Article bodies: Markdown in, safe HTML out.

Raw HTML is never rendered (markdown-it with ``html=False`` escapes it) and only http(s),
mailto and relative links survive (markdown-it refuses javascript:, vbscript:, file: and
data: URLs). On save, HTML tags typed into a body are removed (``strip_html``), so what is
stored is Markdown only.
"""

from __future__ import annotations

import re

from markdown_it import MarkdownIt

# A tag starts right after "<" ("a < b" is text, not a tag).
_TAG = re.compile(r"</?[a-zA-Z][a-zA-Z0-9-]*(\s[^<>]*)?/?>|<!--.*?-->", re.DOTALL)
_SAFE_SCHEMES = ("http:", "https:", "mailto:")

_renderer = MarkdownIt("commonmark", {"html": False, "linkify": False, "typographer": False})
_renderer.enable("table")
_default_validate = _renderer.validateLink


def _validate_link(url: str) -> bool:
    lowered = url.strip().lower()
    has_scheme = re.match(r"^[a-z][a-z0-9+.-]*:", lowered) is not None
    return _default_validate(url) and (not has_scheme or lowered.startswith(_SAFE_SCHEMES))


_renderer.validateLink = _validate_link  # type: ignore[method-assign]


def render_markdown(body: str) -> str:
    """HTML for display; safe to insert into a page (no raw HTML, no script URLs)."""
    return _renderer.render(body)


def strip_html(body: str) -> str:
    """Remove HTML tags and comments typed into Markdown; the text between them stays.

    Again until nothing changes: removing one tag can join the pieces of another
    (``<<script>script>``), or free a tag whose attribute held one (``<iframe srcdoc="<b>">``).
    Each round shortens the text, so this ends.
    """
    while True:
        stripped = _TAG.sub("", body)
        if stripped == body:
            return stripped
        body = stripped
