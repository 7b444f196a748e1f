"""Finding private values in published strings, fast: Arrow's RE2 kernels pick the few strings that may hold
one, exact Python checks decide. Shared by verify (the leak scans over a whole release) and the release
filters (rows whose redacted text still holds structured PII are withheld before the release is built), so
the filter withholds exactly what verify would find.

One release runs these detectors over the same texts many times: the release filters over the share, verify
over the public release, then over each provider export (subsets of the share). A `CleanStrings` set, kept
in the release's work directory, remembers the digests of the texts the detectors found nothing in, under a
version that covers the detectors' code, the libraries they call and the allowed networks: a text is
checked in Python once per release and detector version, and any text not known clean (a changed byte, a
new detector) is checked again. What is found is never cached: every finding is found afresh.
"""

from __future__ import annotations

import hashlib
import ipaddress
import os
import re
import sys
import tempfile
from collections.abc import Iterable, Iterator
from functools import partial
from importlib.metadata import version as package_version
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from classifiers.workers import LazyWorkerPool
from redaction.digests import TEXT_DIGEST_BYTES, detection_code_digest, text_digest
from redaction.structured import KINDS, find_structured
from redaction.structured import PREFILTER as STRUCTURED_PREFILTER

__all__ = ["IP_PREFILTER", "STRUCTURED_PREFILTER", "DOCUMENTATION_NETWORKS", "CleanStrings", "LeakDetectors",
           "detector_version", "ip_hits", "mask", "matching", "pii_pattern_hits", "residual_pii_rows",
           "string_leaves"]

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
    return np.flatnonzero(_matches(strings, pattern))


def _matches(strings: pa.Array, pattern: str) -> np.ndarray:
    return pc.fill_null(pc.match_substring_regex(strings, pattern), False).to_numpy(False)


# ------------------------------------------------------------------------------ texts known clean

DIGEST_BYTES = TEXT_DIGEST_BYTES
# What a verdict depends on besides the text: the shared detectors' code, data and libraries (the redaction
# package's digest), this module's own code, and Arrow's regex engine for the prefilters.
_DETECTOR_SOURCES = (__file__,)
_DETECTOR_PACKAGES = ("pyarrow",)


def detector_version(allowed_ips: tuple = ()) -> str:
    """The version of the leak detectors as run with `allowed_ips`: a clean verdict holds only under it."""
    digest = hashlib.sha256(sys.version.encode())
    digest.update(detection_code_digest().encode())
    for path in _DETECTOR_SOURCES:
        digest.update(Path(path).read_bytes())
    for package in _DETECTOR_PACKAGES:
        digest.update(f"{package}=={package_version(package)}".encode())
    digest.update(repr(sorted(str(network) for network in allowed_ips)).encode())
    return digest.hexdigest()[:32]


class CleanStrings:
    """Digests of the texts in which the leak detectors of one version found nothing.

    With a directory, the set is read from `<directory>/<version>/*.npy` and what `save` adds goes into a file
    of its own there (written whole, then renamed: readers never see half a file, writers never collide);
    another version's files are never read. In memory: one sorted array, plus the digests added since.
    """

    def __init__(self, version: str, directory: Path | None = None):
        self.version = version
        self.directory = None if directory is None else Path(directory) / version
        known = [np.load(path) for path in sorted(self.directory.glob("*.npy"))] if self.directory else []
        self._sorted = np.unique(np.concatenate(known)) if known else np.array([], dtype=f"S{DIGEST_BYTES}")
        self._added: set[bytes] = set()
        self._unsaved: list[bytes] = []

    @classmethod
    def for_detectors(cls, allowed_ips: tuple = (), directory: Path | None = None) -> CleanStrings:
        return cls(detector_version(allowed_ips), directory)

    def __len__(self) -> int:
        return len(self._sorted) + len(self._added)

    def known(self, digests: list[bytes]) -> np.ndarray:
        """Per digest, whether its text is known clean."""
        wanted = np.array(digests, dtype=f"S{DIGEST_BYTES}")
        at = np.searchsorted(self._sorted, wanted).clip(max=max(len(self._sorted) - 1, 0))
        found = self._sorted[at] == wanted if len(self._sorted) else np.zeros(len(wanted), dtype=bool)
        return found | np.array([d in self._added for d in digests], dtype=bool)

    def add(self, digests: Iterable[bytes]) -> None:
        for digest in digests:
            if digest not in self._added:
                self._added.add(digest)
                self._unsaved.append(digest)
        if len(self._added) > 1 << 17:  # keep the set small: fold it into the sorted array
            self._sorted = np.union1d(self._sorted, np.array(list(self._added), dtype=f"S{DIGEST_BYTES}"))
            self._added.clear()

    def save(self) -> None:
        """Write the digests added since the last save (no directory: nothing to write)."""
        if self.directory is None or not self._unsaved:
            return
        self.directory.mkdir(parents=True, exist_ok=True)
        handle, tmp = tempfile.mkstemp(dir=self.directory, suffix=".tmp")
        with os.fdopen(handle, "wb") as out:
            np.save(out, np.array(self._unsaved, dtype=f"S{DIGEST_BYTES}"))
        os.replace(tmp, Path(tmp).with_suffix(".npy"))
        self._unsaved = []


