"""Structured PII and secrets in any script: one detector set shared by redaction and the publishing gate.

Redaction (through Presidio, see recognizers.StructuredRecognizer) and verify's post-redaction leak scan
both call `find_structured`, so what redaction removes and what the gate looks for cannot drift apart.

Every pattern is delimited by explicit character classes, never by `\\b`: `\\b` does not fire between a
CJK character and a digit ("信用卡2500 4538 7917 1892"), and ASCII-only classes make a value next to any
non-ASCII letter, or inside a URL, match like a value between spaces. Values are validated, not just
shaped: card numbers by Luhn, IBANs by ISO 13616 mod 97 and their country's length, IPs and phones by
`ipaddress` and libphonenumber's own matcher. Documentation values stay: RFC 5737/3849 addresses,
RFC 2606 example domains, and digits inside UUIDs and hex strings are never hits.
"""

from __future__ import annotations

import ipaddress
import math
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from functools import cache

import phonenumbers
import regex
import tldextract

KINDS = (
    "EMAIL_ADDRESS",
    "CREDIT_CARD",
    "IBAN_CODE",
    "US_SSN",
    "PHONE_NUMBER",
    "IP_ADDRESS",
    "API_KEY",
    "PRIVATE_KEY",
    "SECRET",
)
# Regions whose national phone formats are read. International numbers (+...) are read whatever the list.
DEFAULT_PHONE_REGIONS = ("US", "GB", "DE", "FR", "ES", "IT", "BR", "IN", "AU", "RU", "CN", "JP", "KR")


@dataclass(frozen=True)
class StructuredHit:
    """One structured value in a text: its kind (one of KINDS) and character offsets."""

    kind: str
    start: int
    end: int


def find_structured(
    text: str, *, kinds: Sequence[str] = KINDS, phone_regions: Sequence[str] = DEFAULT_PHONE_REGIONS
) -> list[StructuredHit]:
    """Every structured value in `text` of the given kinds, in text order (hits of different kinds may
    overlap: a password inside a URL is also inside... nothing else, but an email may hold a phone)."""
    masked = _masked_regions(text)
    hits: set[StructuredHit] = set()
    for kind in kinds:
        if kind == "PHONE_NUMBER":
            spans = _phones(text, tuple(phone_regions))
        else:
            spans = _DETECTORS[kind](text)
        hits.update(
            StructuredHit(kind, start, end)
            for start, end in spans
            if kind not in _MASKABLE or not _overlaps_any(start, end, masked)
        )
    return sorted(hits, key=lambda hit: (hit.start, -hit.end, hit.kind))


# --- what is never a hit -------------------------------------------------------------------------

# UUIDs and long hex strings (hashes, ids): their digit runs are not cards, phones or SSNs.
_HEX_LIKE = regex.compile(
    r"(?<![0-9A-Za-z])(?:[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
    r"|(?=[0-9a-fA-F]*[a-fA-F])(?=[0-9a-fA-F]*[0-9])[0-9a-fA-F]{16,})(?![0-9A-Za-z])"
)
_MASKABLE = frozenset({"CREDIT_CARD", "PHONE_NUMBER", "US_SSN", "IP_ADDRESS"})  # IBANs are all hex-like


def _masked_regions(text: str) -> list[tuple[int, int]]:
    return [match.span() for match in _HEX_LIKE.finditer(text)] if _has_hex_run(text) else []


def _has_hex_run(text: str) -> bool:
    return "-" in text or regex.search(r"[0-9a-fA-F]{16}", text) is not None


def _overlaps_any(start: int, end: int, regions: list[tuple[int, int]]) -> bool:
    return any(start < region_end and region_start < end for region_start, region_end in regions)


# RFC 2606 / 6761 names reserved for documentation and tests.
_EXAMPLE_DOMAIN = regex.compile(
    r"(?:^|\.)(?:example\.(?:com|net|org|edu)|[^.]+\.(?:example|test|invalid|localhost))$|^(?:localhost|example)$",
    regex.IGNORECASE,
)
_DOCUMENTATION_NETWORKS = tuple(
    ipaddress.ip_network(net) for net in ("192.0.2.0/24", "198.51.100.0/24", "203.0.113.0/24", "2001:db8::/32")
)


# --- email ---------------------------------------------------------------------------------------

_EMAIL = regex.compile(
    r"(?<![A-Za-z0-9._%+-])[A-Za-z0-9](?:[A-Za-z0-9._%+-]{0,63})@((?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+"
    r"[A-Za-z]{2,24})(?![A-Za-z0-9-])"
)
# The public suffix list snapshot inside tldextract: no download at run time.
_TLD_EXTRACTOR = tldextract.TLDExtract(cache_dir=None, suffix_list_urls=(), fallback_to_snapshot=True)


@cache
def _real_domain(domain: str) -> bool:
    return not _EXAMPLE_DOMAIN.search(domain) and bool(_TLD_EXTRACTOR(domain).suffix)


def _emails(text: str) -> Iterator[tuple[int, int]]:
    if "@" not in text:
        return
    for match in _EMAIL.finditer(text):
        if _real_domain(match.group(1).casefold()):
            yield match.span()


# --- numbers: cards, IBANs, SSNs -----------------------------------------------------------------

# Runs of digit groups joined by one space or dash, not touching an ASCII letter, digit or decimal point.
_DIGIT_RUN = regex.compile(r"(?<![0-9A-Za-z_]|[0-9][.,])[0-9]+(?:[ -][0-9]+)*(?![0-9A-Za-z_]|[.,][0-9])")
_GROUP = regex.compile(r"[0-9]+")


def _luhn(digits: str) -> bool:
    total = 0
    for position, char in enumerate(reversed(digits)):
        value = int(char)
        if position % 2:
            value = value * 2 - 9 if value > 4 else value * 2
        total += value
    return total % 10 == 0


