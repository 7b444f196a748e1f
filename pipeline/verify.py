"""Re-check a built or published release before anyone else reads it.

Checks, each passing, failing or skipped with why: the manifest reads; every data file matches its
checksum and none is unlisted; the card's YAML header lists one config per table whose glob matches
exactly that table's files; the schemas are the public ones; row counts, unique ids and the
accounting match the manifest; required stages ran; the public share is consistent with the
fraction (exactly, per id, when the salt is at hand); model columns show only leaderboard names or
the anonymous label; and no string anywhere (nested message text included) holds a raw IP
address, a canary value, a planted PII value or, given the private config, an unreleased model name.

A provider export also gets `verify_provider_export`: only that provider's rows, each marked with its
own side, opponents anonymous, no other provider's and no unreleased model name anywhere, the
provider terms on its card.

Data files are read batch by batch; each string column (lists and structs flattened) is scanned
with Arrow's RE2 kernels, and only the few matching strings are looked at in Python. Given
`VerifyOptions.clean_strings` (the release stages give their work directory's), a text that the same
structured-PII and IP detectors already found clean, byte for byte, in this release's filters or an
earlier verification is not checked again (pipeline.leak_scan.CleanStrings); every other check reads it.
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
from pipeline.leak_scan import CleanStrings, LeakDetectors, mask, matching, string_leaves
from pipeline.manifest import MANIFEST_NAME, ManifestError, content_hash, read_manifest, sha256_file
from pipeline.policy import TABLE_KINDS, provider_export, public_share_mask
from pipeline.release_build import named_models, previous_manifest
from pipeline.release_config import ReleaseConfig, Salt

Status = Literal["pass", "fail", "skip", "warn", "waived"]
BATCH_ROWS = 20_000
FRACTION_SIGMAS = 5.0
MAX_EXAMPLES = 5
_PATTERN_VALUES = 256  # short literals per RE2 alternation
_WORD = re.compile(r"[0-9A-Za-z_]+")  # ASCII words, split the same way by Arrow (below) and by Python
_NON_WORD = r"[^0-9A-Za-z_]+"

# Cheap RE2 prefilter (Arrow kernels), then exact checks in Python on the few strings that match it.
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
        skipped = [c.name for c in self.checks if c.status == "skip"]
        not_run = f"; did not run: {', '.join(skipped)}" if skipped else ""
        lines.append(("FAILED: " + ", ".join(failed) if failed else "OK: no check failed") + not_run)
        return "\n".join(lines)


@dataclass(frozen=True)
class VerifyOptions:
    """What verify knows beyond the release: ground truth, canaries, private names, the salt."""

    pii_ground_truth: Path | None = None
    canary_file: Path | None = None
    private_model_names: frozenset[str] = frozenset()
    allowed_ip_networks: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...] = ()
    salt: bytes | None = None
    # Where the digests of texts the leak detectors found clean are kept (leak_scan.CleanStrings): the release's
    # work directory, shared with its release filters and its other verifications. None: nothing remembered.
    clean_strings: Path | None = None
    workers: int = 1  # processes for the structured-PII and IP checks of many new texts


def options_from_config(config: ReleaseConfig, workdir: Path,
                        environ: Mapping[str, str] = os.environ) -> VerifyOptions:
    """Options from a release config: its verify files (relative ones under `workdir`), unreleased model
    names, the salt if set."""
    named = set(config.leaderboard_models)
    private = {m for models in config.providers.values() for m in models} | set(config.filters.blocked_models)
    settings = config.verify
    salt = environ.get(config.sampling_salt.env) or config.sampling_salt.dev_default
    return VerifyOptions(
        pii_ground_truth=settings.file(settings.pii_ground_truth, workdir),
        canary_file=settings.file(settings.canary_file, workdir),
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
        expected = kind.provider_columns if release.manifest["kind"] == "provider_export" else kind.public_columns
        for entry, path in release.parquet(table):
            schema = pq.read_schema(path)
            names = [name for name, _ in expected]
            if schema.names != names:
                problems.append(f"{entry['path']}: columns {schema.names}, expected {names}")
                continue
            for name, fixed in expected:
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
    """The public draw against a binomial bound (`fraction`); with the salt, every published id is drawn
    again (`fraction_ids`), which for a provider export shows it holds only rows of the public share."""
    manifest = release.manifest
    fraction = manifest["public_fraction"]
    if manifest["kind"] == "public":
        problems = []
        for table, info in manifest["tables"].items():
            n, drawn = info["counts"]["in_window"], info["counts"]["drawn"]
            slack = FRACTION_SIGMAS * math.sqrt(n * fraction * (1 - fraction)) + 1
            if abs(drawn - fraction * n) > slack:
                problems.append(f"{table}: {drawn} of {n} drawn, expected {fraction * n:.0f} ± {slack:.0f}")
        report.add("fraction", problems, f"draw within {FRACTION_SIGMAS:.0f} sigma of {fraction:.0%} of the window")
    salt = options.salt
    if salt is None:
        report.checks.append(Check("fraction_ids", "skip", "the sampling salt is not at hand: ids not re-drawn"))
    elif Salt(salt, "verify", "").fingerprint != manifest["salt"]["fingerprint"]:
        report.checks.append(Check("fraction_ids", "skip",
                                   "the salt at hand is not the release's (fingerprint differs): ids not re-drawn"))
    else:
        report.add("fraction_ids", _redraw_ids(release, salt, fraction),
                   "every published id re-drawn with the salt is in the public share")


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
        """(index in `strings`, value, kind) for every value found: each distinct string is looked at once."""
        encoded = pc.dictionary_encode(strings)
        codes = pc.fill_null(encoded.indices, -1).to_numpy()
        for distinct, value, kind in self._find_distinct(encoded.dictionary):
            yield from ((int(i), value, kind) for i in np.flatnonzero(codes == distinct))

    def _find_distinct(self, strings: pa.Array) -> Iterator[tuple[int, str, str]]:
        if len(self.anchors):
            words = pc.split_pattern_regex(strings, _NON_WORD)
            holds_anchor = pc.is_in(pc.list_flatten(words), value_set=self.anchors)
            for i in np.unique(pc.list_parent_indices(words).filter(holds_anchor).to_numpy()):
                text = strings[int(i)].as_py()
                for word in {w for w in _WORD.findall(text) if w in self.by_anchor}:
                    yield from ((int(i), v, self.kind_of[v]) for v in self.by_anchor[word] if v in text)
        for values in self.groups:
            pattern = "|".join(r"\Q" + v.replace(r"\E", r"\E\\E\Q") + r"\E" for v in values)
            for i in matching(strings, pattern):
                text = strings[int(i)].as_py()
                yield from ((int(i), v, self.kind_of[v]) for v in values if v in text)


def _location(prefix: str, ids: pa.Array, row: int, leaf: str) -> str:
    return f"{prefix}={ids[int(row)].as_py()} {leaf}"


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


def _unreadable(path: Path) -> OSError | None:
    try:
        with open(path, encoding="utf-8") as f:
            f.read(1)
    except OSError as err:
        return err
    return None


def _read_canaries(path: Path) -> list[str]:
    return [line.strip() for line in path.read_text(encoding="utf-8").splitlines()
            if line.strip() and not line.startswith("#")]


class _Scanner:
    """What to look for in every string of a release, and what was found, by check name."""

    def __init__(self, options: VerifyOptions):
        self.options = options
        # An input file that cannot be read fails its check (it is named, never a crash, never a skip).
        self.unreadable = {check: f"cannot read {path}: {err.strerror or err}"
                           for check, path in (("canaries", options.canary_file), ("pii", options.pii_ground_truth))
                           if path is not None for err in [_unreadable(Path(path))] if err}
        canaries = _read_canaries(options.canary_file) if options.canary_file and "canaries" not in self.unreadable \
            else []
        self.pii_values, self.pii_per_conv, self.pii_bad_lines = (
            _load_ground_truth(options.pii_ground_truth) if options.pii_ground_truth and "pii" not in self.unreadable
            else ([], {}, 0)
        )
        self.literals = _Literals({**{v: "pii" for v in self.pii_values}, **{v: "canaries" for v in canaries}})
        self.canary_count = len(canaries)
        names = sorted(options.private_model_names)
        self.names = "(?i)" + "|".join(r"\Q" + n + r"\E" for n in names) if names else None
        self.found: dict[str, list[str]] = {"raw_ips": [], "pii_patterns": [], "canaries": [], "pii": [], "names": []}
        self.strings = 0
        self.watched_rows = 0
        allowed = options.allowed_ip_networks
        self.detectors = LeakDetectors(allowed, CleanStrings.for_detectors(allowed, options.clean_strings),
                                       options.workers)

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
            for leaf, strings, row_of in string_leaves(array, column, rows):
                self.strings += len(strings) - strings.null_count
                self._scan_leaf(strings, lambda i, leaf=leaf, row_of=row_of: where(row_of[i], leaf), row_of, watched)

    def _scan_leaf(self, strings: pa.Array, where: Callable[[int], str], row_of: np.ndarray,
                   watched: Mapping[int, set[str]]) -> None:
        for i, pii, ips in self.detectors.findings(strings):
            self.found["raw_ips"] += [f"{where(i)}: {mask(address)}" for address in ips]
            self.found["pii_patterns"] += [f"{where(i)}: {hit}" for hit in pii]
        for i, value, kind in self.literals.find(strings):
            self.found[kind].append(f"{where(i)}: {mask(value)}")
        if self.names:
            self.found["names"] += [f"{where(i)}: unreleased model name" for i in matching(strings, self.names)]
        for i in np.flatnonzero(np.isin(row_of, list(watched))) if watched else ():
            text = strings[int(i)].as_py() or ""
            for value in watched[int(row_of[i])]:
                if re.search(rf"(?<!\w){re.escape(value)}(?!\w)", text):
                    self.found["pii"].append(f"{where(i)}: {mask(value)}")

    def scan_text_file(self, path: Path) -> None:
        if self.names and path.is_file() and len(matching(pa.array([path.read_text(encoding="utf-8")]), self.names)):
            self.found["names"].append(f"{path.name} names an unreleased model")

    def _unreadable_input(self, check: str) -> list[str]:
        return [self.unreadable[check]] if check in self.unreadable else []

    def report(self, report: VerifyReport) -> None:
        options = self.options
        report.add("raw_ips", self.found["raw_ips"], f"no IP address in {self.strings:,} strings")
        report.add("pii_patterns", self.found["pii_patterns"],
                   "no email, card, IBAN, SSN, API key, private key or secret in any string "
                   "(the detectors redaction uses)")
        if options.canary_file is None:
            report.checks.append(Check("canaries", "skip", "no canary values file given"))
        else:
            report.add("canaries", self.found["canaries"] + self._unreadable_input("canaries"),
                       f"none of {self.canary_count} canary values from {options.canary_file}")
        if options.pii_ground_truth is None:
            report.checks.append(Check("pii", "skip", "no PII ground truth given (--pii-ground-truth or config)"))
        else:
            bad = [f"{self.pii_bad_lines} unreadable ground-truth lines"] if self.pii_bad_lines else []
            bad += self._unreadable_input("pii")
            report.add("pii", self.found["pii"] + bad,
                       f"none of {len(self.pii_values)} planted values anywhere, nor single-word values in their "
                       f"own {self.watched_rows} published rows")
        if self.names is None:
            report.checks.append(Check("names", "skip", "no private config given: unreleased names unknown"))
        else:
            report.add("names", self.found["names"],
                       f"none of {len(options.private_model_names)} unreleased model names in any text")


def _scan_strings(release: _Release, options: VerifyOptions, report: VerifyReport) -> None:
    """One pass over every string of every data file (nested ones too), then the card and manifest."""
    # A name this release shows (it is or has been on the leaderboard) is not an unreleased name.
    shown = set(release.manifest["leaderboard_models"])
    scanner = _Scanner(replace(options, private_model_names=options.private_model_names - shown))
    try:
        for table in release.manifest["tables"]:
            id_column = TABLE_KINDS[table].id_column
            for entry, path in release.parquet(table):
                for batch in pq.ParquetFile(path).iter_batches(batch_size=BATCH_ROWS):
                    scanner.scan_batch(batch, id_column, entry["path"])
    finally:
        scanner.detectors.close()
    for name in (CARD_NAME, MANIFEST_NAME):
        scanner.scan_text_file(release.root / name)
    scanner.detectors.clean.save()
    scanner.report(report)


# ---------------------------------------------------------------------------------------- provider exports



def verify_provider_export(
    export_dir: Path, provider: str, config: ReleaseConfig, share_dir: Path | None = None
) -> VerifyReport:
    """The checks that keep one provider's export to that provider; any failure blocks its delivery.

    Only rows with the provider's models, each with a valid side marker; opponents anonymous; no other
    provider's model name and no unreleased model name (the provider's own included: its unreleased
    side is the label plus the marker) in any data string, the manifest or the card; the card carries
    the provider terms, not a public license. With `share_dir` (the private share, real names:
    `<share_dir>/<table>.parquet`), the rows and markers are also checked against the truth.
    """
    export_dir = Path(export_dir)
    report = VerifyReport(f"{provider} export {export_dir}")
    try:
        manifest = read_manifest(export_dir)
    except ManifestError as err:
        report.add("export_manifest", [str(err)], "")
        return report
    own = set(config.providers.get(provider, ()))
    shown = named_models(config, previous_manifest(config))
    label = config.anonymous_label
    problems = []
    if manifest.get("kind") != "provider_export" or manifest.get("provider") != provider:
        problems.append(f"manifest is a {manifest.get('kind')} release for {manifest.get('provider')!r}, "
                        f"not {provider!r}'s export")
    if not own:
        problems.append(f"{provider!r} is not a provider of this config")
    unknown = [t for t in manifest.get("tables", {}) if t not in TABLE_KINDS]
    problems += [f"unknown table {t!r}" for t in unknown]
    named = set(manifest.get("leaderboard_models", ()))
    if named - (own & shown):
        problems.append(f"the manifest names {len(named - (own & shown))} models that are not {provider}'s "
                        "own leaderboard models")
    report.add("export_manifest", problems, f"{provider}'s export, {len(named)} own leaderboard models named")
    if problems:
        return report
    release = _Release.open(export_dir, manifest)
    _check_export_rows(release, own & shown, label, report)
    if share_dir is not None:
        _check_export_against_share(release, Path(share_dir), own, report)
    others = {m for p, models in config.providers.items() if p != provider for m in models}
    unreleased = ({m for models in config.providers.values() for m in models}
                  | set(config.filters.blocked_models)) - shown
    _scan_export_names(release, others, unreleased - others, report)
    _check_export_terms(export_dir, config, report)
    return report


def _check_export_rows(release: _Release, own_named: set[str], label: str, report: VerifyReport) -> None:
    """Every row marked with a valid own side; that side shows an own leaderboard model or the label,
    the other side only the label."""
    rows_problems, opponent_problems, rows = [], [], 0
    allowed_own = pa.array(sorted(own_named | {label}), pa.string())
    for table in release.manifest["tables"]:
        kind = TABLE_KINDS[table]
        marker = kind.export_columns[0][0]
        for entry, path in release.parquet(table):
            if marker not in pq.read_schema(path).names:
                rows_problems.append(f"{entry['path']}: no {marker} column")
                continue
            data = pq.read_table(path, columns=[*kind.model_columns, marker])
            rows += len(data)
            own_of = _own_sides(data, marker)
            unmarked = pc.invert(_or_all(list(own_of.values())))
            rows_problems += _rows_where(entry["path"], unmarked, f"{marker} marks no own side")
            for column, own in own_of.items():
                shows_other = pc.and_(own, pc.invert(pc.is_in(data[column], value_set=allowed_own)))
                rows_problems += _rows_where(entry["path"], shows_other,
                                             f"own side {column} shows a model that is not the provider's")
                named = pc.and_(pc.invert(own), pc.not_equal(data[column], label))
                opponent_problems += _rows_where(entry["path"], pc.and_(named, pc.invert(unmarked)),
                                                 f"opponent {column} is named, not {label!r}")
    report.add("export_rows", rows_problems, f"{rows:,} rows, each marked with the provider's own side")
    report.add("export_opponents", opponent_problems, f"every opponent is {label!r}")


def _own_sides(data: pa.Table, marker: str) -> dict[str, pa.ChunkedArray]:
    """Per model column, whether the marker says it is the provider's own (null markers: no side)."""
    if marker == "own_model":
        return {"model": pc.fill_null(data[marker], False)}
    side = data[marker]
    return {f"model_{s}": pc.fill_null(pc.is_in(side, value_set=pa.array([s, "both"])), False) for s in ("a", "b")}


