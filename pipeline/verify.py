"""Re-check a built or published release before anyone else reads it.

Checks, each passing, failing or skipped with why: the manifest reads; every data file matches its
checksum and none is unlisted; the card's YAML header lists one config per table whose glob matches
exactly that table's files; the schemas are the public ones; row counts, unique ids and the
accounting match the manifest; required stages ran; the public share is consistent with the
fraction (exactly, per id, when the salt is at hand); model columns show only leaderboard names or
the anonymous label; and no string anywhere (nested message text included) holds a raw IP
address, a canary value, a planted PII value or, given the private config, an unreleased model name.

Data files are read batch by batch; each string column (lists and structs flattened) is scanned
with Arrow's RE2 kernels, and only the few matching strings are looked at in Python.
"""

from __future__ import annotations

import fnmatch
import ipaddress
import json
import math
import os
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from functools import partial
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from pipeline.card import CARD_NAME, read_card_header
from pipeline.manifest import MANIFEST_NAME, ManifestError, content_hash, read_manifest, sha256_file
from pipeline.policy import TABLE_KINDS, public_share_mask
from pipeline.release_config import ReleaseConfig, Salt

Status = Literal["pass", "fail", "skip", "warn"]
BATCH_ROWS = 20_000
FRACTION_SIGMAS = 5.0
MAX_EXAMPLES = 5
_PATTERN_VALUES = 256  # short literals per RE2 alternation
_WORD = re.compile(r"[0-9A-Za-z_]+")  # ASCII words, split the same way by Arrow (below) and by Python
_NON_WORD = r"[^0-9A-Za-z_]+"

# Cheap RE2 prefilter (Arrow kernels), then exact checks in Python on the few strings that match it.
_IP_PREFILTER = r"\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3}|[0-9A-Fa-f]{0,4}:[0-9A-Fa-f]{0,4}:"
_IPV4 = re.compile(r"(?<![\w.])(?:\d{1,3}\.){3}\d{1,3}(?!\.?\d)(?!\w)")
_IPV6 = re.compile(r"(?<![\w:.])(?:[0-9A-Fa-f]{0,4}:){2,7}(?:[0-9A-Fa-f]{0,4}|(?:\d{1,3}\.){3}\d{1,3})(?![\w:])")
_SINGLE_WORD = re.compile(r"^\w+$")


@dataclass(frozen=True)
class Check:
    """One check's outcome; `detail` is for people (a few examples), `problems` lists every one."""

    name: str
    status: Status
    detail: str
    problems: tuple[str, ...] = ()


@dataclass
class VerifyReport:
    source: str
    checks: list[Check] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(c.status != "fail" for c in self.checks)

    def add(self, name: str, problems: list[str], passed: str) -> None:
        """A check that fails with the problems found, or passes saying what was checked."""
        if problems:
            shown = "; ".join(problems[:MAX_EXAMPLES])
            more = f" (and {len(problems) - MAX_EXAMPLES} more)" if len(problems) > MAX_EXAMPLES else ""
            self.checks.append(Check(name, "fail", shown + more, tuple(problems)))
        else:
            self.checks.append(Check(name, "pass", passed))

    def format(self) -> str:
        lines = [f"verify {self.source}"]
        lines += [f"  {c.status.upper():<4}  {c.name:<12} {c.detail}" for c in self.checks]
        failed = [c.name for c in self.checks if c.status == "fail"]
        lines.append("FAILED: " + ", ".join(failed) if failed else "OK: no check failed")
        return "\n".join(lines)


@dataclass(frozen=True)
class VerifyOptions:
    """What verify knows beyond the release: ground truth, canaries, private names, the salt."""

    pii_ground_truth: Path | None = None
    canary_file: Path | None = None
    private_model_names: frozenset[str] = frozenset()
    allowed_ip_networks: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...] = ()
    salt: bytes | None = None


