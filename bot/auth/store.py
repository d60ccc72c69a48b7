"""Creating users, checking passwords, opening and closing login sessions."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import timedelta

from pwdlib import PasswordHash
from pwdlib.hashers.argon2 import Argon2Hasher
from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from bot.auth.models import ROLES, AuthSession, User
from db.base import utcnow
from db.text import display_name

SESSION_LIFETIME = timedelta(hours=12)
MIN_PASSWORD_CHARS = 10
_passwords = PasswordHash((Argon2Hasher(),))
# Verified against when the email is unknown, so both failures take the same time.
_DUMMY_HASH = _passwords.hash("not-a-real-password")


class UserError(ValueError):
    """A user cannot be created as asked (duplicate email, bad role, short password)."""


@dataclass(frozen=True)
class StaffUser:
    """What the rest of the service knows of a logged-in user."""

    id: int
    email: str
    name: str
    role: str
    language: str | None = None  # the consoles' language; None follows the browser

    @classmethod
    def of(cls, user: User) -> StaffUser:
        return cls(user.id, user.email, user.name, user.role, user.language)

    def has_role(self, *roles: str) -> bool:
        return self.role == "admin" or self.role in roles


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class UserStore:
    def __init__(self, session: Session) -> None:
        self.session = session

    def create(self, email: str, name: str, role: str, password: str) -> StaffUser:
        email = email.strip().lower()
        if role not in ROLES:
            raise UserError(f"role must be one of {', '.join(ROLES)}")
        if "@" not in email:
            raise UserError("email must contain @")
        if len(password) < MIN_PASSWORD_CHARS:
            raise UserError(f"password must have at least {MIN_PASSWORD_CHARS} characters")
        user = User(email=email, name=display_name(name) or email, role=role)
        user.password_hash = _passwords.hash(password)
        self.session.add(user)
        try:
            self.session.commit()
        except IntegrityError as error:
            self.session.rollback()
            raise UserError(f"a user with email {email!r} exists") from error
        return StaffUser.of(user)

    def authenticate(self, email: str, password: str) -> StaffUser | None:
        """The user, or None; unknown email and wrong password are indistinguishable."""
        user = self.session.scalars(select(User).where(User.email == email.strip().lower())).first()
        if user is None or not user.active:
            _passwords.verify(password, _DUMMY_HASH)
            return None
        if not _passwords.verify(password, user.password_hash):
            return None
        return StaffUser.of(user)

    def get(self, user_id: int) -> StaffUser | None:
        user = self.session.get(User, user_id)
        return StaffUser.of(user) if user is not None and user.active else None

    def set_language(self, user_id: int, language: str | None) -> StaffUser | None:
        """The user with the consoles' language set (None: back to the browser's)."""
        user = self.session.get(User, user_id)
        if user is None or not user.active:
            return None
        user.language = language
        self.session.commit()
        return StaffUser.of(user)

    def with_role(self, *roles: str, limit: int = 500) -> list[StaffUser]:
        """Active users holding one of ``roles`` (exactly: an admin is listed only when asked
        for), by name."""
        users = self.session.scalars(
            select(User)
            .where(User.role.in_(roles), User.active.is_(True))
            .order_by(User.name, User.id)
            .limit(limit)
        )
        return [StaffUser.of(user) for user in users]

    def open_session(self, user: StaffUser) -> str:
        token = secrets.token_urlsafe(32)
        self.session.add(
            AuthSession(
                token_hash=_digest(token), user_id=user.id, expires_at=utcnow() + SESSION_LIFETIME
            )
        )
        self.session.commit()
        return token

    def user_of_session(self, token: str) -> StaffUser | None:
        login = self.session.get(AuthSession, _digest(token))
        if login is None or login.expires_at <= utcnow():
            return None
        return self.get(login.user_id)

    def close_session(self, token: str) -> None:
        self.session.execute(delete(AuthSession).where(AuthSession.token_hash == _digest(token)))
        self.session.commit()
