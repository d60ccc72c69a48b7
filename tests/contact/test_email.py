"""The one rule for a customer's email address, shared by the contact form and the service."""

from __future__ import annotations

import pytest

from contact.email import MAX_LENGTH, InvalidEmailError, customer_email

# 254 UTF-8 bytes (İ is two), at the limit; in lower case (i + U+0307, three bytes) 255.
AT_THE_LIMIT_UNTIL_LOWER_CASE = "x" * 63 + "İ@" + "d" * 62 + "." + ".".join(["d" * 60] * 2) + ".com"


def test_an_address_is_kept_normalised_in_lower_case() -> None:
    assert customer_email("  Ann@Example.COM ") == "ann@example.com"
    assert customer_email("Wang@München.de") == "wang@münchen.de"


@pytest.mark.parametrize(
    "text",
    [
        "ann@example",  # no dot in the domain
        "ann@@example.com",
        '"ann smith"@example.com',  # quoted local parts are not taken
        "ann@[192.0.2.1]",  # nor domain literals
        "ann@shop.test",  # special-use domains cannot receive mail
        "ann@localhost",
        "Ann <ann@example.com>",  # a display name is not an address
        "a" * 250 + "@example.com",
    ],
)
def test_what_is_not_an_address_is_refused(text: str) -> None:
    with pytest.raises(InvalidEmailError):
        customer_email(text)


def test_the_length_limit_holds_for_the_address_as_kept() -> None:
    assert len(AT_THE_LIMIT_UNTIL_LOWER_CASE.encode()) == MAX_LENGTH
    with pytest.raises(InvalidEmailError, match="too long"):
        customer_email(AT_THE_LIMIT_UNTIL_LOWER_CASE)