def options_from_config(config: ReleaseConfig, environ: Mapping[str, str] = os.environ) -> VerifyOptions:
    """Options from a release config: its verify files, unreleased model names, the salt if set."""
    named = set(config.leaderboard_models)
    private = {m for models in config.providers.values() for m in models} | set(config.filters.blocked_models)
    settings = config.verify
    salt = environ.get(config.sampling_salt.env) or config.sampling_salt.dev_default
    return VerifyOptions(
        pii_ground_truth=settings.pii_ground_truth and config.path(settings.pii_ground_truth),
        canary_file=settings.canary_file and config.path(settings.canary_file),
        private_model_names=frozenset(private - named),
        allowed_ip_networks=tuple(settings.allowed_ip_networks),
        salt=salt.encode() if salt else None,
    )


def fetch_release(repo_id: str, revision: str | None = None, endpoint: str | None = None) -> Path:
    """Download a Hub dataset repo at `revision` (by default HF_ENDPOINT; the token from HF_TOKEN)."""
    from huggingface_hub import snapshot_download

    return Path(snapshot_download(repo_id, repo_type="dataset", revision=revision, endpoint=endpoint))


def verify_release(
    release_dir: Path, options: VerifyOptions = VerifyOptions(), source: str | None = None
) -> VerifyReport:
    """Run every check on a release directory; `report.ok` is False when any check failed."""
    release_dir = Path(release_dir)
    report = VerifyReport(source or str(release_dir))
    try:
        manifest = read_manifest(release_dir)
    except ManifestError as err:
        report.add("manifest", [str(err)], "")
        return report
    unknown = [name for name in manifest["tables"] if name not in TABLE_KINDS]
    report.add("manifest", [f"unknown table {n!r}" for n in unknown],
               f"{manifest['kind']} release {manifest['version']}, tables {', '.join(manifest['tables'])}")
    if unknown:
        return report
    release = _Release.open(release_dir, manifest)
    _check_files(release, report)
    _check_card(release, report)
    _check_schema(release, report)
    _check_counts(release, report)
    _check_stages(manifest, report)
    _check_fraction(release, options, report)
    _check_model_columns(release, report)
    _scan_strings(release, options, report)
    if manifest["salt"].get("source") == "dev_default":
        report.checks.append(Check("salt", "warn", "sampled with the config's dev_default salt, which is not secret"))
    return report


@dataclass(frozen=True)
class _Release:
    """A release directory, its manifest, and why any listed data file cannot be read as Parquet."""

    root: Path
    manifest: Mapping[str, Any]
    unreadable: Mapping[str, str]

    @classmethod
    def open(cls, root: Path, manifest: Mapping[str, Any]) -> _Release:
        unreadable = {}
        for table in manifest["tables"].values():
            for entry in table["files"]:
                try:
                    pq.ParquetFile(root / entry["path"]).close()
                except FileNotFoundError:
                    unreadable[entry["path"]] = "missing"
                except (pa.ArrowException, OSError) as err:
                    unreadable[entry["path"]] = f"not readable as Parquet ({err})"
        return cls(root, manifest, unreadable)

    def listed(self, table: str) -> list[dict[str, Any]]:
        return self.manifest["tables"][table]["files"]

    def parquet(self, table: str) -> Iterator[tuple[dict[str, Any], Path]]:
        """The table's listed files that can be read (the files check reports the others)."""
        for entry in self.listed(table):
            if entry["path"] not in self.unreadable:
                yield entry, self.root / entry["path"]


def _check_files(release: _Release, report: VerifyReport) -> None:
    manifest, release_dir = release.manifest, release.root
    problems = []
    listed = set()
    for table in manifest["tables"]:
        for entry in release.listed(table):
            listed.add(entry["path"])
            path = release_dir / entry["path"]
            if entry["path"] in release.unreadable:
                problems.append(f"{entry['path']}: {release.unreadable[entry['path']]}")
            if path.is_file() and sha256_file(path) != entry["sha256"]:
                problems.append(f"{entry['path']}: sha256 differs from the manifest")
    data = release_dir / "data"
    found = {p.relative_to(release_dir).as_posix() for p in data.rglob("*") if p.is_file()} if data.is_dir() else set()
    problems += [f"{p}: data file not in the manifest" for p in sorted(found - listed)]
    if content_hash(manifest["tables"]) != manifest["content_sha256"]:
        problems.append("content_sha256 does not match the listed files")
    report.add("files", problems, f"{len(listed)} data files match their sha256, none unlisted")