def _or_all(masks: list[pa.ChunkedArray]) -> pa.ChunkedArray:
    result = masks[0]
    for other in masks[1:]:
        result = pc.or_(result, other)
    return result


def _rows_where(file: str, mask: pa.ChunkedArray, what: str) -> list[str]:
    return [f"{file} row {int(row)}: {what}" for row in np.flatnonzero(pc.fill_null(mask, True).to_numpy())]


def _check_export_against_share(release: _Release, share_dir: Path, own: set[str], report: VerifyReport) -> None:
    """The export holds exactly the share's rows with the provider's models, with truthful markers."""
    problems = []
    for table in release.manifest["tables"]:
        kind = TABLE_KINDS[table]
        marker = kind.export_columns[0][0]
        truth = provider_export(pq.read_table(share_dir / f"{table}.parquet",
                                              columns=[kind.id_column, *kind.model_columns]), own, (), "-")
        expected = dict(zip(truth[kind.id_column].to_pylist(), truth[marker].to_pylist(), strict=True))
        exported = {}
        for _, path in release.parquet(table):
            data = pq.read_table(path, columns=[kind.id_column, marker])
            exported |= dict(zip(data[kind.id_column].to_pylist(), data[marker].to_pylist(), strict=True))
        missing, extra = set(expected) - set(exported), set(exported) - set(expected)
        if missing:
            problems.append(f"{table}: {len(missing)} of the provider's share rows are missing")
        if extra:
            problems.append(f"{table}: {len(extra)} rows do not involve the provider's models")
        wrong = sum(1 for key in set(expected) & set(exported) if expected[key] != exported[key])
        if wrong:
            problems.append(f"{table}: {wrong} rows mark the wrong side")
    report.add("export_share", problems, "rows and side markers match the private share")


