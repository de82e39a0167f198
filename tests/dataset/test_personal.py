"""The validators that keep order numbers, timestamps and versions from being taken for personal data."""
from __future__ import annotations

import pytest

from finetune_action.dataset import personal


@pytest.mark.parametrize("digits, valid", [("4539148803436467", True), ("4539148803436468", False), ("79927398713", True), ("0", True)])
def test_luhn(digits: str, valid: bool) -> None:
    assert personal.luhn(digits) is valid


@pytest.mark.parametrize("value, found", [
    ("4539 1488 0343 6467", True),
    ("4111-1111-1111-1111", True),  # a test card, still a card number
    ("1234 5678 9012 3452", False),  # Luhn-valid but no network starts with 1
    ("0000 0000 0000 0000", False),
])
def test_payment_card(value: str, found: bool) -> None:
    assert personal.payment_card(value) is found


@pytest.mark.parametrize("value, found", [
    ("DE89 3704 0044 0532 0130 00", "DE89370400440532013000"),
    ("GB82WEST12345698765432", "GB82WEST12345698765432"),
    ("GB82WEST12345698765433", None),  # mod-97 fails
    ("XX82WEST12345698765432", None),  # no such country
    ("DE89 3704 0044 0532 0130", None),  # too short for Germany
])
def test_iban(value: str, found: str | None) -> None:
    assert personal.iban(value) == found


def test_national_identifiers() -> None:
    assert personal.es_dni("", "12345678", "Z") and not personal.es_dni("", "12345678", "A")
    assert personal.es_dni("X", "1234567", "L")
    assert personal.us_ssn("536", "22", "8410")
    assert not any(personal.us_ssn(*parts) for parts in (("000", "12", "3456"), ("666", "12", "3456"), ("912", "12", "3456"), ("536", "00", "1234"), ("536", "22", "0000"), ("078", "05", "1120")))
    assert personal.uk_nino("AB") and not personal.uk_nino("GB")


@pytest.mark.parametrize("text, labels", [
    ("jane@fastmail.fm", ["email"]),
    ("jane@example.com or bob@mail.test", []),
    ("+1 415 555 2671", ["phone"]),
    ("(415) 555-2671", ["phone"]),
    ("555-0123", []),
    ("2024-01-15 10:30:00", []),
    ("81.2.69.160", ["ip-address"]),
    ("10.1.2.3 and 192.0.2.1", []),
    ("2a00:1450:4009:81e::200e", ["ip-address"]),
    ("2001:db8::1 and ::1", []),
    ("X1234567L", ["es-nie"]),
])
def test_find(text: str, labels: list[str]) -> None:
    assert [p.label for p in personal.find(text)] == labels