# (text, whether it matched the structured prefilter, whether it matched the IP prefilter)
_Task = tuple[str, bool, bool]


def _verdicts(tasks: list[_Task], allowed_ips: tuple) -> list[tuple[list[str], list[str]]]:
    """(structured PII hits masked, IP addresses) of each text: what `LeakDetectors.findings` reports."""
    return [(pii_pattern_hits(text) if structured else [], ip_hits(text, allowed_ips) if ips else [])
            for text, structured, ips in tasks]


def _start_worker() -> None:
    """Nothing to load: importing this module loaded the detectors."""


class LeakDetectors:
    """The structured-PII and IP scans of a column of strings: the RE2 prefilters pick the candidates, each
    distinct candidate text not known clean is checked in Python once, and texts found clean are remembered.
    With `workers` > 1, a batch with many texts to check is spread over that many processes (started on
    first use; `close` stops them)."""

    PARALLEL_MIN_TEXTS = 512  # fewer: checked here, cheaper than shipping them to the workers
    TASKS_PER_WORKER = 4

    def __init__(self, allowed_ips: tuple = (), clean: CleanStrings | None = None, workers: int = 1):
        self.allowed_ips = tuple(allowed_ips)
        self.clean = clean if clean is not None else CleanStrings.for_detectors(self.allowed_ips)
        if self.clean.version != detector_version(self.allowed_ips):
            raise ValueError("the clean-text set was made by other detectors or for other allowed networks")
        self.workers = workers
        self._pool = LazyWorkerPool(workers, _start_worker, ()) if workers > 1 else None

    def close(self) -> None:
        if self._pool is not None:
            self._pool.close()

    def _check(self, tasks: list[_Task]) -> list[tuple[list[str], list[str]]]:
        if self._pool is None or len(tasks) < self.PARALLEL_MIN_TEXTS:
            return _verdicts(tasks, self.allowed_ips)
        size = -(-len(tasks) // (self.workers * self.TASKS_PER_WORKER))
        chunks = [tasks[start:start + size] for start in range(0, len(tasks), size)]
        return [verdict for part in self._pool.map(partial(_verdicts, allowed_ips=self.allowed_ips), chunks)
                for verdict in part]

    def findings(self, strings: pa.Array) -> Iterator[tuple[int, list[str], list[str]]]:
        """(index, structured PII hits masked as "kind valu…", IP addresses) of each string with any."""
        encoded = pc.dictionary_encode(strings)  # each distinct string once, prefilters included
        codes = pc.fill_null(encoded.indices, -1).to_numpy()
        for distinct, pii, found_ips in self._distinct_findings(encoded.dictionary):
            yield from ((int(i), pii, found_ips) for i in np.flatnonzero(codes == distinct))

    def _distinct_findings(self, strings: pa.Array) -> Iterator[tuple[int, list[str], list[str]]]:
        structured, ips = _matches(strings, STRUCTURED_PREFILTER), _matches(strings, IP_PREFILTER)
        candidates = np.flatnonzero(structured | ips)
        if not len(candidates):
            return
        texts = strings.take(pa.array(candidates)).to_pylist()
        digests = [text_digest(text) for text in texts]
        unknown = np.flatnonzero(~self.clean.known(digests))
        tasks = [(texts[j], bool(structured[candidates[j]]), bool(ips[candidates[j]])) for j in unknown]
        verdicts = self._check(tasks)
        self.clean.add(digests[j] for j, (pii, found_ips) in zip(unknown, verdicts, strict=True)
                       if not pii and not found_ips)
        for j, (pii, found_ips) in zip(unknown, verdicts, strict=True):
            if pii or found_ips:
                yield int(candidates[j]), pii, found_ips


def residual_pii_rows(table: pa.Table, columns: Iterable[str], detectors: LeakDetectors) -> np.ndarray:
    """Per row of `table`, whether a string in `columns` (nested ones too) still holds structured PII or an
    IP address: what verify's `pii_patterns` and `raw_ips` scans would find there."""
    flagged = np.zeros(table.num_rows, dtype=bool)
    rows = np.arange(table.num_rows)
    for column in columns:
        for _, strings, row_of in string_leaves(table[column].combine_chunks(), column, rows):
            for i, _, _ in detectors.findings(strings):
                flagged[row_of[i]] = True
    return flagged
