"""Seeded generator of realistic fake PII planted into realistic user prompts.

Synthetic logs use it to plant PII where the redactor must find it, and the redaction benchmark uses
the planted spans as ground truth. Every value is valid in form (Luhn-valid cards, IBANs with correct
check digits, plausible SSNs, dialable phone formats, provider-shaped secrets) so a detector that
validates checksums is exercised honestly. Word lists and templates are data under data/pii/.
"""

from __future__ import annotations

import base64
import ipaddress
import random
import re
import string
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from pipeline.yamlfile import read_yaml_file

PII_DATA_DIR = Path(__file__).parent / "data" / "pii"

ENTITY_TYPES: tuple[str, ...] = (
    "PERSON",
    "EMAIL_ADDRESS",
    "PHONE_NUMBER",
    "IP_ADDRESS",
    "CREDIT_CARD",
    "IBAN_CODE",
    "US_SSN",
    "API_KEY",
    "PRIVATE_KEY",
)


@dataclass(frozen=True)
class PlantedPII:
    entity_type: str  # one of ENTITY_TYPES
    value: str  # the exact substring planted
    start: int  # offsets into the returned text
    end: int


def make_pii_prompt(rng: random.Random) -> tuple[str, list[PlantedPII]]:
    """A realistic user prompt (e.g. 'Write an email to John Carter at john.carter@gmail.com ...')
    with 1-3 planted values, listed in text order."""
    template = rng.choice(_templates())
    filler = _SlotFiller(rng)
    parts: list[str] = []
    planted: list[PlantedPII] = []
    position = 0
    cursor = 0
    for match in _SLOT.finditer(template):
        literal = template[cursor : match.start()]
        parts.append(literal)
        position += len(literal)
        entity_type, value = filler.fill(match.group("slot"), int(match.group("index") or 1))
        parts.append(value)
        planted.append(PlantedPII(entity_type, value, position, position + len(value)))
        position += len(value)
        cursor = match.end()
    parts.append(template[cursor:])
    return "".join(parts), planted


# --- templates and word lists -------------------------------------------------------------------

_SLOT = re.compile(r"\{(?P<slot>[A-Z][A-Z0-9_]*)(?::(?P<index>\d+))?\}")


@cache
def _templates() -> tuple[str, ...]:
    data = read_yaml_file(PII_DATA_DIR / "prompt_templates.yaml")
    templates = tuple(data["templates"])
    for template in templates:
        slots = [m.group("slot") for m in _SLOT.finditer(template)]
        unknown = set(slots) - set(_SLOT_GENERATORS) - {"PERSON", "PERSON_FIRST", "EMAIL_ADDRESS"}
        if unknown or not 1 <= len(slots) <= 3:
            raise ValueError(f"bad PII template (slots {slots}): {template!r}")
    return templates


@cache
def _word_list(name: str) -> tuple[str, ...]:
    lines = (PII_DATA_DIR / name).read_text(encoding="utf-8").splitlines()
    return tuple(line.strip() for line in lines if line.strip() and not line.startswith("#"))


def first_names() -> tuple[str, ...]:
    return _word_list("first_names.txt")


def last_names() -> tuple[str, ...]:
    return _word_list("last_names.txt")


