"""Errors raised by the knowledge base."""


class ArticleNotFoundError(KeyError):
    """No article (or no such version of it) has this id."""

    def __init__(self, article_id: str, version: int | None = None) -> None:
        self.article_id = article_id
        self.version = version
        what = f"article {article_id!r}" + (f" version {version}" if version else "")
        super().__init__(f"{what} not found")

    def __str__(self) -> str:
        return str(self.args[0])


class ArticleExistsError(ValueError):
    """An article with this id exists already (create, not update)."""

    def __init__(self, article_id: str) -> None:
        super().__init__(f"article {article_id!r} exists already")


class StaleVersionError(RuntimeError):
    """The article changed since the editor loaded it (optimistic locking)."""

    def __init__(self, article_id: str, current: int, author: str | None, when: str) -> None:
        self.current = current
        by = f" by {author}" if author else ""
        super().__init__(
            f"article {article_id!r} changed since you loaded it: version {current}{by} at "
            f"{when}; reload to see their changes"
        )


class TranslationError(ValueError):
    """A translation link that cannot be made: to itself, or to an article that does not exist."""


class TranslationConflictError(TranslationError):
    """The link collides with the topics as stored: a topic would have two articles in one
    language, or an article with translations of its own would leave them behind."""
