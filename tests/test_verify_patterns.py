"""The structured-PII pattern scan of `verify`: a second line of defence behind redaction."""

from __future__ import annotations

import pytest

from pipeline.verify import _pii_pattern_hits


@pytest.mark.parametrize(("text", "kind"), [
    ("write to jane.doe@mail.example.org today", "email"),
    ("card 4111 1111 1111 1111 exp 12/29", "card"),
    ("my ssn is 123-45-6789", "ssn"),
    ("OPENAI_API_KEY=sk-proj-abcdefghijklmnopqrstuvwxyz0123", "api_key"),
    ("AKIAIOSFODNN7EXAMPLE is the key id", "api_key"),
    ("-----BEGIN RSA PRIVATE KEY-----\nMIIEow", "private_key"),
])
def test_structured_pii_is_found(text, kind):
    hits = _pii_pattern_hits(text)
    assert [h.split()[0] for h in hits] == [kind]
    assert "…" in hits[0]  # masked, never the whole value


@pytest.mark.parametrize("text", [
    "question_id 2c4452353f7ce1038e3024298985083c",  # digits inside a hex id
    "order 4111 1111 1111 1112",  # fails Luhn
    "ssn-shaped 000-12-3456 and 666-12-3456 and 123-00-4567",
    "EMAIL_1 and NAME_2 are placeholders",
    "3x + 7 = 22, on 2024-06-01",
])
def test_lookalikes_are_not_pii(text):
    assert _pii_pattern_hits(text) == []