class _SlotFiller:
    """Fills the slots of one template; the same slot and index reuse one value, and an email may
    be derived from the person with the same index, as real prompts do."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.people: dict[int, tuple[str, str]] = {}
        self.values: dict[tuple[str, int], tuple[str, str]] = {}

    def person(self, index: int) -> tuple[str, str]:
        if index not in self.people:
            self.people[index] = (self.rng.choice(first_names()), self.rng.choice(last_names()))
        return self.people[index]

    def fill(self, slot: str, index: int) -> tuple[str, str]:
        if slot == "PERSON":
            return "PERSON", " ".join(self.person(index))
        if slot == "PERSON_FIRST":
            return "PERSON", self.person(index)[0]
        key = (slot, index)
        if key not in self.values:
            if slot == "EMAIL_ADDRESS":
                owner = self.people.get(index) if self.rng.random() < 0.8 else None
                self.values[key] = ("EMAIL_ADDRESS", fake_email(self.rng, owner))
            else:
                entity_type, generate = _SLOT_GENERATORS[slot]
                self.values[key] = (entity_type, generate(self.rng))
        return self.values[key]


# --- value generators ---------------------------------------------------------------------------

_EMAIL_DOMAINS = (
    "fastmail.com", "mail.com", "gmail.com", "outlook.com", "yahoo.com", "hotmail.co.uk", "proton.me",
    "icloud.com", "gmx.de", "web.de", "mail.ru", "yandex.ru", "qq.com", "naver.com", "acmecorp.com",
    "northwind.io", "contoso.com", "fabrikam.co.uk", "cs.stanford.edu", "uni-heidelberg.de",
    "tsinghua.edu.cn", "iitb.ac.in", "startup.ai", "agency.com.br",
)  # fmt: skip


def _ascii_handle(name: str) -> str:
    return "".join(ch for ch in name.lower() if ch.isalnum())


def fake_email(rng: random.Random, owner: tuple[str, str] | None = None) -> str:
    first, last = owner or (rng.choice(first_names()), rng.choice(last_names()))
    first, last = _ascii_handle(first), _ascii_handle(last)
    local = rng.choice(
        (
            f"{first}.{last}",
            f"{first[0]}{last}",
            f"{first}_{last}",
            f"{first}{last}{rng.randint(1, 99)}",
            f"{first}.{last}{rng.randint(70, 99)}",
            f"{first}",
            f"{last}.{first[0]}",
        )
    )
    return f"{local}@{rng.choice(_EMAIL_DOMAINS)}"


# Real US area codes, so phone libraries accept the numbers as valid.
_US_AREA_CODES = (
    "201", "202", "206", "212", "213", "214", "303", "305", "310", "312", "404", "407", "415", "469",
    "480", "503", "512", "602", "615", "617", "619", "646", "702", "713", "718", "773", "801", "919",
)  # fmt: skip


def _digits(rng: random.Random, count: int) -> str:
    return "".join(rng.choice(string.digits) for _ in range(count))


def fake_us_phone(rng: random.Random) -> str:
    area = rng.choice(_US_AREA_CODES)
    exchange = str(rng.randint(2, 9)) + _digits(rng, 2)
    while exchange[1:] == "11" or exchange == "555":
        exchange = str(rng.randint(2, 9)) + _digits(rng, 2)
    line = _digits(rng, 4)
    formats = (
        f"({area}) {exchange}-{line}",
        f"{area}-{exchange}-{line}",
        f"{area}.{exchange}.{line}",
        f"{area} {exchange} {line}",
        f"+1 {area} {exchange} {line}",
        f"+1-{area}-{exchange}-{line}",
        f"+1 ({area}) {exchange}-{line}",
        f"+1{area}{exchange}{line}",
        f"1-{area}-{exchange}-{line}",
    )
    return rng.choice(formats)


def fake_international_phone(rng: random.Random) -> str:
    """Numbers in national plans' valid ranges, spaced or compact E.164."""
    country, groups = rng.choice(
        (
            (
                "44",
                [rng.choice(("7946", "7400", "7831", "7723", "7984")), _digits(rng, 6)],
            ),  # UK mobile
            ("44", ["20", "7" + _digits(rng, 3), _digits(rng, 4)]),  # London
            ("49", ["15" + str(rng.choice((1, 2, 7, 9))), _digits(rng, 8)]),  # DE mobile
            ("49", ["30", str(rng.randint(2, 9)) + _digits(rng, 7)]),  # Berlin
            (
                "33",
                ["6", rng.choice(("12", "45", "61", "78", "07")), *(_digits(rng, 2) for _ in range(3))],
            ),  # FR mobile
            ("91", [str(rng.randint(7, 9)) + _digits(rng, 4), _digits(rng, 5)]),  # IN mobile
            (
                "61",
                ["4" + str(rng.randint(0, 3)) + _digits(rng, 1), _digits(rng, 3), _digits(rng, 3)],
            ),  # AU mobile
        )
    )
    if rng.random() < 0.5:
        return f"+{country} " + " ".join(groups)
    return f"+{country}" + "".join(groups)


def fake_phone(rng: random.Random) -> str:
    return fake_us_phone(rng) if rng.random() < 0.7 else fake_international_phone(rng)


def fake_ipv4(rng: random.Random) -> str:
    if rng.random() < 0.25:
        if rng.random() < 0.5:
            return f"192.168.{rng.randint(0, 255)}.{rng.randint(2, 254)}"
        return f"10.{rng.randint(0, 255)}.{rng.randint(0, 255)}.{rng.randint(2, 254)}"
    while True:
        address = ipaddress.IPv4Address(rng.getrandbits(32))
        if address.is_global and address.packed[0] < 224:
            return str(address)