def _card_shaped(digits: str) -> bool:
    """12-19 digits, a card network's leading digit (UATP's 1 only at 15 digits), not one repeated digit."""
    if not 12 <= len(digits) <= 19 or len(set(digits)) < 2:
        return False
    return digits[0] in "23456" or (digits[0] == "1" and len(digits) == 15)


def _cards(text: str) -> Iterator[tuple[int, int]]:
    """The longest Luhn-valid card number in each run of digit groups, whole groups only, leftmost first."""
    for run in _DIGIT_RUN.finditer(text):
        if run.end() - run.start() < 12:
            continue
        groups = [(match.start() + run.start(), match.end() + run.start()) for match in _GROUP.finditer(run.group())]
        index = 0
        while index < len(groups):
            found = None
            for last in range(len(groups) - 1, index - 1, -1):
                start, end = groups[index][0], groups[last][1]
                digits = "".join(ch for ch in text[start:end] if ch.isdigit())
                if _card_shaped(digits) and _luhn(digits) and _one_separator(text[start:end]):
                    found = (start, end, last)
                    break
            if found:
                yield found[0], found[1]
                index = found[2] + 1
            else:
                index += 1


def _one_separator(value: str) -> bool:
    """One kind of separator, between groups of three to six digits as cards are printed."""
    groups = regex.split(r"[ -]", value)
    return not (" " in value and "-" in value) and (len(groups) == 1 or all(3 <= len(g) <= 6 for g in groups))


_IBAN_LENGTHS = {
    "AD": 24, "AE": 23, "AL": 28, "AT": 20, "AZ": 28, "BA": 20, "BE": 16, "BG": 22, "BH": 22, "BI": 27, "BR": 29,
    "BY": 28, "CH": 21, "CR": 22, "CY": 28, "CZ": 24, "DE": 22, "DJ": 27, "DK": 18, "DO": 28, "EE": 20, "EG": 29,
    "ES": 24, "FI": 18, "FK": 18, "FO": 18, "FR": 27, "GB": 22, "GE": 22, "GI": 23, "GL": 18, "GR": 27, "GT": 28,
    "HN": 28, "HR": 21, "HU": 28, "IE": 22, "IL": 23, "IQ": 23, "IS": 26, "IT": 27, "JO": 30, "KW": 30, "KZ": 20,
    "LB": 28, "LC": 32, "LI": 21, "LT": 20, "LU": 20, "LV": 21, "LY": 25, "MC": 27, "MD": 24, "ME": 22, "MK": 19,
    "MN": 20, "MR": 27, "MT": 31, "MU": 30, "NI": 28, "NL": 18, "NO": 15, "OM": 23, "PK": 24, "PL": 28, "PS": 29,
    "PT": 25, "QA": 29, "RO": 24, "RS": 22, "RU": 33, "SA": 24, "SC": 31, "SD": 18, "SE": 24, "SI": 19, "SK": 24,
    "SM": 27, "SO": 23, "ST": 25, "SV": 28, "TL": 23, "TN": 24, "TR": 26, "UA": 29, "VA": 22, "VG": 24, "XK": 20,
    "YE": 30,
}  # fmt: skip
# Not inside a longer word, except right after the word IBAN itself ("请转账到IBANDE89...", "IBANGB82...").
_IBAN_START = regex.compile(r"(?:(?<![A-Za-z0-9])|(?<=IBAN))([A-Z]{2})[0-9]{2}")


def _ibans(text: str) -> Iterator[tuple[int, int]]:
    """From each country code and check digits, read as many characters as the country's IBAN has
    (single spaces or dashes between them allowed), then check mod 97."""
    for match in _IBAN_START.finditer(text):
        length = _IBAN_LENGTHS.get(match.group(1).upper())
        if length is None:
            continue
        compact, position = [], match.start()
        while position < len(text) and len(compact) < length:
            char = text[position]
            if char.isascii() and char.isalnum():
                compact.append(char.upper())
            elif not (char in " -" and compact and position + 1 < len(text) and text[position + 1].isalnum()):
                break
            position += 1
        if len(compact) != length or (position < len(text) and text[position].isascii() and text[position].isalnum()):
            continue
        rearranged = "".join(compact[4:] + compact[:4])
        if int("".join(str(int(ch, 36)) for ch in rearranged)) % 97 == 1:
            yield match.start(), position


# Not inside a longer run of digit groups: "+351 81 5890 5574" is a phone, not an SSN and a tail.
_SSN = regex.compile(r"(?<![0-9A-Za-z_+-]|[0-9][ -])([0-9]{3})([- ]?)([0-9]{2})\2([0-9]{4})(?![0-9A-Za-z_]|[- ][0-9])")
_SSN_CONTEXT = regex.compile(r"(?i)(?:ssn|social[ -]security|sozialversicherung|seguro social|tax id|\bitin)")
# Numbers published as examples (the Woolworth wallet card, the SSA's advertising sample).
_SAMPLE_SSNS = frozenset({"078051120", "219099999", "123456789"})


def _ssns(text: str) -> Iterator[tuple[int, int]]:
    """SSA-valid numbers written 123-45-6789 or 123 45 6789; a bare 9-digit run only after an SSN cue."""
    for match in _SSN.finditer(text):
        area, separator, group, serial = match.groups()
        digits = area + group + serial
        if area in ("000", "666") or area[0] == "9" or group == "00" or serial == "0000" or digits in _SAMPLE_SSNS:
            continue
        if len(set(digits)) == 1:
            continue
        if not separator and not _SSN_CONTEXT.search(text, max(0, match.start() - 40), match.start()):
            continue
        yield match.span()


# --- phones --------------------------------------------------------------------------------------

