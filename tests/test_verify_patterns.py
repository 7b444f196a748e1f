"""The structured-PII pattern scan of `verify`: the detectors redaction uses (redaction/structured.py), run
again over every published string."""

from __future__ import annotations

import pytest

from pipeline.leak_scan import pii_pattern_hits


@pytest.mark.parametrize(("text", "kind"), [
    ("write to jane.doe@mailbox.org today", "email"),
    ("card 4111 1111 1111 1111 exp 12/29", "card"),
    ("my ssn is 512-44-7319", "ssn"),
    ("export OPENAI_API_KEY=sk-proj-Q3xv9LmT2pR8sW1kZ7yB4nD6fH0jG5cV9aE2uI8oP3rT6wY1", "api_key"),
    ("AKIAIOSFODNN7EXAMPLE is the key id", "api_key"),
    ("-----BEGIN RSA PRIVATE KEY-----\nMIIEow", "private_key"),
    # cards of 12, 15 and 19 digits (Luhn-valid), and digits written against CJK text
    ("card 5019 7170 1013", "card"),
    ("amex 3782 822463 10005 please", "card"),
    ("card 6011 0000 0000 0000 001 ok", "card"),
    ("这张信用卡2500 4538 7917 1892可以用吗", "card"),
    ("IBAN DE89 3704 0044 0532 0130 00 for the rent", "iban"),
    ("DATABASE_URL=postgresql://admin:Hunter2pass@db.internal:5432/app", "secret"),
    ("SECRET_KEY = 'f8a9sd7f98a7sdf98'", "secret"),
    ("curl -H 'Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.abcdefghij'", "secret"),
])
def test_structured_pii_is_found(text, kind):
    hits = pii_pattern_hits(text)
    assert kind in {h.split()[0] for h in hits}  # (a key assigned to a secret name is also a secret)
    assert all("…" in hit for hit in hits)  # masked, never the whole value


@pytest.mark.parametrize("text", [
    "question_id 2c4452353f7ce1038e3024298985083c",  # digits inside a hex id
    "order 4111 1111 1111 1112",  # fails Luhn
    "ssn-shaped 000-12-3456 and 666-12-3456 and 123-00-4567",
    "EMAIL_1 and NAME_2 are placeholders",
    "3x + 7 = 22, on 2024-06-01",
    "id 123e4567-e89b-12d3-a456-426614174000 is a UUID",
    "PASSWORD=${DB_PASSWORD} and api_key: os.environ['KEY'] and token=<your token>",
    "postgresql://user:PASSWORD_1@db/app and DB_PASSWORD=SECRET_2",  # redaction's own placeholders
    "function setPassword(string memory newPassword) external {\n    s_password = newPassword;\n}",
    "password = config.db.password; token = get_token(user)",
])
def test_lookalikes_are_not_pii(text):
    assert pii_pattern_hits(text) == []


def test_the_column_scan_flags_passwords_named_in_other_languages():
    """The RE2 prefilter in front of the column scan lets through a password named only by a word in another
    language (no digits, no key shape), so the detectors get to see it."""
    import pyarrow as pa

    from pipeline.leak_scan import LeakDetectors, residual_pii_rows

    texts = ["hasło: Qx!pq#Zr&", "口令：Qx!pq#Zr&", "暗証番号は Qx!pq#Zr& です", "Hello, how are you?"]
    table = pa.table({"text": texts})
    assert residual_pii_rows(table, ["text"], LeakDetectors()).tolist() == [True, True, True, False]
