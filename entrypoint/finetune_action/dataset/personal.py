"""Personal data in text: email addresses, phone numbers, payment cards, IBANs, national ids, IP addresses.

Each kind is a candidate expression plus a validator, so that what merely looks like one (an
order number, a timestamp, a version) is let through: card numbers must pass Luhn and start
like a card, IBANs must have their country's length and pass mod-97, Spanish DNI/NIE numbers
their check letter; US social security numbers and UK national insurance numbers have no check
digit and are held to their issuing rules. Addresses and numbers reserved for examples
(example.com, 192.0.2.0/24, 2001:db8::/32, 555-01xx) are not personal.

One RE2 set says in a single pass whether a text holds a candidate of any kind (the scan
shares one set with the secret rules' keywords): most texts hold none, and then no Python
expression runs at all.
"""
from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable, Iterable
from typing import NamedTuple

from finetune_action.dataset import secrets

KINDS = ("email", "phone", "payment-card", "iban", "national-id", "ip-address")


class Personal(NamedTuple):
    kind: str  # one of KINDS
    label: str  # what reports name: the kind, or the identifier (us-ssn, uk-nino, es-dni, es-nie)
    start: int
    end: int
    value: str  # the value itself: compare and hash it, never show it


_RESERVED_DOMAINS = ("example.com", "example.org", "example.net")
_RESERVED_TLDS = ("example", "test", "invalid", "localhost")


def email(value: str) -> bool:
    """Whether an address-shaped value is someone's address (not one of RFC 2606's example domains)."""
    domain = value.rpartition("@")[2].lower()
    return not (domain in _RESERVED_DOMAINS or domain.endswith(tuple("." + d for d in _RESERVED_DOMAINS)) or domain.rpartition(".")[2] in _RESERVED_TLDS)


def luhn(digits: str) -> bool:
    """The Luhn (mod 10) check every payment card number passes."""
    total = 0
    for index, char in enumerate(reversed(digits)):
        n = ord(char) - 48
        if index % 2:
            n = n * 2 - 9 if n > 4 else n * 2
        total += n
    return total % 10 == 0


# Issuer prefixes and lengths of the networks a card number is likely to be from.
_CARD_NETWORKS = (
    (re.compile(r"4"), (13, 16, 19)),  # Visa
    (re.compile(r"5[1-5]|2(?:2[2-9]|[3-6]\d|7[01]|720)"), (16,)),  # Mastercard
    (re.compile(r"3[47]"), (15,)),  # American Express
    (re.compile(r"6(?:011|5|4[4-9])"), (16, 19)),  # Discover
    (re.compile(r"35(?:2[89]|[3-8])"), (16, 19)),  # JCB
    (re.compile(r"3(?:0[0-5]|[689])"), (14, 16, 19)),  # Diners Club
    (re.compile(r"62"), (16, 17, 18, 19)),  # UnionPay
)


def payment_card(value: str) -> bool:
    """Whether a digit run (spaces and dashes allowed) is a card number: a network's prefix and length, and Luhn."""
    digits = value.replace(" ", "").replace("-", "")
    if len(set(digits)) < 2:  # 0000 0000 ... is no card; 4111 1111 ... (a test card) is still flagged
        return False
    return any(prefix.match(digits) and len(digits) in lengths for prefix, lengths in _CARD_NETWORKS) and luhn(digits)