# A run of digits and phone separators with at least seven digits, with a little room around it.
_PHONE_RUN = regex.compile(r"\+?\(?[0-9][0-9 \t().\-/]{5,}[0-9]")
_PHONE_WINDOW_MARGIN = 8
_PHONE_PREFIX_BEFORE = regex.compile(r"(?:\+[0-9]{1,3}|(?<![0-9])00[0-9]{1,3}|(?<![0-9+])1)[\s.-]?\(?$")
_PHONE_SEPARATED = regex.compile(r"[\s().+-]")
_PHONE_CONTEXT = regex.compile(
    r"(?i)(?:phone|tel\b|tel\.|telephone|mobile|cell|call|text me|whatsapp|sms|fax|contact|number|"
    r"telefon|rückruf|anruf|handy|téléphone|portable|numéro|appel|teléfono|móvil|número|llám|celular|telefone|"
    r"ligue|telefono|numero|cellulare|chiam|"
    r"телефон|тел\.|звон|"
    r"номер|电话|手机|號碼|号码|電話|致电|联系|聯繫|携帯|連絡|번호|전화|휴대폰|연락)"
)
# Shapes a national numbering plan may accept that are not phone numbers: a decimal, a dotted quad,
# a dotted version with a one-digit part, a date.
_NOT_A_PHONE = regex.compile(
    r"[0-9]+[.,][0-9]+|[0-9]{1,3}(?:\.[0-9]{1,3}){3}|[0-9]+(?:\.[0-9]+)*\.[0-9](?:\.[0-9]+)+"
    r"|[0-9]{4}[-/.][0-9]{1,2}[-/.][0-9]{1,2}|[0-9]{1,2}[-/.][0-9]{1,2}[-/.][0-9]{4}|[0-9]{3}-[0-9]{2}-[0-9]{4}"
    r"|[0-9]*000 ?- ?[0-9]*000"
)


def load_phone_metadata() -> None:
    """Read libphonenumber's metadata for every region now (a tenth of a second): it loads lazily, region
    by region, and each process would otherwise pay for it in the middle of its first texts."""
    for region in phonenumbers.SUPPORTED_REGIONS:
        phonenumbers.PhoneMetadata.metadata_for_region(region)


def _card_run(run: str, digits: str) -> bool:
    if not _luhn(digits):
        return False
    return len(digits) > 15 or (run[0].isdigit() and _card_shaped(digits) and _one_separator(run))


def _phone_windows(text: str) -> list[tuple[int, int, bool]]:
    """Merged stretches around digit runs that could be phones, and whether their runs start with "+"
    (an IP next to "+86 ..." does not make the number national): libphonenumber's matcher runs only
    there, not over whole texts full of code and numbers."""
    windows: list[tuple[int, int, bool]] = []
    for run in _PHONE_RUN.finditer(text):
        digits = "".join(ch for ch in run.group() if ch.isdigit())
        # Not a phone, and the costliest runs to rule out region by region: too short, a dotted quad, a
        # decimal or a date, a card number (Luhn-valid, and longer than any phone or printed as cards are:
        # CREDIT_CARD redacts it).
        if len(digits) < 7 or _NOT_A_PHONE.fullmatch(run.group()) or _card_run(run.group(), digits):
            continue
        start = max(0, run.start() - _PHONE_WINDOW_MARGIN)
        end = min(len(text), run.end() + _PHONE_WINDOW_MARGIN)
        international = run.group().startswith("+")
        if windows and start <= windows[-1][1] and windows[-1][2] == international:
            windows[-1] = (windows[-1][0], end, international)
        else:
            windows.append((start, end, international))
    return windows


_EAST_ASIAN_OR_CYRILLIC = regex.compile(r"[\p{Han}\p{Hiragana}\p{Katakana}\p{Hangul}\p{Cyrillic}]")
_SCRIPT_REGIONS = frozenset({"RU", "CN", "JP", "KR"})


def _regions_for(window: str, regions: tuple[str, ...]) -> tuple[str, ...]:
    """National plans of Russia, China, Japan and Korea are read only next to their scripts (numbers with
    a country code are read anywhere): every region is one more pass of the matcher."""
    if _EAST_ASIAN_OR_CYRILLIC.search(window):
        return regions
    return tuple(region for region in regions if region not in _SCRIPT_REGIONS)


# Shapes that are phone numbers whether or not libphonenumber's metadata knows the block: the
# international form ("+", a country calling code, digit groups; not an operand after a number as in
# "3 +1234567") and a national number after a trunk-prefixed area code in parentheses ("(06664) 6692959").
_PHONE_SHAPE = regex.compile(
    r"(?<![0-9)\]][ \t]?)(?<![A-Za-z])(?P<international>\+[0-9]{1,3}(?:[ \t.\-/]?\(?[0-9]{1,6}\)?){2,7})(?![0-9])"
    r"|(?<![0-9A-Za-z])\(0[0-9]{2,5}\)[ \t/-]?[0-9]{2,}(?:[ \t-][0-9]{2,}){0,3}(?![0-9])"
)
_E164_DIGITS = range(8, 16)


def _shaped_phones(text: str) -> Iterator[tuple[int, int]]:
    if "+" not in text and "(0" not in text:
        return
    for match in _PHONE_SHAPE.finditer(text):
        digits = "".join(ch for ch in match.group() if ch.isdigit())
        if len(digits) not in _E164_DIGITS:
            continue
        if match.group("international") and not any(
            int(digits[:size]) in phonenumbers.COUNTRY_CODE_TO_REGION_CODE for size in (1, 2, 3)
        ):
            continue
        yield match.span()


def _whole_run(text: str, start: int, end: int) -> tuple[int, int]:
    """The run of digit groups a matched number sits in, when the run is no longer than a phone number can
    be: libphonenumber may match a valid prefix ("6692959" of "(06664) 6692959") and leave digits visible."""
    for run in _PHONE_RUN.finditer(text, max(0, start - 12), min(len(text), end + 12)):
        if run.start() <= start and end <= run.end():
            if sum(ch.isdigit() for ch in run.group()) <= max(_E164_DIGITS):
                return run.span()
            break
    return start, end