def _name_pattern(names: set[str]) -> str | None:
    return "(?i)" + "|".join(r"\Q" + n + r"\E" for n in sorted(names)) if names else None


def _name_hits(text: str, names: set[str]) -> bool:
    """A name as a whole token: not glued to letters, digits, `_`, `-`, nor `.` and more of a version."""
    return any(re.search(rf"(?<![\w.-]){re.escape(n)}(?![\w-]|\.\w)", text, re.I) for n in names)


def _scan_export_names(release: _Release, others: set[str], unreleased: set[str], report: VerifyReport) -> None:
    """Every data string, the manifest and the card: no other provider's model, no unreleased model."""
    watched = {"export_other_providers": others, "export_unreleased": unreleased}
    found: dict[str, list[str]] = {check: [] for check in watched}
    patterns = {check: _name_pattern(names) for check, names in watched.items()}

    def scan(strings: pa.Array, where: Callable[[int], str]) -> None:
        for check, pattern in patterns.items():
            if pattern is None:
                continue
            for i in matching(strings, pattern):
                if _name_hits(strings[int(i)].as_py(), watched[check]):
                    found[check].append(where(int(i)))

    for table in release.manifest["tables"]:
        id_column = TABLE_KINDS[table].id_column
        for entry, path in release.parquet(table):
            for batch in pq.ParquetFile(path).iter_batches(batch_size=BATCH_ROWS):
                ids, rows = batch.column(id_column), np.arange(batch.num_rows)
                prefix = f"{entry['path']} {id_column}"
                for column, array in zip(batch.schema.names, batch.columns, strict=True):
                    for leaf, strings, row_of in string_leaves(array, column, rows):
                        scan(strings, lambda i, leaf=leaf, row_of=row_of, ids=ids, prefix=prefix:
                             _location(prefix, ids, row_of[i], leaf))
    for name in (CARD_NAME, MANIFEST_NAME):
        path = release.root / name
        if path.is_file():
            scan(pa.array([path.read_text(encoding="utf-8")]), lambda _, name=name: name)
    report.add("export_other_providers", found["export_other_providers"],
               f"no model name of the {len(others)} other providers' models in any data string, manifest or card")
    report.add("export_unreleased", found["export_unreleased"],
               f"none of {len(unreleased)} unreleased model names anywhere (own ones only as the side marker)")


def _check_export_terms(export_dir: Path, config: ReleaseConfig, report: VerifyReport) -> None:
    path = export_dir / CARD_NAME
    card = config.card
    try:
        text = path.read_text(encoding="utf-8")
        header = read_card_header(text)
    except (OSError, ValueError, UnicodeDecodeError) as err:
        report.add("export_terms", [f"card unreadable: {err}"], "")
        return
    problems = []
    license_value = str(header.get("license", ""))
    if license_value != "other":
        problems.append(f"card license is {license_value!r}: an export carries the provider terms "
                        "(license: other), not a public license")
    if header.get("license_name") != card.provider_license_name:
        problems.append(f"card license_name is {header.get('license_name')!r}, not {card.provider_license_name!r}")
    if card.provider_terms not in text:
        problems.append("card does not carry the provider terms of the config")
    report.add("export_terms", problems, f"license: other ({card.provider_license_name}) with the provider terms")
