"""Real-shaped secrets and personal data, generated at test time, and look-alikes that are neither.

No value here is real: each is drawn from a seeded generator in the provider's format (GitHub
push protection would block some of them in a fixture file, so none is written to one).
"""
from __future__ import annotations

import base64
import json
import random
import string

ALNUM = string.ascii_letters + string.digits
LOWER_ALNUM = string.ascii_lowercase + string.digits


def _draw(rng: random.Random, alphabet: str, n: int) -> str:
    return "".join(rng.choice(alphabet) for _ in range(n))


def _luhn_complete(rng: random.Random, prefix: str, length: int) -> str:
    body = prefix + "".join(rng.choice(string.digits) for _ in range(length - len(prefix) - 1))
    for check in string.digits:
        digits = body + check
        total = sum((int(c) * 2 - 9 if int(c) * 2 > 9 else int(c) * 2) if i % 2 else int(c) for i, c in enumerate(reversed(digits)))
        if total % 10 == 0:
            return digits
    raise AssertionError("unreachable")


def secrets(seed: int = 14) -> dict[str, str]:
    """gitleaks rule id (or ours) -> a sentence holding one generated secret of that kind."""
    rng = random.Random(seed)
    b64 = string.ascii_letters + string.digits + "+/"
    header = base64.urlsafe_b64encode(b'{"alg":"HS256","typ":"JWT"}').decode().rstrip("=")
    payload = base64.urlsafe_b64encode(json.dumps({"sub": _draw(rng, string.digits, 10), "name": "Test User"}).encode()).decode().rstrip("=")
    return {
        "github-pat": "my token is ghp_" + _draw(rng, ALNUM, 36),
        "github-fine-grained-pat": "github_pat_" + _draw(rng, ALNUM + "_", 82),
        "gitlab-pat": "use glpat-" + _draw(rng, ALNUM, 20) + " for the API",
        "aws-access-token": "aws_access_key_id = AKIA" + _draw(rng, string.ascii_uppercase + "234567", 16),
        "gcp-api-key": "key=AIza" + _draw(rng, ALNUM + "_-", 35) + " ",
        "stripe-access-token": "stripe.api_key = 'sk_test_" + _draw(rng, ALNUM, 24) + "'",
        "slack-bot-token": "xoxb-" + _draw(rng, string.digits, 12) + "-" + _draw(rng, string.digits, 13) + "-" + _draw(rng, ALNUM, 24),
        "openai-api-key": "OPENAI_API_KEY=sk-proj-" + _draw(rng, ALNUM, 74) + "T3BlbkFJ" + _draw(rng, ALNUM, 74),
        "anthropic-api-key": "sk-ant-api03-" + _draw(rng, ALNUM, 93) + "AA",
        "huggingface-access-token": "hf_" + _draw(rng, string.ascii_letters, 34),
        "npm-access-token": "//registry.npmjs.org/:_authToken=npm_" + _draw(rng, LOWER_ALNUM, 36),
        "sendgrid-api-token": "SG." + _draw(rng, ALNUM, 22) + "." + _draw(rng, ALNUM, 43),
        "private-key": "-----BEGIN RSA PRIVATE KEY-----\n" + "\n".join(_draw(rng, b64, 64) for _ in range(4)) + "\n-----END RSA PRIVATE KEY-----",
        "jwt": "Authorization: Bearer " + header + "." + payload + "." + _draw(rng, ALNUM, 43),
        "uri-credentials": "DATABASE_URL=postgres://app_user:" + _draw(rng, ALNUM, 16) + "@db.internal.acme.io:5432/orders",
        "generic-api-key": 'client_secret = "' + _draw(rng, ALNUM, 32) + '"',
    }


def personal(seed: int = 14) -> dict[str, str]:
    """personal-data label -> a sentence holding one generated value of that kind."""
    rng = random.Random(seed)
    card = _luhn_complete(rng, "4539", 16)
    return {
        "email": "write to ana.lima" + _draw(rng, string.digits, 3) + "@fastmail.fm please",
        "phone": "call me on +44 20 7946 0" + _draw(rng, string.digits, 3),  # Ofcom's range for drama
        "payment-card": "card " + " ".join(card[i : i + 4] for i in range(0, 16, 4)),
        "iban": "IBAN DE89 3704 0044 0532 0130 00",  # the IBAN registry's own example
        "us-ssn": "SSN 536-" + str(rng.randint(10, 99)) + "-" + str(rng.randint(1000, 9999)),
        "uk-nino": "NI number AB 12 34 56 C",
        "es-dni": "DNI 12345678Z",
        "ip-address": "logged in from 81.2.69.160",
    }


LOOK_ALIKES = [
    # identifiers and hashes
    "request 123e4567-e89b-12d3-a456-426614174000 failed",
    "fixed in commit 3f2a9c1d8e7b6a5f4e3d2c1b0a9f8e7d6c5b4a39 last week",
    "sha256: 9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
    "call_12_0",
    '{"order_id": "A-12345"}',
    "Order #1234567890123 shipped",
    "Invoice ORD-2024-000123 is paid",
    "tracking number 1Z999AA10123456784",
    "ISBN 978-3-16-148410-0",
    "account 1234567890123456 (not a card: Luhn fails)",
    # times
    "2024-01-15T10:30:00Z",
    "on 2024-01-15 10:30:00+01:00 we restarted",
    "epoch 1700000000000 ms",
    "Mon, 15 Jan 2024 10:30:00 GMT",
    "meet at 10:30:00 on 15/01/2024",
    # placeholders in sample code and docs
    "set OPENAI_API_KEY=sk-... before running",
    "api_key = 'YOUR_API_KEY'",
    "client = OpenAI(api_key=os.environ['OPENAI_API_KEY'])",
    "const token = process.env.API_TOKEN;",
    "Authorization: Bearer <token>",
    "export GITHUB_TOKEN=ghp_XXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX",
    "password: ********",
    "postgres://user:password@localhost:5432/db",
    "mysql://root:${DB_PASSWORD}@db/app",
    "aws_access_key_id = AKIAIOSFODNN7EXAMPLE",
    "Reset your password from the account settings screen.",
    "The API key is shown once; store it in a secret manager.",
    # addresses and numbers that are nobody's
    "support@example.com",
    "see https://docs.acme.io/api/v2/keys",
    "git clone git@github.com:acme/notes",
    "the server at 192.168.1.10 and 10.0.0.1",
    "localhost is 127.0.0.1, docs use 203.0.113.5 and 2001:db8::1",
    "Python 3.11.7 and version 1.2.3.4",
    "Call 555-0123 or extension 1234",
    "+1 hour later",
    "std::vector<int> v;",
    "0000 0000 0000 0000",
]