def _inside_longer_number(text: str, start: int, end: int) -> bool:
    """Whether the span continues a number or dotted sequence (1.3.21.1 of an OID, digits of a decimal)."""
    before, after = text[max(0, start - 2) : start], text[end : end + 2]
    return bool(
        (before[-1:].isdigit() or (len(before) == 2 and before[1] in ".," and before[0].isdigit()))
        or (after[:1].isdigit() or (len(after) == 2 and after[0] in ".," and after[1].isdigit()))
    )


def _phones(text: str, regions: tuple[str, ...]) -> Iterator[tuple[int, int]]:
    """libphonenumber's matcher (valid numbers only) around digit runs, one pass per region. A country
    prefix left outside the match is pulled in; a bare run of digits with no separator or "+" is as
    likely an id or a timestamp, so it counts only after a phone cue word. A number written with its
    country code ("+...") or after a cue word needs only a possible length for its country, not a
    number block in use: people mistype, and plans change faster than libphonenumber's metadata; and an
    international or trunk-prefixed shape (_PHONE_SHAPE) counts even where no length fits."""
    found: set[tuple[int, int]] = set()
    for window_start, window_end, international in _phone_windows(text):
        window = text[window_start:window_end]
        cued = _PHONE_CONTEXT.search(text, max(0, window_start - 40), window_start + _PHONE_WINDOW_MARGIN)
        leniency = phonenumbers.Leniency.POSSIBLE if international or cued else phonenumbers.Leniency.VALID
        for region in regions[:1] if international else _regions_for(window, regions):
            matches = list(phonenumbers.PhoneNumberMatcher(window, region, leniency))
            for match in matches:
                start, end = window_start + match.start, window_start + match.end
                prefix = _PHONE_PREFIX_BEFORE.search(text, max(0, start - 8), start)
                if prefix and "+" not in text[start:end]:
                    start = prefix.start()
                start, end = _whole_run(text, start, end)
                if _inside_longer_number(text, start, end) or _NOT_A_PHONE.fullmatch(text, start, end):
                    continue
                if not _PHONE_SEPARATED.search(text, start, end) and not _PHONE_CONTEXT.search(
                    text, max(0, start - 40), start
                ):
                    continue
                found.add((start, end))
            if matches:  # the first region that reads the window decides it
                break
    found.update(
        span
        for span in _shaped_phones(text)
        if not _inside_longer_number(text, *span) and not _NOT_A_PHONE.fullmatch(text, *span)
    )
    # A number read by two regions may come back as two overlapping spans: keep the widest.
    for start, end in sorted(found, key=lambda span: (span[0], -span[1])):
        if not any(s <= start and end <= e and (s, e) != (start, end) for s, e in found):
            yield start, end


# --- IP addresses --------------------------------------------------------------------------------

_IPV4 = regex.compile(r"(?<![0-9.]|[0-9A-Za-z]\.)(?:[0-9]{1,3}\.){3}[0-9]{1,3}(?:/[0-9]{1,2})?(?![0-9]|\.[0-9])")
_IPV6 = regex.compile(
    r"(?:(?<![0-9A-Za-z:.])|(?<=IP))(?:[0-9A-Fa-f]{0,4}:){2,7}(?:[0-9A-Fa-f]{1,4}|(?:[0-9]{1,3}\.){3}[0-9]{1,3})?"
    r"(?:/[0-9]{1,3})?(?![0-9A-Za-z:])"
)
_VERSION_CONTEXT = regex.compile(r"(?i)(?<![A-Za-z])(?:v|versions?\s*|release\s*|build\s*|ver\.?\s*)$")
# What joins a version to the next one in a list or a range: "version 1.2.3.4 to 2.0.0.1", "v1.0.0.1 → 1.0.0.2".
_VERSION_LINK = regex.compile(r"(?i)\s*(?:to|and|or|through|vs\.?|,|->|→|-|–|/)\s*(?:v|version\s*)?")


# Multicast groups that protocols fix (local network control, SSDP, node- and link-local IPv6 scopes).
_PROTOCOL_GROUPS = tuple(
    ipaddress.ip_network(net) for net in ("224.0.0.0/24", "239.255.255.250/32", "ff01::/16", "ff02::/16")
)


def _personal_address(value: str) -> bool:
    """Whether an address may be someone's. Not: loopback, unspecified, documentation networks, netmasks
    and the broadcast address, a network written as a block ("10.0.0.0/8"), the multicast groups that
    protocols fix. Every other address counts, other multicast and reserved ranges too: a group a user's
    application joins, or a mistyped host, is still theirs, and an address redacted in vain costs little."""
    try:
        interface = ipaddress.ip_interface(value)
    except ValueError:
        return False
    address = interface.ip
    if address.is_loopback or address.is_unspecified:
        return False
    if any(address in network for network in (*_DOCUMENTATION_NETWORKS, *_PROTOCOL_GROUPS)):
        return False
    if "/" in value and address == interface.network.network_address != interface.network.broadcast_address:
        return False
    if address.version == 4:
        return not value.startswith("255.") and value.split("/")[0] != "0.0.0.0"
    groups = [group for group in value.split("/")[0].split(":") if group]
    return len(groups) >= 3 or "." in value


def _ips(text: str) -> Iterator[tuple[int, int]]:
    if "." in text:
        version_end = -1  # where the last dotted quad read as a version ended
        for match in _IPV4.finditer(text):
            if _VERSION_CONTEXT.search(text, max(0, match.start() - 10), match.start()) or (
                version_end >= 0 and _VERSION_LINK.fullmatch(text, version_end, match.start())
            ):
                version_end = match.end()
            elif _personal_address(match.group()):
                yield match.span()
    if "::" in text or text.count(":") >= 4:
        for match in _IPV6.finditer(text):
            if _personal_address(match.group()):
                yield match.span()


