"""Finding private values in published strings, fast: Arrow's RE2 kernels pick the few strings that may hold
one, exact Python checks decide. Shared by verify (the leak scans over a whole release) and the release
filters (rows whose redacted text still holds structured PII are withheld before the release is built), so
the filter withholds exactly what verify would find.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable, Iterator

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from redaction.structured import KINDS, find_structured
from redaction.structured import PREFILTER as STRUCTURED_PREFILTER

__all__ = ["IP_PREFILTER", "STRUCTURED_PREFILTER", "DOCUMENTATION_NETWORKS", "ip_hits", "mask", "matching",
           "pii_pattern_hits", "residual_pii_rows", "string_leaves"]

# Cheap RE2 prefilter (Arrow kernels), then exact checks in Python on the few strings that match it.
IP_PREFILTER = r"\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3}|[0-9A-Fa-f]{0,4}:[0-9A-Fa-f]{0,4}:"
_IPV4 = re.compile(r"(?<![\w.])(?:\d{1,3}\.){3}\d{1,3}(?!\.?\d)(?!\w)")
_IPV6 = re.compile(r"(?<![\w:.])(?:[0-9A-Fa-f]{0,4}:){2,7}(?:[0-9A-Fa-f]{0,4}|(?:\d{1,3}\.){3}\d{1,3})(?![\w:])")
# Addresses reserved for documentation (RFC 5737, RFC 3849): examples in prompts and answers, never a user's.
DOCUMENTATION_NETWORKS = tuple(ipaddress.ip_network(n) for n in (
    "192.0.2.0/24", "198.51.100.0/24", "203.0.113.0/24", "2001:db8::/32"))


def string_leaves(array: pa.Array, path: str, rows: np.ndarray) -> Iterator[tuple[str, pa.Array, np.ndarray]]:
    """Every string inside `array` (through lists and structs), with the row each one belongs to."""
    kind = array.type
    if pa.types.is_string(kind) or pa.types.is_large_string(kind):
        yield path, array, rows
    elif pa.types.is_list(kind) or pa.types.is_large_list(kind):
        parents = pc.list_parent_indices(array).to_numpy()
        yield from string_leaves(array.flatten(), path + "[]", rows[parents])
    elif pa.types.is_struct(kind):
        for i in range(kind.num_fields):
            yield from string_leaves(pc.struct_field(array, [i]), f"{path}.{kind.field(i).name}", rows)


def ip_hits(text: str, allowed: tuple = ()) -> list[str]:
    """IP addresses in `text` outside the `allowed` networks and the documentation ranges."""
    allowed = (*allowed, *DOCUMENTATION_NETWORKS)
    found = []
    for pattern in (_IPV4, _IPV6):
        for match in pattern.finditer(text):
            try:
                address = ipaddress.ip_address(match.group().split("%")[0])
            except ValueError:
                continue
            if isinstance(address, ipaddress.IPv6Address) and sum(1 for g in match.group().split(":") if g) < 2:
                continue
            if not any(address in network for network in allowed if network.version == address.version):
                found.append(str(address))
    return found


def mask(value: str) -> str:
    """Enough of a found value to locate it, not enough to leak it further through verify's output."""
    return value[:4] + "…" if len(value) > 6 else value[:2] + "…"


# The kinds of the shared structured detectors (redaction/structured.py) the PII scan looks for, with
# verify's labels; IP addresses have a scan of their own (`raw_ips`), stricter than redaction's.
_PATTERN_LABELS = {"EMAIL_ADDRESS": "email", "CREDIT_CARD": "card", "IBAN_CODE": "iban", "US_SSN": "ssn",
                   "PHONE_NUMBER": "phone", "API_KEY": "api_key", "PRIVATE_KEY": "private_key", "SECRET": "secret"}
STRUCTURED_KINDS = tuple(kind for kind in KINDS if kind != "IP_ADDRESS")


def structured_hits(text: str) -> list:
    """What the detectors redaction uses find in `text`, IP addresses aside."""
    return find_structured(text, kinds=STRUCTURED_KINDS)


def pii_pattern_hits(text: str) -> list[str]:
    """Structured PII left in `text`, found by the detectors redaction uses, each masked: "kind valu…"."""
    return [f"{_PATTERN_LABELS[hit.kind]} {mask(text[hit.start:hit.end])}" for hit in structured_hits(text)]


def matching(strings: pa.Array, pattern: str) -> np.ndarray:
    """Indexes of the strings matching an RE2 pattern."""
    return np.flatnonzero(pc.fill_null(pc.match_substring_regex(strings, pattern), False).to_numpy(False))




def residual_pii_rows(table: pa.Table, columns: Iterable[str], allowed_ips: tuple = ()) -> np.ndarray:
    """Per row of `table`, whether a string in `columns` (nested ones too) still holds structured PII or an
    IP address: what verify's `pii_patterns` and `raw_ips` scans would find there."""
    flagged = np.zeros(table.num_rows, dtype=bool)
    rows = np.arange(table.num_rows)
    for column in columns:
        for _, strings, row_of in string_leaves(table[column].combine_chunks(), column, rows):
            for pattern, found in ((STRUCTURED_PREFILTER, structured_hits),
                                   (IP_PREFILTER, lambda text: ip_hits(text, allowed_ips))):
                for i in matching(strings, pattern):
                    if not flagged[row_of[i]] and found(strings[int(i)].as_py()):
                        flagged[row_of[i]] = True
    return flagged
