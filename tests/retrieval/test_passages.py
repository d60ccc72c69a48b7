from retrieval.passages import answer_text, article_passages, plain_text
from tests.retrieval.conftest import Article


def test_title_questions_and_body_paragraphs_are_indexed() -> None:
    article = Article(
        "a",
        "Title",
        "First **bold** paragraph.\n\n- item one\n- item two",
        ["Question one?", "  ", "Question two?"],
    )
    kinds = [p.kind for p in article_passages(article)]
    assert kinds == ["title", "question", "question", "body", "body"]
    assert all(p.version == 1 and p.article_id == "a" for p in article_passages(article))


def test_long_paragraphs_are_split_at_sentences() -> None:
    body = " ".join(f"Sentence number {i} is here." for i in range(40))
    passages = [p for p in article_passages(Article("a", "T", body)) if p.kind == "body"]
    assert len(passages) > 1
    assert all(len(p.text) <= 400 for p in passages)


def test_answer_text_is_first_paragraph_without_markup() -> None:
    body = "## Heading\n\nReturns are free within **30 days**. See [the form](https://x).\n\nMore."
    assert answer_text(body) == "Returns are free within 30 days. See the form."
    assert plain_text("1. Open **Orders**\n2. Click `Return`") == "Open Orders\nClick Return"
