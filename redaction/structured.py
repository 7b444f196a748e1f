"""Structured PII and secrets found by pattern and checksum alone: one detector set for redaction and verify.

Redaction replaces what these find; verify runs the very same detectors over every published string, so
verify is never a weaker opinion than redaction. Each detector is an RE2-compatible candidate pattern
(`PREFILTER` joins them, for Arrow's vectorised match over whole columns) and an exact Python check of
each candidate (word edges that also hold next to CJK text, Luhn, IBAN mod 97, SSN ranges, placeholders).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class StructuredHit:
    kind: str
    start: int
    end: int


# ASCII word edges: `\b` fails next to CJK letters ("信用卡2500 4538 ..."), which Python counts as word
# characters, so the edges are spelled out for ASCII letters and digits only.
_L = r"(?<![0-9A-Za-z])"
_R = r"(?![0-9A-Za-z])"
_PLACEHOLDER = re.compile(r"^[A-Z][A-Z_]*_\d+$")  # what redaction writes: NAME_1, EMAIL_2, SECRET_1


def _luhn_valid(digits: str) -> bool:
    total = 0
    for position, char in enumerate(reversed(digits)):
        value = int(char) * (2 if position % 2 else 1)
        total += value - 9 if value > 9 else value
    return total % 10 == 0


def _card(value: str) -> bool:
    digits = re.sub(r"\D", "", value)
    return 12 <= len(digits) <= 19 and _luhn_valid(digits) and len(set(digits)) > 1


def _iban(value: str) -> bool:
    compact = re.sub(r"\s", "", value).upper()
    if not 15 <= len(compact) <= 34:
        return False
    rearranged = compact[4:] + compact[:4]
    return int("".join(str(int(ch, 36)) for ch in rearranged)) % 97 == 1


def _ssn(value: str) -> bool:
    area, group, serial = value.split("-")
    return area not in ("000", "666") and area[0] != "9" and group != "00" and serial != "0000"


_NOT_SECRET_VALUES = re.compile(
    r"^(?:\$\{?\w+\}?|%\(?\w+\)?s?|<[^>]*>|\{\{?[^}]*\}\}?|\*+|x+|\.+|none|null|true|false|os\.environ.*"
    r"|process\.env.*|getenv.*|env\(.*|your[_-].*|changeme|example|placeholder|redacted|secret|password)$",
    re.IGNORECASE,
)


def _secret_value(value: str) -> bool:
    """A password or token value that is real, not a variable reference, a mask or a placeholder."""
    value = value.strip("\"'`")
    return len(value) >= 6 and not _NOT_SECRET_VALUES.match(value) and not _PLACEHOLDER.match(value)


# An unquoted right-hand side that reads as code, not as a value: a name that is itself about the secret
# (`s_password = newPassword;`), an attribute (`config.db.password`), a call or an index.
_CODE_REFERENCE = re.compile(r"(?i)pass|pwd|secret|token|key|^[A-Za-z_$][\w$]*(?:\.[A-Za-z_$][\w$]*)+$|[()\[\]]")


def _assigned_secret(value: str) -> bool:
    """The value of `PASSWORD=...`, `api_key: ...`: quoted, any real value; unquoted, one that is not code."""
    quoted = value[:1] in "\"'`"
    return _secret_value(value) and (quoted or not _CODE_REFERENCE.search(value))


# Regions whose national formats count as phone numbers (a number with a "+" prefix counts in any region),
# as redaction's default `phone_regions`.
PHONE_REGIONS = ("US", "GB", "DE", "FR", "IN", "AU")
_PHONE_RUN = r"\+?\(?\d[\d \t().\-/]{5,}\d"
# A decimal number, a dotted quad, a dotted version, a date (and hour): shapes a numbering plan may accept
# that are not phones.
_NOT_A_PHONE = re.compile(r"\d+[.,]\d+|\d{1,3}(?:\.\d{1,3}){3}|\d+(?:\.\d+)*\.\d(?:\.\d+)+"
                          r"|\d{4}[-/.]\d{1,2}[-/.]\d{1,2}(?:[ T]\d{1,2})?|\d{1,2}[-/.]\d{1,2}[-/.]\d{4}")
_SEPARATED = re.compile(r"[\s().+-]")


def _phone(value: str) -> bool:
    """A run of digits that libphonenumber reads as a valid number of a region, written with a separator or
    a "+" (a bare run of digits is as likely an id or a timestamp)."""
    import phonenumbers  # only texts holding a long digit run get here

    if sum(ch.isdigit() for ch in value) < 7 or not _SEPARATED.search(value) or _NOT_A_PHONE.fullmatch(value):
        return False
    for region in PHONE_REGIONS[:1] if value.startswith("+") else PHONE_REGIONS:
        for match in phonenumbers.PhoneNumberMatcher(value, region, leniency=phonenumbers.Leniency.VALID):
            if match.end - match.start >= len(value.strip("()")) - 1:
                return True
    return False


@dataclass(frozen=True)
class _Detector:
    kind: str
    candidate: str  # RE2 syntax: every true hit matches it
    pattern: re.Pattern[str]  # Python: the exact span (group "v" when only part of the match is the value)
    valid: Callable[[str], bool] = lambda value: True


_SECRET_NAMES = (r"(?:password|passwd|pwd|pass|secret|secret_key|client_secret|api_key|apikey|api_token"
                 r"|access_token|auth_token|access_key|secret_access_key|private_key|token)")

DETECTORS: tuple[_Detector, ...] = (
    _Detector("API_KEY",
              r"sk-[A-Za-z0-9_-]{20,}|AKIA[0-9A-Z]{16}|gh[pousr]_[A-Za-z0-9]{36}|hf_[A-Za-z0-9]{30,}"
              r"|xox[abpr]-[A-Za-z0-9-]{10,}",
              re.compile(_L + r"(?:sk-[A-Za-z0-9_-]{20,}|AKIA[0-9A-Z]{16}|gh[pousr]_[A-Za-z0-9]{36}"
                         r"|hf_[A-Za-z0-9]{30,}|xox[abpr]-[A-Za-z0-9-]{10,})")),
    _Detector("PRIVATE_KEY", r"-----BEGIN [A-Z ]*PRIVATE KEY-----",
              re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----")),
    _Detector("SECRET", r"(?i)bearer\s+[A-Za-z0-9._~+/-]{16,}",
              re.compile(r"(?i)bearer\s+(?P<v>[A-Za-z0-9._~+/-]{16,}=*)"), _secret_value),
    _Detector("SECRET", r"[A-Za-z][A-Za-z0-9+.-]*://[^\s:/@]+:[^\s@/]+@",
              re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://[^\s:/@]+:(?P<v>[^\s@/]+)@"), _secret_value),
    _Detector("SECRET", r"(?i)" + _SECRET_NAMES + r"[\"']?\s*[:=]",
              re.compile(r"(?i)" + _L + r"[A-Za-z0-9_]*" + _SECRET_NAMES
                         + r"[\"']?\s*[:=]>?\s*(?P<v>\"[^\"\n]+\"|'[^'\n]+'|[^\s\"',;]+)"), _assigned_secret),
    _Detector("EMAIL_ADDRESS", r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}",
              re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}" + _R)),
    _Detector("CREDIT_CARD", r"\d(?:[ -]?\d){11,18}",
              re.compile(_L + r"\d(?:[ -]?\d){11,18}" + _R), _card),
    _Detector("IBAN_CODE", r"[A-Z]{2}\d{2}(?: ?[A-Z0-9]){11,30}",
              re.compile(_L + r"[A-Z]{2}\d{2}(?: ?[A-Z0-9]){11,30}" + _R), _iban),
    _Detector("US_SSN", r"\d{3}-\d{2}-\d{4}", re.compile(_L + r"\d{3}-\d{2}-\d{4}" + _R), _ssn),
    _Detector("PHONE_NUMBER", _PHONE_RUN, re.compile(r"(?<![0-9A-Za-z.,+])" + _PHONE_RUN + r"(?![0-9A-Za-z]|[.,:]\d)"),
              _phone),
)

PREFILTER = "|".join(f"(?:{d.candidate})" for d in DETECTORS)


def find_structured(text: str) -> list[StructuredHit]:
    """Every structured PII value and secret in `text`, in text order; of overlapping hits the first to start
    wins, then the detector listed first (keys, then secrets, then
    the rest: `user:pass@host` is a password, not an email), then the longest."""
    hits = []
    for priority, detector in enumerate(DETECTORS):
        for match in detector.pattern.finditer(text):
            group = "v" if "v" in detector.pattern.groupindex else 0
            value = match.group(group)
            if detector.valid(value):
                hits.append((match.start(group), priority, -(match.end(group) - match.start(group)),
                             StructuredHit(detector.kind, match.start(group), match.end(group))))
    kept: list[StructuredHit] = []
    for _, _, _, hit in sorted(hits, key=lambda h: h[:3]):
        if not kept or hit.start >= kept[-1].end:
            kept.append(hit)
    return kept
