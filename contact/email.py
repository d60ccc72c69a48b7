"""A customer's email address: valid, as Kefu keeps it, or refused with a reason.

The contact form (actions/handoff.py) and the internal handoff API (bot/handoff/schemas.py) both
call ``customer_email``, so an address the form takes is never one the service refuses.
"""

from __future__ import annotations

from email_validator import EmailNotValidError, validate_email

# RFC 5321's limit on a path, in UTF-8 bytes (email-validator checks it); the column's length.
MAX_LENGTH = 254


class InvalidEmailError(ValueError):
    """Not an address Kefu can write to (a ValueError, so a request schema answers 422)."""


def customer_email(text: str) -> str:
    """The address normalised (Unicode NFC, the domain as IDNA reads it) in lower case, else
    ``InvalidEmailError``. No DNS lookup (the machine may have no resolver, and an agent
    writes by hand); special-use domains (.test, .local, localhost…) are refused."""
    try:
        address = validate_email(text.strip(), check_deliverability=False).normalized.lower()
        # Lower case can lengthen an address (İ is two characters in lower case, so an address
        # at the length limit goes over): check what is kept, not what was typed.
        validate_email(address, check_deliverability=False)
    except EmailNotValidError as error:
        raise InvalidEmailError(str(error)) from error
    return address