# --- keys and secrets ----------------------------------------------------------------------------


def _distinct_enough(value: str, minimum: int = 6) -> bool:
    """Placeholders such as sk-xxxxxxxx... have few distinct characters; random keys have many."""
    return len(set(value)) >= minimum


# Provider key shapes. Each is delimited so that a key inside a longer token is not cut in half.
_API_KEYS = regex.compile(
    "|".join(
        f"(?:{pattern})"
        for pattern in (
            r"(?<![\w-])sk-(?:proj-|svcacct-|admin-|None-)?[A-Za-z0-9_-]{20,}T3BlbkFJ[A-Za-z0-9_-]{20,}(?![\w-])",
            r"(?<![\w-])sk-(?:proj|svcacct|admin)-[A-Za-z0-9_-]{40,}(?![\w-])",
            r"(?<![\w-])sk-ant-(?:api|admin|oat)\d\d-[A-Za-z0-9_-]{80,}(?![\w-])",
            r"(?<![\w-])sk-[A-Za-z0-9]{32,}(?![\w-])",
            r"(?<![A-Za-z0-9])(?:AKIA|ASIA|AGPA|AIDA|AROA|AIPA|ANPA|ANVA)[A-Z2-7]{16}(?![A-Za-z0-9])",
            r"(?<![A-Za-z0-9_])(?:ghp|gho|ghu|ghs|ghr)_[A-Za-z0-9]{36}(?![A-Za-z0-9_])",
            r"(?<![A-Za-z0-9_])github_pat_[A-Za-z0-9_]{60,}(?![A-Za-z0-9_])",
            r"(?<![A-Za-z0-9_-])glpat-[A-Za-z0-9_-]{20,}(?![A-Za-z0-9_-])",
            r"(?<![A-Za-z0-9_])hf_[A-Za-z0-9]{30,40}(?![A-Za-z0-9_])",
            r"(?<![A-Za-z0-9-])xox[abposr]-[0-9]{6,}-[A-Za-z0-9-]{10,}(?![A-Za-z0-9-])",
            r"https://hooks\.slack\.com/services/T[A-Za-z0-9_]+/B[A-Za-z0-9_]+/[A-Za-z0-9_]+",
            r"(?<![A-Za-z0-9_-])AIza[0-9A-Za-z_-]{35}(?![A-Za-z0-9_-])",
            r"(?<![A-Za-z0-9_])(?:sk|rk|pk)_(?:live|test)_[0-9A-Za-z]{20,}(?![A-Za-z0-9_])",
            r"(?<![A-Za-z0-9_])whsec_[0-9A-Za-z]{24,}(?![A-Za-z0-9_])",
            r"(?<![A-Za-z0-9_])gsk_[A-Za-z0-9]{40,}(?![A-Za-z0-9_])",
            r"(?<![A-Za-z0-9_-])xai-[A-Za-z0-9]{60,}(?![A-Za-z0-9_-])",
            r"(?<![A-Za-z0-9_])r8_[A-Za-z0-9]{30,}(?![A-Za-z0-9_])",
            r"(?<![A-Za-z0-9_])npm_[A-Za-z0-9]{36}(?![A-Za-z0-9_])",
            r"(?<![A-Za-z0-9_])pypi-AgE[A-Za-z0-9_-]{50,}(?![A-Za-z0-9_-])",
            r"(?<![A-Za-z0-9_])SG\.[A-Za-z0-9_-]{22}\.[A-Za-z0-9_-]{43}(?![A-Za-z0-9_-])",
            r"(?<![A-Za-z0-9_])(?:AC|SK)[0-9a-f]{32}(?![A-Za-z0-9_])",
            r"(?<![A-Za-z0-9_-])eyJ[A-Za-z0-9_-]{10,}\.eyJ[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{10,}(?![A-Za-z0-9_-])",
        )
    )
)
_AWS_SECRET = regex.compile(
    r"(?i:aws_?secret_?access_?key|secret_?access_?key)[\"']?\s*[:=]\s*[\"']?([A-Za-z0-9/+]{40})(?![A-Za-z0-9/+])"
)


# Every provider key shape starts with one of these; most texts hold none, and then the long pattern is skipped.
_API_KEY_PREFIX = regex.compile(
    r"sk-|[srp]k_|A[KSGIRPN][IP]A|gh[pousr]_|github_pat_|glpat-|hf_|xox|hooks\.slack|AIza|whsec_|gsk_|xai-|r8_|npm_|"
    r"pypi-|SG\.|AC[0-9a-f]|SK[0-9a-f]|eyJ"
)


def _api_keys(text: str) -> Iterator[tuple[int, int]]:
    if _API_KEY_PREFIX.search(text) is None and "ccess" not in text:
        return
    for match in _API_KEYS.finditer(text):
        if _distinct_enough(match.group()):
            yield match.span()
    for match in _AWS_SECRET.finditer(text):
        if _distinct_enough(match.group(1)):
            yield match.span(1)


_PEM = regex.compile(
    r"-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----(?:.*?-----END (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----"
    r"|(?:\r?\n(?:[A-Za-z0-9+/=]{8,}|[A-Za-z-]+: [^\n]*|))+)",
    regex.DOTALL,
)
_PUTTY_KEY = regex.compile(r"PuTTY-User-Key-File-\d: [^\n]+(?:\r?\n[A-Za-z-]+: [^\n]*|\r?\n[A-Za-z0-9+/=]{8,})+")


def _private_keys(text: str) -> Iterator[tuple[int, int]]:
    if "PRIVATE KEY" in text:
        yield from (match.span() for match in _PEM.finditer(text))
    if "PuTTY-User-Key-File" in text:
        yield from (match.span() for match in _PUTTY_KEY.finditer(text))