def _check_card(release: _Release, report: VerifyReport) -> None:
    manifest = release.manifest
    path = release.root / CARD_NAME
    if not path.is_file():
        report.add("card", [f"no {CARD_NAME}"], "")
        return
    try:
        header = read_card_header(path.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as err:
        report.add("card", [str(err)], "")
        return
    problems = [] if header.get("license") else ["no license in the YAML header"]
    configs = {c.get("config_name"): c for c in header.get("configs") or [] if isinstance(c, dict)}
    if set(configs) != set(manifest["tables"]):
        problems.append(f"configs {sorted(configs, key=str)} != tables {sorted(manifest['tables'])}")
    for name, config in configs.items():
        if name not in manifest["tables"]:
            continue
        globs = [d["path"] if isinstance(d, dict) else d for d in _as_list(config.get("data_files"))]
        files = {e["path"] for e in release.listed(name)}
        matched = {f for f in files if any(fnmatch.fnmatchcase(f, g) for g in globs)}
        others = {e["path"] for t in manifest["tables"] if t != name for e in release.listed(t)}
        if matched != files:
            problems.append(f"{name}: data_files {globs} miss {sorted(files - matched)}")
        if any(fnmatch.fnmatchcase(f, g) for f in others for g in globs):
            problems.append(f"{name}: data_files {globs} also match another table's files")
    report.add("card", problems, f"YAML header: license, {len(configs)} configs whose globs match their files")


def _as_list(value: Any) -> list:
    return value if isinstance(value, list) else [value] if value else []


def _check_schema(release: _Release, report: VerifyReport) -> None:
    problems = []
    for table in release.manifest["tables"]:
        kind = TABLE_KINDS[table]
        for entry, path in release.parquet(table):
            schema = pq.read_schema(path)
            names = [name for name, _ in kind.public_columns]
            if schema.names != names:
                problems.append(f"{entry['path']}: columns {schema.names}, expected {names}")
                continue
            for name, fixed in kind.public_columns:
                actual = schema.field(name).type
                if fixed is not None and actual != fixed:
                    problems.append(f"{entry['path']}: {name} is {actual}, expected {fixed}")
                elif pa.types.is_null(actual):
                    problems.append(f"{entry['path']}: {name} is null-typed (no reader can tell its shape)")
    report.add("schema", problems, "every file has the public columns, in order, with the public types")


def _check_counts(release: _Release, report: VerifyReport) -> None:
    manifest = release.manifest
    problems = []
    for table, info in manifest["tables"].items():
        kind = TABLE_KINDS[table]
        rows, ids = 0, []
        for entry, path in release.parquet(table):
            file_rows = pq.ParquetFile(path).metadata.num_rows
            if file_rows != entry["rows"]:
                problems.append(f"{entry['path']}: {file_rows} rows, manifest says {entry['rows']}")
            rows += file_rows
            ids.append(pq.read_table(path, columns=[kind.id_column])[kind.id_column])
        counts = info["counts"]
        published = counts["exported"] if manifest["kind"] == "provider_export" else counts["public"]
        unreadable = [e["path"] for e in release.listed(table) if e["path"] in release.unreadable]
        if unreadable:
            problems.append(f"{table}: rows not countable, {len(unreadable)} data files unreadable")
        elif not rows == info["rows"] == published:
            problems.append(f"{table}: {rows} rows in files, manifest says {info['rows']} (counts: {published})")
        if counts["drawn"] != sum(counts["dropped"].values()) + counts["public"]:
            problems.append(f"{table}: drawn {counts['drawn']} != dropped + public")
        if not counts["input"] >= counts["in_window"] >= counts["drawn"]:
            problems.append(f"{table}: counts do not narrow: input >= in_window >= drawn fails")
        if ids:
            all_ids = pa.chunked_array([c for chunked in ids for c in chunked.chunks], pa.string())
            if pc.count_distinct(all_ids).as_py() != len(all_ids) or all_ids.null_count:
                problems.append(f"{table}: {kind.id_column} has duplicates or nulls")
    report.add("counts", problems, "rows per file and table match the manifest; ids unique; accounting adds up")


def _check_stages(manifest: Mapping[str, Any], report: VerifyReport) -> None:
    problems = [
        f"{table}: required stage {stage} is {per_stage.get(stage, {}).get('status', 'missing')}"
        for table, per_stage in manifest["stages"].items()
        for stage in manifest["required_stages"]
        if per_stage.get(stage, {}).get("status") != "ok"
    ]
    report.add("stages", problems, f"required stages ran: {', '.join(manifest['required_stages']) or 'none'}")


def _check_fraction(release: _Release, options: VerifyOptions, report: VerifyReport) -> None:
    """The draw against a binomial bound; with the salt, every published id is drawn again."""
    manifest = release.manifest
    if manifest["kind"] != "public":
        report.checks.append(Check("fraction", "skip", "a provider export is a subset of the public share"))
        return
    fraction = manifest["public_fraction"]
    problems = []
    for table, info in manifest["tables"].items():
        n, drawn = info["counts"]["in_window"], info["counts"]["drawn"]
        slack = FRACTION_SIGMAS * math.sqrt(n * fraction * (1 - fraction)) + 1
        if abs(drawn - fraction * n) > slack:
            problems.append(f"{table}: {drawn} of {n} drawn, expected {fraction * n:.0f} ± {slack:.0f}")
    exact = "salt not available: per-id check skipped"
    salt = options.salt
    if salt is not None and Salt(salt, "verify", "").fingerprint != manifest["salt"]["fingerprint"]:
        exact = "the salt at hand is not the release's (fingerprint differs): per-id check skipped"
        salt = None
    if salt is not None:
        exact = "every published id re-drawn with the salt"
        problems += _redraw_ids(release, salt, fraction)
    bound = f"draw within {FRACTION_SIGMAS:.0f} sigma of {fraction:.0%} of the window"
    report.add("fraction", problems, f"{bound}; {exact}")


def _redraw_ids(release: _Release, salt: bytes, fraction: float) -> list[str]:
    """Battles: every id must be in the share. Conversations: those that are not must be battle sides,
    no more than the manifest's `drawn_via_battle`, itself no more than the drawn battles."""
    manifest = release.manifest
    problems = []
    for table, info in manifest["tables"].items():
        kind = TABLE_KINDS[table]
        ids = pa.chunked_array(
            [c for _, path in release.parquet(table)
             for c in pq.read_table(path, columns=[kind.id_column])[kind.id_column].chunks],
            pa.string(),
        )
        outside = len(ids) - pc.sum(public_share_mask(ids, salt, fraction)).as_py() if len(ids) else 0
        allowed = 0
        if table == "conversations":
            allowed = info["counts"].get("drawn_via_battle", 0)
            battles = manifest["tables"].get("battles", {}).get("counts", {}).get("drawn", 0)
            if allowed > battles:
                problems.append(f"conversations: {allowed} drawn with a battle but only {battles} battles drawn")
        if outside > allowed:
            problems.append(f"{table}: {outside} published ids are outside the public share (allowed {allowed})")
    return problems


def _check_model_columns(release: _Release, report: VerifyReport) -> None:
    manifest = release.manifest
    allowed = set(manifest["leaderboard_models"]) | {manifest["anonymous_label"]}
    problems = []
    for table in manifest["tables"]:
        for entry, path in release.parquet(table):
            columns = list(TABLE_KINDS[table].model_columns)
            data = pq.read_table(path, columns=columns)
            for column in columns:
                names = set(pc.unique(data[column]).to_pylist()) - allowed
                problems += [f"{entry['path']}: {column} shows {n!r}, not on the leaderboard"
                             for n in sorted(names, key=str)]
    report.add("models", problems, f"model columns hold only the {len(allowed) - 1} leaderboard names or the label")


# ---------------------------------------------------------------------------------------- scans


class _Literals:
    """Literal values of several kinds, found in one pass over the text however many there are.

    Each value is indexed by its longest ASCII word (its anchor). Arrow splits every string into
    words and looks them up in the anchor set; only the strings holding an anchor are checked in
    Python. So a value counts as found where it occurs with its anchor a whole word, i.e. not glued
    to further letters or digits. The few values without a word of 3+ characters go through RE2
    alternations (kept small: a large one outgrows RE2's DFA memory and becomes ~100x slower).
    """

    def __init__(self, kind_of: Mapping[str, str]):
        self.kind_of = dict(kind_of)
        self.by_anchor: dict[str, list[str]] = {}
        short = []
        for value in sorted(self.kind_of):
            anchor = max(_WORD.findall(value), key=len, default="")
            if len(anchor) >= 3:
                self.by_anchor.setdefault(anchor, []).append(value)
            else:
                short.append(value)
        self.anchors = pa.array(sorted(self.by_anchor), pa.string())
        self.groups = [short[i : i + _PATTERN_VALUES] for i in range(0, len(short), _PATTERN_VALUES)]

    def find(self, strings: pa.Array) -> Iterator[tuple[int, str, str]]:
        """(index in `strings`, value, kind) for every value found."""
        if len(self.anchors):
            words = pc.split_pattern_regex(strings, _NON_WORD)
            holds_anchor = pc.is_in(pc.list_flatten(words), value_set=self.anchors)
            for i in np.unique(pc.list_parent_indices(words).filter(holds_anchor).to_numpy()):
                text = strings[int(i)].as_py()
                for word in {w for w in _WORD.findall(text) if w in self.by_anchor}:
                    yield from ((int(i), v, self.kind_of[v]) for v in self.by_anchor[word] if v in text)
        for values in self.groups:
            pattern = "|".join(r"\Q" + v.replace(r"\E", r"\E\\E\Q") + r"\E" for v in values)
            for i in _matching(strings, pattern):
                text = strings[int(i)].as_py()
                yield from ((int(i), v, self.kind_of[v]) for v in values if v in text)


def _string_leaves(array: pa.Array, path: str, rows: np.ndarray) -> Iterator[tuple[str, pa.Array, np.ndarray]]:
    """Every string inside `array` (through lists and structs), with the row each one belongs to."""
    kind = array.type
    if pa.types.is_string(kind) or pa.types.is_large_string(kind):
        yield path, array, rows
    elif pa.types.is_list(kind) or pa.types.is_large_list(kind):
        parents = pc.list_parent_indices(array).to_numpy()
        yield from _string_leaves(array.flatten(), path + "[]", rows[parents])
    elif pa.types.is_struct(kind):
        for i in range(kind.num_fields):
            yield from _string_leaves(pc.struct_field(array, [i]), f"{path}.{kind.field(i).name}", rows)


def _location(prefix: str, ids: pa.Array, row: int, leaf: str) -> str:
    return f"{prefix}={ids[int(row)].as_py()} {leaf}"


def _ip_hits(text: str, allowed: tuple) -> list[str]:
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


def _mask(value: str) -> str:
    """Enough of a found value to locate it, not enough to leak it further through verify's output."""
    return value[:4] + "…" if len(value) > 6 else value[:2] + "…"


def _load_ground_truth(path: Path) -> tuple[list[str], dict[str, set[str]], int]:
    """Global values (multi-word or with digits/punctuation), single-word values per conv_id, bad lines."""
    global_values, per_conv, bad = set(), {}, 0
    with open(path, encoding="utf-8") as f:
        for line in f:
            if not line.strip():
                continue
            try:
                item = json.loads(line)
                conv_id, value = item["conv_id"], item["value"]
            except (json.JSONDecodeError, KeyError, TypeError):
                bad += 1
                continue
            if not isinstance(value, str) or not value.strip():
                continue
            if _SINGLE_WORD.match(value) and not any(ch.isdigit() for ch in value):
                per_conv.setdefault(conv_id, set()).add(value)
            else:
                global_values.add(value)
    return sorted(global_values), per_conv, bad


def _read_canaries(path: Path) -> list[str]:
    return [line.strip() for line in path.read_text(encoding="utf-8").splitlines()
            if line.strip() and not line.startswith("#")]


class _Scanner:
    """What to look for in every string of a release, and what was found, by check name."""

    def __init__(self, options: VerifyOptions):
        self.options = options
        canaries = _read_canaries(options.canary_file) if options.canary_file else []
        self.pii_values, self.pii_per_conv, self.pii_bad_lines = (
            _load_ground_truth(options.pii_ground_truth) if options.pii_ground_truth else ([], {}, 0)
        )
        self.literals = _Literals({**{v: "pii" for v in self.pii_values}, **{v: "canaries" for v in canaries}})
        self.canary_count = len(canaries)
        names = sorted(options.private_model_names)
        self.names = "(?i)" + "|".join(r"\Q" + n + r"\E" for n in names) if names else None
        self.found: dict[str, list[str]] = {"raw_ips": [], "pii_patterns": [], "canaries": [], "pii": [], "names": []}
        self.strings = 0
        self.watched_rows = 0

    def scan_batch(self, batch: pa.RecordBatch, id_column: str, file: str) -> None:
        ids = batch.column(id_column)
        where = partial(_location, f"{file} {id_column}", ids)
        watched = {}
        if self.pii_per_conv:
            in_truth = pc.is_in(ids, value_set=pa.array(list(self.pii_per_conv), pa.string()))
            watched = {int(r): self.pii_per_conv[ids[int(r)].as_py()] for r in np.flatnonzero(in_truth.to_numpy(False))}
            self.watched_rows += len(watched)
        rows = np.arange(batch.num_rows)
        for column, array in zip(batch.schema.names, batch.columns, strict=True):
            for leaf, strings, row_of in _string_leaves(array, column, rows):
                self.strings += len(strings) - strings.null_count
                self._scan_leaf(strings, lambda i, leaf=leaf, row_of=row_of: where(row_of[i], leaf), row_of, watched)

    def _scan_leaf(self, strings: pa.Array, where: Callable[[int], str], row_of: np.ndarray,
                   watched: Mapping[int, set[str]]) -> None:
        for i in _matching(strings, _IP_PREFILTER):
            for address in _ip_hits(strings[int(i)].as_py(), self.options.allowed_ip_networks):
                self.found["raw_ips"].append(f"{where(i)}: {_mask(address)}")
        for i in _matching(strings, _PII_PREFILTER):
            for hit in _pii_pattern_hits(strings[int(i)].as_py()):
                self.found["pii_patterns"].append(f"{where(i)}: {hit}")
        for i, value, kind in self.literals.find(strings):
            self.found[kind].append(f"{where(i)}: {_mask(value)}")
        if self.names:
            self.found["names"] += [f"{where(i)}: unreleased model name" for i in _matching(strings, self.names)]
        for i in np.flatnonzero(np.isin(row_of, list(watched))) if watched else ():
            text = strings[int(i)].as_py() or ""
            for value in watched[int(row_of[i])]:
                if re.search(rf"(?<!\w){re.escape(value)}(?!\w)", text):
                    self.found["pii"].append(f"{where(i)}: {_mask(value)}")

    def scan_text_file(self, path: Path) -> None:
        if self.names and path.is_file() and len(_matching(pa.array([path.read_text(encoding="utf-8")]), self.names)):
            self.found["names"].append(f"{path.name} names an unreleased model")

    def report(self, report: VerifyReport) -> None:
        options = self.options
        report.add("raw_ips", self.found["raw_ips"], f"no IP address in {self.strings:,} strings")
        report.add("pii_patterns", self.found["pii_patterns"],
                   "no email, card number, SSN, API key or private key pattern in any string")
        if options.canary_file is None:
            report.checks.append(Check("canaries", "skip", "no canary values file given"))
        else:
            report.add("canaries", self.found["canaries"],
                       f"none of {self.canary_count} canary values from {options.canary_file}")
        if options.pii_ground_truth is None:
            report.checks.append(Check("pii", "skip", "no PII ground truth given (--pii-ground-truth or config)"))
        else:
            bad = [f"{self.pii_bad_lines} unreadable ground-truth lines"] if self.pii_bad_lines else []
            report.add("pii", self.found["pii"] + bad,
                       f"none of {len(self.pii_values)} planted values anywhere, nor single-word values in their "
                       f"own {self.watched_rows} published rows")
        if self.names is None:
            report.checks.append(Check("names", "skip", "no private config given: unreleased names unknown"))
        else:
            report.add("names", self.found["names"],
                       f"none of {len(options.private_model_names)} unreleased model names in any text")


# Structured PII that redaction replaces; any left in a public string means redaction missed it or was
# misconfigured. Each pattern is an RE2 prefilter; `_pii_pattern_hits` validates candidates.
_PII_PATTERNS = {
    "email": r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}",
    "card": r"\b(?:\d[ -]?){12,18}\d\b",
    "ssn": r"\b\d{3}-\d{2}-\d{4}\b",
    "api_key": r"\b(?:sk-[A-Za-z0-9_-]{20,}|AKIA[0-9A-Z]{16}|gh[pousr]_[A-Za-z0-9]{36}|hf_[A-Za-z0-9]{30,}"
               r"|xox[abpr]-[A-Za-z0-9-]{10,})",
    "private_key": r"-----BEGIN [A-Z ]*PRIVATE KEY-----",
}
_PII_PREFILTER = "|".join(f"(?:{p})" for p in _PII_PATTERNS.values())


