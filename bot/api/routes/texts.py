"""The staff consoles' texts (texts/staff.py) for the browser: one catalogue, one source.

Public, like the pages themselves: the login form is drawn from it before anyone logs in, and
it holds nothing but interface texts."""

from __future__ import annotations

from fastapi import APIRouter, Response

from bot.api.schemas.texts import StaffTextsPublic
from texts import LANGUAGES
from texts.staff import TEXTS

router = APIRouter(prefix="/texts", tags=["texts"])


@router.get("/staff", response_model=StaffTextsPublic)
def staff_texts(response: Response) -> StaffTextsPublic:
    """Every staff text in every language Kefu speaks; the consoles pick theirs."""
    # Revalidated on every load, so a deployment's new texts reach open consoles at once.
    response.headers["Cache-Control"] = "no-cache"
    return StaffTextsPublic(languages=list(LANGUAGES), texts=TEXTS)