#: IBAN length per country (ISO 13616 registry).
IBAN_LENGTHS = {
    "AD": 24, "AE": 23, "AL": 28, "AT": 20, "AZ": 28, "BA": 20, "BE": 16, "BG": 22, "BH": 22, "BR": 29, "BY": 28,
    "CH": 21, "CR": 22, "CY": 28, "CZ": 24, "DE": 22, "DK": 18, "DO": 28, "EE": 20, "EG": 29, "ES": 24, "FI": 18,
    "FO": 18, "FR": 27, "GB": 22, "GE": 22, "GI": 23, "GL": 18, "GR": 27, "GT": 28, "HR": 21, "HU": 28, "IE": 22,
    "IL": 23, "IQ": 23, "IS": 26, "IT": 27, "JO": 30, "KW": 30, "KZ": 20, "LB": 28, "LC": 32, "LI": 21, "LT": 20,
    "LU": 20, "LV": 21, "LY": 25, "MC": 27, "MD": 24, "ME": 22, "MK": 19, "MR": 27, "MT": 31, "MU": 30, "NL": 18,
    "NO": 15, "PK": 24, "PL": 28, "PS": 29, "PT": 25, "QA": 29, "RO": 24, "RS": 22, "SA": 24, "SC": 31, "SE": 24,
    "SI": 19, "SK": 24, "SM": 27, "ST": 25, "SV": 28, "TL": 23, "TN": 24, "TR": 26, "UA": 29, "VA": 22, "VG": 24,
    "XK": 20,
}


def iban(value: str) -> str | None:
    """The IBAN at the start of `value` (spaces allowed) if it has its country's length and passes mod-97, else None."""
    compact = value.replace(" ", "")
    length = IBAN_LENGTHS.get(compact[:2])
    if length is None or len(compact) < length:
        return None
    compact = compact[:length]
    rearranged = compact[4:] + compact[:4]
    number = "".join(str(int(char, 36)) for char in rearranged)
    return compact if int(number) % 97 == 1 else None


def us_ssn(area: str, group: str, serial: str) -> bool:
    """SSA's rules: no area 000, 666 or 900-999, no group 00, no serial 0000; not a published example."""
    if area in ("000", "666") or area[0] == "9" or group == "00" or serial == "0000":
        return False
    return f"{area}-{group}-{serial}" not in ("078-05-1120", "219-09-9999", "123-45-6789")


_NINO_NOT_ISSUED = ("BG", "GB", "NK", "KN", "TN", "NT", "ZZ")


def uk_nino(prefix: str) -> bool:
    """HMRC's rules for the two prefix letters (the expression already excludes D, F, I, Q, U, V and O second)."""
    return prefix not in _NINO_NOT_ISSUED


_DNI_LETTERS = "TRWAGMYFPDXBNJZSQVHLCKE"


def es_dni(prefix: str, number: str, letter: str) -> bool:
    """The check letter of a Spanish DNI (8 digits) or NIE (X, Y or Z and 7 digits)."""
    if prefix:
        number = "XYZ".index(prefix).__str__() + number
    return len(number) == 8 and _DNI_LETTERS[int(number) % 23] == letter


def ip_address(value: str) -> bool:
    """Whether a parsed address is a public one: private, loopback and documentation ranges are nobody's."""
    try:
        address = ipaddress.ip_address(value)
    except ValueError:
        return False
    return address.is_global and not address.is_multicast


def phone(value: str) -> bool:
    """An international number has 8 to 15 digits after +; a North American one a real area code and exchange."""
    digits = "".join(c for c in value if c.isdigit())
    if value.startswith("+"):
        return 8 <= len(digits) <= 15 and digits[0] != "0"
    if len(digits) == 11:
        digits = digits[1:]
    return digits[0] in "23456789" and digits[3] in "23456789" and not (digits[3:6] == "555" and digits[6:8] == "01")


Check = Callable[[re.Match], tuple[str, str] | None]  # a candidate -> (label, value) or None


def _email(match: re.Match) -> tuple[str, str] | None:
    return ("email", match.group()) if email(match.group()) else None


def _phone(match: re.Match) -> tuple[str, str] | None:
    return ("phone", match.group()) if phone(match.group()) else None


def _card(match: re.Match) -> tuple[str, str] | None:
    value = match.group()
    separators = {c for c in value if not c.isdigit()}
    return ("payment-card", value) if len(separators) < 2 and payment_card(value) else None


def _iban(match: re.Match) -> tuple[str, str] | None:
    found = iban(match.group())
    return ("iban", found) if found else None


def _ssn(match: re.Match) -> tuple[str, str] | None:
    return ("us-ssn", match.group()) if us_ssn(*match.groups()) else None


def _nino(match: re.Match) -> tuple[str, str] | None:
    return ("uk-nino", match.group()) if uk_nino(match.group(1)) else None


