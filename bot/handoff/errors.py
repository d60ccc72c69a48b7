"""The desk's refusals; the API turns them into 404, 403, 409 and 422."""

from __future__ import annotations


class HandoffNotFoundError(LookupError):
    pass


class HandoffForbiddenError(PermissionError):
    pass


class HandoffConflictError(RuntimeError):
    pass


class ArticleNotAvailableError(ValueError):
    """An agent attached an article that does not exist or is not published."""


class TransferTargetError(ValueError):
    """A transfer named someone who is not an agent."""