# Names of settings, variables and fields that hold secrets: "PASSWORD", "db_pass", "SECRET_KEY",
# "clientSecret", "api-key", "X-Auth-Token". A name matches when one of its words is a secret word, or
# a key word follows a qualifying word; words that say the value is about the secret, not the secret
# ("password_length", "token_type", "max_tokens") rule it out.
_SECRET_WORDS = frozenset(
    {"password", "passwd", "pwd", "pass", "passphrase", "passcode", "secret", "token", "apikey", "credential",
     "credentials", "pw", "pword", "senha", "contrasena", "contraseña", "passwort", "kennwort", "motdepasse",
     "пароль", "密码", "密碼", "パスワード", "비밀번호"}
)  # fmt: skip
_KEY_QUALIFIERS = frozenset(
    {"api", "access", "secret", "private", "signing", "encryption", "master", "client", "app", "license",
     "session", "auth", "subscription", "account", "service", "consumer", "webhook", "storage", "shared"}
)  # fmt: skip
_NOT_SECRET_WORDS = frozenset(
    {"type", "types", "url", "uri", "endpoint", "length", "len", "count", "limit", "limits", "size", "file", "path",
     "name", "field", "label", "prompt", "policy", "min", "max", "num", "expiry", "expires", "expiration", "ttl",
     "timeout", "hash", "hint", "regex", "pattern", "reset", "confirm", "confirmation", "input", "placeholder",
     "id", "ids", "header", "prefix", "format", "strength", "rules", "validation", "required", "usage", "manager",
     "store", "env", "var", "variable", "error", "errors", "message", "class", "kind", "mode", "enabled",
     "tokens", "tokenizer", "location", "dir", "directory", "version", "form", "list", "index", "hasher",
     "hashers", "hashing", "algorithm", "algo", "validator", "validators", "backend", "backends", "encoder",
     "complexity", "history", "age", "changed", "protected", "expired"}
)  # fmt: skip
# Words that end a run-together name: PGPASSWORD, DBPASSWD, clientsecret, authtoken ("pass" alone would
# take in "bypass" and "compass").
_SECRET_SUFFIXES = ("password", "passwd", "passphrase", "secret", "token", "apikey")
_NAME_WORD_SPLIT = regex.compile(r"[_\-.\s]+|(?<=\p{Ll})(?=\p{Lu})")


@cache
def _secret_name(name: str) -> bool:
    words = [word.casefold() for word in _NAME_WORD_SPLIT.split(name) if word]
    if not words or any(word in _NOT_SECRET_WORDS for word in words):
        return False
    if any(word in _SECRET_WORDS or word.endswith(_SECRET_SUFFIXES) for word in words):
        return True
    return any(word == "key" and index and words[index - 1] in _KEY_QUALIFIERS for index, word in enumerate(words))


# A value that stands for a secret instead of being one: a template, an environment lookup, a call,
# a type, a mask, an instruction to the reader.
_PLACEHOLDER_VALUE = regex.compile(
    r"""(?ix)^(?:
        \$\{?[a-z_][a-z0-9_.]*\}?|.*\{\{.*|\{[a-z_][a-z0-9_]*\}|<[^<>]*>|<[a-z_ -]*|\[[^\[\]]*\]|%\([a-z_]+\)s|%s|
        \*+|x+|\.+|-+|_+|\#+|•+|\?+|
        (?:your|my|enter|insert|replace|put|add)[-_ .].*|.*[-_ ](?:here|placeholder)|
        (?:os|process|env|self|this|config|settings|request|args|params|props|data|input|form|values|secrets)\..*|
        none|null|nil|true|false|undefined|empty|required|optional|secret|password|passwd|token|string|str|int|
        bool|text|any|object|char|varchar|value|redacted|hidden|masked|todo|tbd|example|sample|dummy|test|demo|
        foo|bar|baz|xyz
    )$"""
)
# Unquoted, a value may be code: a call ("input('Password: ')", "get_secret()"), whose name is a word, not
# the first letter of a random string.
_CALL_VALUE = regex.compile(r"[A-Za-z_][A-Za-z0-9_.]{2,}\(.*")
_ENTROPY_NAME = regex.compile(r"(?i)(?:^|[_\-.])(?:key|sig|signature|auth|hmac|salt|nonce)$")


def _entropy(value: str) -> float:
    counts = Counter(value)
    return -sum(count / len(value) * math.log2(count / len(value)) for count in counts.values())


def _high_entropy(value: str) -> bool:
    """Long, varied and with digits among letters, as generated keys are (identifiers rarely are)."""
    classes = sum(bool(regex.search(pattern, value)) for pattern in (r"[a-z]", r"[A-Z]", r"[0-9]", r"[^A-Za-z0-9]"))
    has_digit_and_letter = regex.search(r"[0-9]", value) and regex.search(r"[A-Za-z]", value)
    return len(value) >= 16 and classes >= 2 and bool(has_digit_and_letter) and _entropy(value) >= 3.5


# What redaction writes in place of a value (NAME_1, SECRET_2, EMAIL_ADDRESS_3): never a secret itself, or a
# redacted connection string would be found again by the publishing gate's scan of the redacted text.
_REDACTION_PLACEHOLDER = regex.compile(r"[A-Z]+(?:_[A-Z]+)*_[0-9]+")