def _luhn_valid(digits: str) -> bool:
    total = 0
    for position, char in enumerate(reversed(digits)):
        value = int(char) * (2 if position % 2 else 1)
        total += value - 9 if value > 9 else value
    return total % 10 == 0


def _pii_pattern_hits(text: str) -> list[str]:
    """Structured PII values in `text`: emails, Luhn-valid card numbers, valid SSNs, API keys, PEM keys."""
    found = []
    for kind, pattern in _PII_PATTERNS.items():
        for match in re.finditer(pattern, text):
            value = match.group()
            if kind == "card":
                digits = re.sub(r"\D", "", value)
                if not (13 <= len(digits) <= 19 and _luhn_valid(digits)):
                    continue
            if kind == "ssn" and (value[:3] in ("000", "666") or value[0] == "9" or value[4:6] == "00"
                                  or value[7:] == "0000"):
                continue
            found.append(f"{kind} {_mask(value)}")
    return found


def _matching(strings: pa.Array, pattern: str) -> np.ndarray:
    """Indexes of the strings matching an RE2 pattern."""
    return np.flatnonzero(pc.fill_null(pc.match_substring_regex(strings, pattern), False).to_numpy(False))


def _scan_strings(release: _Release, options: VerifyOptions, report: VerifyReport) -> None:
    """One pass over every string of every data file (nested ones too), then the card and manifest."""
    # A name this release shows (it is or has been on the leaderboard) is not an unreleased name.
    shown = set(release.manifest["leaderboard_models"])
    scanner = _Scanner(replace(options, private_model_names=options.private_model_names - shown))
    for table in release.manifest["tables"]:
        id_column = TABLE_KINDS[table].id_column
        for entry, path in release.parquet(table):
            for batch in pq.ParquetFile(path).iter_batches(batch_size=BATCH_ROWS):
                scanner.scan_batch(batch, id_column, entry["path"])
    for name in (CARD_NAME, MANIFEST_NAME):
        scanner.scan_text_file(release.root / name)
    scanner.report(report)
