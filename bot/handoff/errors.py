"""The desk's refusals; the API turns them into 404, 403 and 409."""

from __future__ import annotations


class HandoffNotFoundError(LookupError):
    pass


class HandoffForbiddenError(PermissionError):
    pass


class HandoffConflictError(RuntimeError):
    pass
