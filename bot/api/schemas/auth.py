"""Staff login: the credentials in, the member of staff out (never the password hash)."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, StringConstraints

from bot.auth.store import StaffUser


class LoginRequest(BaseModel):
    email: Annotated[str, StringConstraints(strip_whitespace=True, min_length=3, max_length=254)]
    password: Annotated[str, StringConstraints(min_length=1, max_length=200)]


class UserPublic(BaseModel):
    id: int
    email: str
    name: str
    role: str

    @classmethod
    def of(cls, user: StaffUser) -> UserPublic:
        return cls(id=user.id, email=user.email, name=user.name, role=user.role)