def fake_ipv6(rng: random.Random) -> str:
    if rng.random() < 0.2:  # link-local with an interface id, often seen in pasted `ip a` output
        address = ipaddress.IPv6Address((0xFE80 << 112) | rng.getrandbits(64))
    else:  # global unicast 2000::/3, sometimes with a short interface id that compresses to "::"
        prefix = (0x2 << 125) | (rng.getrandbits(61) << 64)
        interface = rng.getrandbits(16) if rng.random() < 0.4 else rng.getrandbits(64)
        address = ipaddress.IPv6Address(prefix | interface)
    return address.compressed if rng.random() < 0.85 else address.exploded


def fake_ip(rng: random.Random) -> str:
    return fake_ipv4(rng) if rng.random() < 0.7 else fake_ipv6(rng)


def luhn_check_digit(payload: str) -> str:
    total = 0
    for position, char in enumerate(reversed(payload)):
        digit = int(char)
        if position % 2 == 0:  # doubled: these become the odd positions once the check digit is appended
            digit = digit * 2 - 9 if digit > 4 else digit * 2
        total += digit
    return str(-total % 10)


def fake_credit_card(rng: random.Random) -> str:
    prefix, length = rng.choice(
        (("4", 16), ("4", 16), (str(rng.randint(51, 55)), 16), (str(rng.randint(2221, 2720)), 16),
         (rng.choice(("34", "37")), 15), ("6011", 16))
    )  # fmt: skip
    payload = prefix + _digits(rng, length - len(prefix) - 1)
    number = payload + luhn_check_digit(payload)
    separator = rng.choice(("", " ", " ", "-"))
    if not separator:
        return number
    groups = (
        (number[:4], number[4:10], number[10:]) if length == 15 else tuple(number[i : i + 4] for i in range(0, 16, 4))
    )
    return separator.join(groups)


def iban_check_digits(country: str, bban: str) -> str:
    rearranged = bban + country + "00"
    numeric = "".join(str(int(char, 36)) for char in rearranged)
    return f"{98 - int(numeric) % 97:02d}"


def _french_rib_key(bank: str, branch: str, account: str) -> str:
    return f"{97 - (89 * int(bank) + 15 * int(branch) + 3 * int(account)) % 97:02d}"


def fake_iban(rng: random.Random) -> str:
    letters = string.ascii_uppercase
    country = rng.choice(("DE", "GB", "FR", "NL", "ES", "IT", "CH", "BE"))
    if country == "DE":
        bban = _digits(rng, 18)
    elif country == "GB":
        bban = "".join(rng.choice(letters) for _ in range(4)) + _digits(rng, 14)
    elif country == "FR":
        bank, branch, account = _digits(rng, 5), _digits(rng, 5), _digits(rng, 11)
        bban = bank + branch + account + _french_rib_key(bank, branch, account)
    elif country == "NL":
        bban = "".join(rng.choice(letters) for _ in range(4)) + _digits(rng, 10)
    elif country == "ES":
        bban = _digits(rng, 20)
    elif country == "IT":
        bban = rng.choice(letters) + _digits(rng, 22)
    elif country == "CH":
        bban = _digits(rng, 17)
    else:  # BE: 3 bank + 7 account + 2 check digits (account mod 97)
        body = _digits(rng, 10)
        bban = body + f"{int(body) % 97 or 97:02d}"
    iban = country + iban_check_digits(country, bban) + bban
    if rng.random() < 0.5:
        return iban
    return " ".join(iban[i : i + 4] for i in range(0, len(iban), 4))


# Prefixes that real SSA rules or validators reject as samples (Woolworth's 078-05-1120, 123-45-6789).
_SAMPLE_SSN_PREFIXES = ("078051120", "123456789", "98765432")


def fake_ssn(rng: random.Random) -> str:
    while True:
        area = rng.randint(1, 899)
        if area == 666:
            continue
        group, serial = rng.randint(1, 99), rng.randint(1, 9999)
        digits = f"{area:03d}{group:02d}{serial:04d}"
        if len(set(digits)) > 1 and not digits.startswith(_SAMPLE_SSN_PREFIXES):
            break
    separator = rng.choices(("-", " ", ""), weights=(7, 2, 1))[0]
    return separator.join((digits[:3], digits[3:5], digits[5:]))


_ALNUM = string.ascii_letters + string.digits
_URLSAFE = _ALNUM + "-_"


