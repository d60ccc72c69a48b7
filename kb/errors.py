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
