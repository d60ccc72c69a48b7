"""The public page of a published article: the link the bot sends with an answer.

The Markdown body is rendered by kb.markdown: raw HTML is escaped, never rendered, and only
http(s), mailto and relative links survive; the page forbids scripts altogether (CSP).
"""

from __future__ import annotations

import html

from fastapi import APIRouter
from fastapi.responses import HTMLResponse

from bot.api.deps import PublishedArticleDep
from bot.api.schemas.errors import refusals
from kb.markdown import render_markdown
from texts import html_lang

router = APIRouter(prefix="/articles", tags=["articles"])

_PAGE = """<!doctype html>
<html lang="{lang}"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title>
<style>body{{font:16px/1.6 system-ui,sans-serif;max-width:42rem;margin:2rem auto;padding:0 1rem}}
table{{border-collapse:collapse}}td,th{{border:1px solid #ccc;padding:.3rem .6rem}}</style>
</head><body><h1>{title}</h1>{body}</body></html>"""


@router.get("/{article_id}", response_class=HTMLResponse, responses=refusals(404, page=True))
def article_page(article: PublishedArticleDep) -> HTMLResponse:
    page = _PAGE.format(
        lang=html_lang(article.language),
        title=html.escape(article.title),
        body=render_markdown(article.body),
    )
    # The page has no scripts; forbid any that slipped in through content.
    return HTMLResponse(
        page, headers={"Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'"}
    )