def _random_chars(rng: random.Random, alphabet: str, count: int) -> str:
    return "".join(rng.choice(alphabet) for _ in range(count))


def fake_openai_key(rng: random.Random) -> str:
    if rng.random() < 0.5:
        return f"sk-{_random_chars(rng, _ALNUM, 20)}T3BlbkFJ{_random_chars(rng, _ALNUM, 20)}"
    return f"sk-proj-{_random_chars(rng, _URLSAFE, 74)}T3BlbkFJ{_random_chars(rng, _URLSAFE, 74)}"


def fake_aws_key(rng: random.Random) -> str:
    return rng.choice(("AKIA", "AKIA", "ASIA")) + _random_chars(rng, string.ascii_uppercase + "234567", 16)


def fake_github_token(rng: random.Random) -> str:
    if rng.random() < 0.25:
        head = _random_chars(rng, string.ascii_uppercase + string.digits, 20)
        return f"github_pat_11{head}_{_random_chars(rng, _ALNUM, 59)}"
    return rng.choice(("ghp_", "ghp_", "gho_", "ghs_")) + _random_chars(rng, _ALNUM, 36)


def fake_hf_token(rng: random.Random) -> str:
    return "hf_" + _random_chars(rng, string.ascii_letters, 34)


def fake_slack_token(rng: random.Random) -> str:
    if rng.random() < 0.5:
        return f"xoxb-{_digits(rng, 12)}-{_digits(rng, 13)}-{_random_chars(rng, _ALNUM, 24)}"
    secret = _random_chars(rng, "0123456789abcdef", 32)
    return f"xoxp-{_digits(rng, 12)}-{_digits(rng, 12)}-{_digits(rng, 13)}-{secret}"


def fake_api_key(rng: random.Random) -> str:
    """A key of a common provider; Anthropic, Google and Stripe shapes too, as pasted in chats."""
    return rng.choice(
        (
            fake_openai_key,
            fake_aws_key,
            fake_github_token,
            fake_hf_token,
            fake_slack_token,
            lambda r: f"sk-ant-api03-{_random_chars(r, _URLSAFE, 93)}AA",
            lambda r: "AIza" + _random_chars(r, _URLSAFE, 35),
            lambda r: r.choice(("sk_live_", "rk_live_")) + _random_chars(r, _ALNUM, 24),
        )
    )(rng)


def fake_private_key(rng: random.Random) -> str:
    """A PEM block whose body starts like real DER or OpenSSH encodings (random key material)."""
    label, header, body_length, width = rng.choice(
        (
            ("RSA PRIVATE KEY", bytes.fromhex("3082025d020100028181"), 600, 64),
            ("PRIVATE KEY", bytes.fromhex("30820276020100300d06092a864886f70d0101010500"), 610, 64),
            ("EC PRIVATE KEY", bytes.fromhex("30770201010420"), 112, 64),
            ("OPENSSH PRIVATE KEY", b"openssh-key-v1\x00\x00\x00\x00\x04none", 380, 70),
        )
    )
    body = base64.b64encode(header + rng.randbytes(body_length)).decode("ascii")
    lines = [body[i : i + width] for i in range(0, len(body), width)]
    return "\n".join((f"-----BEGIN {label}-----", *lines, f"-----END {label}-----"))


_SLOT_GENERATORS: dict[str, tuple[str, Callable[[random.Random], str]]] = {
    "PHONE_NUMBER": ("PHONE_NUMBER", fake_phone),
    "IP_ADDRESS": ("IP_ADDRESS", fake_ip),
    "IPV4": ("IP_ADDRESS", fake_ipv4),
    "IPV6": ("IP_ADDRESS", fake_ipv6),
    "CREDIT_CARD": ("CREDIT_CARD", fake_credit_card),
    "IBAN_CODE": ("IBAN_CODE", fake_iban),
    "US_SSN": ("US_SSN", fake_ssn),
    "API_KEY": ("API_KEY", fake_api_key),
    "OPENAI_KEY": ("API_KEY", fake_openai_key),
    "AWS_KEY": ("API_KEY", fake_aws_key),
    "GITHUB_TOKEN": ("API_KEY", fake_github_token),
    "HF_TOKEN": ("API_KEY", fake_hf_token),
    "SLACK_TOKEN": ("API_KEY", fake_slack_token),
    "PRIVATE_KEY": ("PRIVATE_KEY", fake_private_key),
}