def _secret_value(value: str, quoted: bool, code_like: bool = True) -> bool:
    """Whether an assigned value is a secret, not a placeholder, a mask or (where `code_like`: the value
    could be code) a variable or a call, with or without the statement's closing ";" or ","."""
    statement = value if quoted else value.rstrip(";,")
    if not value or len(value) > 256 or (code_like and _PLACEHOLDER_VALUE.match(statement)):
        return False
    if code_like and not quoted and _CALL_VALUE.match(statement):
        return False
    if _REDACTION_PLACEHOLDER.fullmatch(statement):
        return False
    if len(set(value)) < (5 if len(value) >= 10 else 3):  # masks such as sk-xxxxxxxxxxxxxxxx
        return False
    if quoted:
        return len(value) >= 3 and not any(ch.isspace() for ch in value)
    # Unquoted, a value may be code: a variable, an attribute, a call. Identifiers in lower snake case
    # are read as code unless they look random.
    if not regex.search(r"[0-9]", statement) and (
        regex.fullmatch(r"[a-z_][a-z0-9_]*", statement)
        or regex.fullmatch(r"[a-z_$][A-Za-z0-9_$]*[a-z][A-Z][A-Za-z0-9_$]*", statement)
    ):  # a variable: snake_case or camelCase, no digits
        return False
    return len(statement) >= 3


# name = value, name: value, "name": "value", name => value, name := value, NAME=value (.env), on one line;
# the value is read by _assigned_value.
_ASSIGNMENT = regex.compile(
    r"""(?<![A-Za-z0-9_])(?P<name>[A-Za-z_\p{L}][A-Za-z0-9_\-.\p{L}]{0,60})["']?\]?\s*
        (?:=>|:=|(?<![=!<>])=(?!=)|(?<!:):(?![:/])|：)[ \t]*(?P<quote>["'`])?""",
    regex.VERBOSE,
)
# What may stand before a name that a line assigns: indentation, a shell's export or set, a YAML list dash.
_LINE_HEAD = regex.compile(r"[ \t]*(?:(?:export|set|setx|ENV|ARG)[ \t]+|-[ \t]+)?")
# A quote ends a quoted value where a delimiter, a space or the line's end follows it; one inside the value
# ("ab"cd", a generated password's punctuation) is part of it.
_CLOSING_QUOTE_FOLLOWER = regex.compile(r"[ \t,;)}\]]|\r?$", regex.MULTILINE)
_BARE_VALUE = regex.compile(r"[^\s\"'`,;{}]{1,256}")
_LINE_COMMENT = regex.compile(r"[ \t]+#.*$|[ \t]+$")
# Templates in connection strings: ${DB_PASS}, <password>, {{ pw }}, %(password)s, masks.
_URL_PLACEHOLDER = regex.compile(
    r"(?i)^(?:\$\{?[a-z_]\w*\}?|<[^<>]*>|\{\{?[^{}]*\}\}?|%\([a-z_]+\)s|\*+|x+|\.+|password|passwd|secret)$"
)
# The password runs to the last "@" that a host name follows, so "@", quotes and "#" inside it (seen in
# pasted, unencoded URLs) do not cut it short. The user may be empty ("redis://:pw@host").
_URL_PASSWORD = regex.compile(
    r"(?i)(?<![A-Za-z0-9+.-])[a-z][a-z0-9+.-]{1,30}://[^\s:/@\"'`]{0,64}:(\S{1,128})@"
    r"(?=[A-Za-z0-9\[][A-Za-z0-9.\[\]-]*(?:[:/?#\s\"'`]|$))"
)
# <password>…</password> in XML config (Maven's settings.xml, tomcat-users), and a command line's
# "--password …", "--token '…'" (the "=" form is an assignment).
_XML_ELEMENT = regex.compile(r"<(?P<name>[A-Za-z_][\w.-]{0,60})>(?P<value>[^<\n]{1,256})</(?P=name)>")
_FLAG_VALUE = regex.compile(
    r"(?<![\w-])--?(?P<name>[A-Za-z][\w-]{1,40})[ \t]+"
    r"(?:(?P<quote>[\"'])(?P<quoted>[^\n]{1,256}?)(?P=quote)(?![^\s])|(?P<bare>[^\s\"'-][^\s]{0,255}))"
)
_AUTH_HEADER = regex.compile(r"(?i)(?<![A-Za-z])(?:bearer|token|basic)[ \t]+([A-Za-z0-9._~+/=-]{8,})")
_AUTH_CONTEXT = regex.compile(r"(?i)(?:authori[sz]ation|bearer|auth|header|curl|-H)")
# "my password is …", "mi contraseña de gmail es …", "пароль от почты: …", "Mein Passwort lautet …",
# "密码是…": the word for password in the arena's languages, up to three words about it, a verb or a colon.
_PASSWORD_WORDS = (
    r"password|passcode|passphrase|pin code|contraseña|mot de passe|passwort|kennwort|senha|пароль|密码|密碼|口令|"
    r"パスワード|暗証番号|비밀번호|wachtwoord|hasło|haslo|şifre|lösenord|salasana|heslo|jelszó|mật khẩu"
)
_PROSE_PASSWORD = regex.compile(
    rf"(?i)(?:{_PASSWORD_WORDS})(?:[ \t]+[^\s:：]{{1,15}}){{0,3}}?"
    r"(?:[ \t]+(?:is|was|est|était|ist|lautet|war|es|era|é|è|sono|это|—|-)(?![\p{L}])"
    r"|[ \t]*(?:是|は|为|為|는|은|:|：))"
    r"[ \t]*([“«「\"']?)([^\s”»」，。、]{3,64})"
)
# Unquoted, a password in prose has a digit, a symbol or a capital inside: "the password is incorrect" states
# no password.
_PASSWORD_SHAPED = regex.compile(r"[^\p{L}]|\p{L}\p{Lu}")


# Every secret rule needs one of these words nearby; most texts have none.
_SECRET_HINT = regex.compile(
    r"(?i)pass|pwd|pw\b|secret|token|key|auth|credential|bearer|basic|senha|contrase|kennwort|пароль|密码|密碼|"
    r"口令|パスワード|暗証番号|비밀번호|wachtwoord|has[łl]o|[şs]ifre|lösenord|salasana|heslo|jelszó|mật khẩu|"
    r"sig|salt|nonce|hmac|://"
)


