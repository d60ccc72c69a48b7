"""Staff login: the credentials in, the member of staff out (never the password hash)."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, StringConstraints

from bot.auth.store import StaffUser
from texts import LANGUAGES, Language


class LoginRequest(BaseModel):
    email: Annotated[str, StringConstraints(strip_whitespace=True, min_length=3, max_length=254)]
    password: Annotated[str, StringConstraints(min_length=1, max_length=200)]


class UserPublic(BaseModel):
    id: int
    email: str
    name: str
    role: str
    # The consoles' language the user chose; null: they follow the browser's.
    language: Language | None = None

    @classmethod
    def of(cls, user: StaffUser) -> UserPublic:
        language = next((known for known in LANGUAGES if known == user.language), None)
        return cls(id=user.id, email=user.email, name=user.name, role=user.role, language=language)


class UserUpdate(BaseModel):
    """What a member of staff may change on their own account: the consoles' language (null:
    follow the browser's again)."""

    language: Language | None
