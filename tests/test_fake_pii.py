"""The fake PII generator: deterministic, offsets exact, every value valid in form.

Validity is checked with independent code (Luhn, ISO 13616 mod 97, SSA rules) and libraries
(libphonenumber, ipaddress), not with the generator's own helpers.
"""

from __future__ import annotations

import base64
import ipaddress
import random
import re
from collections import Counter

import phonenumbers
import pytest

from pipeline.fake_pii import ENTITY_TYPES, first_names, last_names, make_pii_prompt

SAMPLES = 1500


@pytest.fixture(scope="module")
def planted() -> list[tuple[str, list]]:
    rng = random.Random(20240607)
    return [make_pii_prompt(rng) for _ in range(SAMPLES)]


def _values(planted, entity_type: str) -> list[str]:
    return [p.value for _, values in planted for p in values if p.entity_type == entity_type]


def _luhn_valid(number: str) -> bool:
    digits = [int(d) for d in number][::-1]
    total = sum(d if i % 2 == 0 else (d * 2 - 9 if d > 4 else d * 2) for i, d in enumerate(digits))
    return total % 10 == 0


def test_same_seed_same_prompts_and_different_seed_different_prompts():
    first = [make_pii_prompt(random.Random(5)) for _ in range(3)]
    again = [make_pii_prompt(random.Random(5)) for _ in range(3)]
    other = [make_pii_prompt(random.Random(6)) for _ in range(3)]
    assert first == again
    assert first != other


def test_offsets_point_at_values_in_text_order(planted):
    for text, values in planted:
        assert 1 <= len(values) <= 3
        assert [p.start for p in values] == sorted(p.start for p in values)
        for p in values:
            assert p.entity_type in ENTITY_TYPES
            assert text[p.start : p.end] == p.value


def test_every_entity_type_is_generated(planted):
    counts = Counter(p.entity_type for _, values in planted for p in values)
    assert set(counts) == set(ENTITY_TYPES)


def test_credit_cards_pass_luhn_and_have_issuer_lengths(planted):
    for value in _values(planted, "CREDIT_CARD"):
        digits = re.sub(r"[ -]", "", value)
        assert digits.isdigit() and _luhn_valid(digits), value
        assert len(digits) == (15 if digits[:2] in ("34", "37") else 16), value


def test_ibans_have_valid_check_digits(planted):
    for value in _values(planted, "IBAN_CODE"):
        iban = value.replace(" ", "")
        assert re.fullmatch(r"[A-Z]{2}\d{2}[A-Z0-9]{10,30}", iban), value
        rearranged = iban[4:] + iban[:4]
        assert int("".join(str(int(ch, 36)) for ch in rearranged)) % 97 == 1, value


def test_ssns_follow_ssa_rules(planted):
    for value in _values(planted, "US_SSN"):
        digits = re.sub(r"[ -]", "", value)
        assert len(digits) == 9 and digits.isdigit(), value
        area, group, serial = digits[:3], digits[3:5], digits[5:]
        assert area not in ("000", "666") and not area.startswith("9"), value
        assert group != "00" and serial != "0000", value


def test_phone_numbers_are_valid_for_libphonenumber_in_both_us_forms(planted):
    values = _values(planted, "PHONE_NUMBER")
    for value in values:
        assert phonenumbers.is_valid_number(phonenumbers.parse(value, "US")), value
    assert any(v.startswith("+1") for v in values) and any(v.startswith("(") for v in values)
    assert any(re.fullmatch(r"\+\d{11,13}", v) for v in values), "no compact E.164 number"


def test_ip_addresses_parse_and_both_versions_appear(planted):
    versions = {ipaddress.ip_address(value).version for value in _values(planted, "IP_ADDRESS")}
    assert versions == {4, 6}


def test_api_keys_have_provider_shapes(planted):
    shapes = {
        "openai": r"sk-(proj-)?[A-Za-z0-9_-]+T3BlbkFJ[A-Za-z0-9_-]+",
        "aws": r"A(KIA|SIA)[A-Z2-7]{16}",
        "github": r"(gh[pos]_[A-Za-z0-9]{36}|github_pat_11[A-Z0-9]{20}_[A-Za-z0-9]{59})",
        "huggingface": r"hf_[A-Za-z]{34}",
        "slack": r"xox[bp]-\d+-\d+-[0-9A-Za-z-]+",
        "anthropic": r"sk-ant-api03-[A-Za-z0-9_-]{93}AA",
        "google": r"AIza[A-Za-z0-9_-]{35}",
        "stripe": r"[sr]k_live_[A-Za-z0-9]{24}",
    }
    seen = Counter()
    for value in _values(planted, "API_KEY"):
        matching = [name for name, shape in shapes.items() if re.fullmatch(shape, value)]
        assert matching, value
        seen[matching[0]] += 1
    assert set(seen) == set(shapes)


def test_private_keys_are_pem_blocks_with_base64_bodies(planted):
    for value in _values(planted, "PRIVATE_KEY"):
        lines = value.split("\n")
        label = re.fullmatch(r"-----BEGIN ([A-Z ]*PRIVATE KEY)-----", lines[0]).group(1)
        assert lines[-1] == f"-----END {label}-----"
        base64.b64decode("".join(lines[1:-1]), validate=True)


def test_names_come_from_the_word_lists(planted):
    given, family = set(first_names()), set(last_names())
    assert len(given) > 150 and len(family) > 150
    for value in _values(planted, "PERSON"):
        first, _, rest = value.partition(" ")
        assert first in given and (not rest or rest in family), value