def _assigned_value(text: str, match: regex.Match) -> tuple[int, int, bool] | None:
    """Offsets of the value an assignment match sets, and whether it was quoted. A quoted value runs to its
    closing quote. A line that is one assignment (.env, YAML, properties) sets the rest of the line,
    punctuation included ("DB_PASS=rws'U/0F!hP", "pass: )<^v2'>X0"), up to a " #" comment; elsewhere an
    unquoted value ends at a space, a quote or a delimiter."""
    start, line_end = match.end(), text.find("\n", match.end())
    line_end = len(text) if line_end == -1 else line_end
    quote = match.group("quote")
    if quote:
        position = text.find(quote, start, line_end)
        while position != -1:
            if _CLOSING_QUOTE_FOLLOWER.match(text, position + 1) and position > start:
                return start, position, True
            position = text.find(quote, position + 1, line_end)
        start -= 1  # no closing quote: the quote is the value's first character
    line_start = text.rfind("\n", 0, match.start("name")) + 1
    if _LINE_HEAD.fullmatch(text, line_start, match.start("name")):
        comment = _LINE_COMMENT.search(text, start, line_end)
        end = comment.start() if comment else line_end
        if end > start and not any(ch.isspace() for ch in text[start:end]):
            return start, end, False
    bare = _BARE_VALUE.match(text, start, line_end)
    return (start, bare.end(), False) if bare else None


def _secrets(text: str) -> Iterator[tuple[int, int]]:
    """Passwords in URLs and connection strings, secret-named assignments in code and config, bearer,
    token and basic credentials in headers, and passwords stated in prose."""
    if _SECRET_HINT.search(text) is None:
        return
    if "://" in text:
        for match in _URL_PASSWORD.finditer(text):
            value = match.group(1)
            if not _URL_PLACEHOLDER.match(value) and _secret_value(value, quoted=True, code_like=False):
                yield match.span(1)
    for match in _ASSIGNMENT.finditer(text):
        name = match.group("name")
        secret_named = _secret_name(name)
        if not secret_named and not _ENTROPY_NAME.search(name):
            continue
        assigned = _assigned_value(text, match)
        if assigned is None:
            continue
        start, end, quoted = assigned
        value = text[start:end]
        if secret_named:
            if _secret_value(value, quoted):
                yield start, end
        elif _high_entropy(value) and not _PLACEHOLDER_VALUE.match(value):
            yield start, end
    if "</" in text:
        for match in _XML_ELEMENT.finditer(text):
            if _secret_name(match.group("name")) and _secret_value(match.group("value"), quoted=True):
                yield match.span("value")
    if "-" in text:
        for match in _FLAG_VALUE.finditer(text):
            group = "quoted" if match.group("quoted") is not None else "bare"
            if _secret_name(match.group("name")) and _secret_value(match.group(group), quoted=group == "quoted"):
                yield match.span(group)
    for match in _AUTH_HEADER.finditer(text):
        value = match.group(1)
        keyword = text[match.start() : match.start(1)].strip().casefold()
        if _PLACEHOLDER_VALUE.match(value) or not _distinct_enough(value, 5):
            continue
        # "the bearer instrument", "a token approach": prose words are not credentials.
        credential_shaped = not value.isalpha() or _high_entropy(value)
        if credential_shaped and (
            keyword == "bearer" or _AUTH_CONTEXT.search(text, max(0, match.start() - 40), match.start())
        ):
            yield match.span(1)
    for match in _PROSE_PASSWORD.finditer(text):
        start, end = match.span(2)
        # The sentence's punctuation, not the password's: before a space or the text's end.
        while end > start and text[end - 1] in ".,;" and (end == len(text) or text[end].isspace()):
            end -= 1
        if match.group(1):
            start -= 1  # a quote that opens the value may be its first character: redact it with it
        value = text[start:end]
        if _secret_value(value, quoted=True) and (match.group(1) or _PASSWORD_SHAPED.search(value)):
            yield start, end


# Every text `find_structured` finds anything in matches this RE2 pattern (Arrow's vectorised kernels), so a
# scan over whole columns hands only these texts to Python: a digit run of 7+ characters (cards, SSNs,
# phones), an IBAN's country and check digits, an "@", an IPv6 address's "::" or its first colons, the hints
# each detector itself requires first.
PREFILTER = (
    r"[0-9][0-9 \t().\-/]{5,}[0-9]|[A-Za-z]{2}[0-9]{2}|@|PRIVATE KEY|PuTTY-User-Key-File|ccess|sk-|[srp]k_"
    r"|A[KSGIRPN][IP]A|gh[pousr]_|github_pat_|glpat-|hf_|xox|hooks\.slack|AIza|whsec_|gsk_|xai-|r8_|npm_|pypi-"
    r"|SG\.|AC[0-9a-f]|SK[0-9a-f]|eyJ|::|[0-9A-Fa-f]:[0-9A-Fa-f]{1,4}:[0-9A-Fa-f]{1,4}:|[0-9]\.[0-9]"
    r"|(?i:pass|pwd|pw|secret|token|key|auth|credential|bearer|basic"
    r"|senha|contrase|kennwort|пароль|密码|密碼|口令|パスワード|暗証番号|비밀번호|wachtwoord|has[łl]o|[şs]ifre|lösenord"
    r"|salasana|heslo|jelszó|mật khẩu|sig|salt|nonce|hmac|pin code|://)"
)

_DETECTORS: dict[str, Callable[[str], Iterator[tuple[int, int]]]] = {
    "EMAIL_ADDRESS": _emails,
    "CREDIT_CARD": _cards,
    "IBAN_CODE": _ibans,
    "US_SSN": _ssns,
    "IP_ADDRESS": _ips,
    "API_KEY": _api_keys,
    "PRIVATE_KEY": _private_keys,
    "SECRET": _secrets,
}
