"""The public page of a published article: the link the bot sends with an answer.

The Markdown body is shown as escaped, pre-wrapped text; no HTML from an article is ever
rendered. (Proper Markdown rendering with a sanitiser comes with the editor console.)
"""

from __future__ import annotations

import html

from fastapi import APIRouter
from fastapi.responses import HTMLResponse

from bot.api.deps import PublishedArticleDep

router = APIRouter(prefix="/articles", tags=["articles"])

_PAGE = """<!doctype html>
<html lang="{lang}"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title>
<style>body{{font:16px/1.6 system-ui,sans-serif;max-width:42rem;margin:2rem auto;padding:0 1rem}}
pre{{white-space:pre-wrap;font:inherit}}</style></head>
<body><h1>{title}</h1><pre>{body}</pre></body></html>"""


@router.get("/{article_id}", response_class=HTMLResponse)
def article_page(article: PublishedArticleDep) -> HTMLResponse:
    page = _PAGE.format(
        lang="zh-CN" if article.language == "zh" else "en",
        title=html.escape(article.title),
        body=html.escape(article.body),
    )
    # The page has no scripts; forbid any that slipped in through content.
    return HTMLResponse(
        page, headers={"Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'"}
    )