def _dni(match: re.Match) -> tuple[str, str] | None:
    prefix, number, letter = match.groups()
    return ("es-nie" if prefix else "es-dni", match.group()) if es_dni(prefix, number, letter) else None


def _ip(match: re.Match) -> tuple[str, str] | None:
    return ("ip-address", match.group()) if ip_address(match.group()) else None


# (kind, RE2 gate: a superset of the candidates, candidate expression, validator)
_DETECTORS: tuple[tuple[str, str, re.Pattern, Check], ...] = (
    ("email", r"@", re.compile(r"(?<![\w.%+-])[A-Za-z0-9][A-Za-z0-9._%+-]{0,63}@(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,24}(?![\w-]|:[\w~/])"), _email),  # not git@host:path
    ("phone", r"\+\d|\d{3}[ .-]\d{3}[ .-]\d{4}|\(\d{3}\) ?\d{3}[ .-]\d{4}", re.compile(r"(?<![\w+])\+\d{1,3}(?:[ .-]?\(?\d{1,4}\)?){2,5}(?![\w-])|(?<![\w.-])(?:\+?1[ .-])?(?:\(\d{3}\) ?|\d{3}([ .-]))\d{3}(?(1)\1|[ .-])\d{4}(?![\w-]|\.\d)"), _phone),
    ("payment-card", r"\d(?:[ -]?\d){12,18}", re.compile(r"(?<![\w.-])\d(?:[ -]?\d){12,18}(?![\w-]|\.\d)"), _card),
    ("iban", r"[A-Z]{2}\d{2} ?[A-Z0-9]{4}", re.compile(r"(?<![A-Za-z0-9])[A-Z]{2}\d{2}(?: ?[A-Z0-9]){11,32}(?![a-z0-9])"), _iban),
    ("national-id", r"\d{3}-\d{2}-\d{4}", re.compile(r"(?<![\w-])(\d{3})-(\d{2})-(\d{4})(?![\w-])"), _ssn),
    ("national-id", r"[A-Z]{2} ?\d{2} ?\d{2} ?\d{2} ?[A-D]", re.compile(r"(?<![A-Za-z0-9])([A-CEGHJ-PR-TW-Z][A-CEGHJ-NPR-TW-Z]) ?\d{2} ?\d{2} ?\d{2} ?[A-D](?![A-Za-z0-9])"), _nino),
    ("national-id", r"\d{7}-?[A-Z]", re.compile(r"(?<![A-Za-z0-9])([XYZ]?)(\d{7,8})-?([A-Z])(?![A-Za-z0-9])"), _dni),
    ("ip-address", r"\d\.\d{1,3}\.\d{1,3}\.\d", re.compile(r"(?<![\w.])(?<!version )(?<!Version )(?:(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)\.){3}(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(?![\w]|\.\d)"), _ip),
    ("ip-address", r"(?i)[0-9a-f]{0,4}:[0-9a-f]{0,4}:[0-9a-f]{0,4}", re.compile(r"(?<![\w:.])(?:[0-9A-Fa-f]{0,4}:){2,7}[0-9A-Fa-f]{0,4}(?![\w:])"), _ip),
)


#: RE2 patterns, one per detector, that every candidate matches: a text matching none holds none.
GATES = tuple(pattern for _kind, pattern, _expression, _check in _DETECTORS)


_GATE = secrets.gate_set(GATES)


def find(text: str, kinds: frozenset[str] = frozenset(KINDS), gates: Iterable[int] | None = None) -> list[Personal]:
    """Every validated piece of personal data of `kinds` in `text`.

    `gates`: the indices of the GATES that occur in `text`, when the caller matched them already.
    """
    hits = _GATE(text) if gates is None else gates
    if not hits:
        return []
    found: list[Personal] = []
    for index in sorted(hits):
        kind, _gate_pattern, expression, check = _DETECTORS[index]
        if kind not in kinds:
            continue
        for match in expression.finditer(text):
            result = check(match)
            if result is not None:
                found.append(Personal(kind, result[0], match.start(), match.end(), result[1]))
    return found
