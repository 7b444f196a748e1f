"""Release manifest: what a release holds and how it was made, so it can be re-checked and compared.

`manifest.json` sits next to README.md in every release (public or provider export). It records the
config (its public view and the hash of the full config), the salt's source and fingerprint (never
the salt), input and data files with sha256 checksums, counts per stage and drop reason, the
classifier stages (ok / not_run with why, model, version) and the code version.

`content_sha256` covers the data files only (not the card, not the manifest's own timestamps), so a
re-run of the same release has the same content hash: the publish transport compares it to tell
"this tag already holds this release" from "this tag holds other content".
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import json
import subprocess
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from pipeline.errors import ManifestError

MANIFEST_NAME = "manifest.json"
FORMAT_VERSION = 1
KINDS = ("public", "provider_export")
REQUIRED_KEYS = (
    "format", "kind", "version", "config", "config_hash", "salt", "public_fraction", "anonymous_label",
    "leaderboard_models", "log_window", "required_stages", "inputs", "stages", "tables", "content_sha256",
    "code",
)  # fmt: skip
TABLE_KEYS = ("rows", "files", "schema", "counts", "models", "languages")
COUNT_KEYS = ("input", "in_window", "drawn", "dropped", "public")
FILE_KEYS = ("path", "sha256", "bytes", "rows")
_CHUNK = 1 << 20


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def file_entry(path: Path, root: Path) -> dict[str, Any]:
    """A file as the manifest lists it: path relative to `root` (POSIX), sha256, size in bytes."""
    path = Path(path)
    return {"path": path.relative_to(root).as_posix(), "sha256": sha256_file(path), "bytes": path.stat().st_size}


def data_files_glob(name: str, version: str) -> str:
    """The data files of table `name` in release `version`. The version is in the path because `datasets`
    keys its cache of a local directory on the card's data_files pattern: the same pattern in the next
    release would load the previous release's rows from the cache."""
    return f"data/{name}/train-{version}-*.parquet"


def content_hash(tables: Mapping[str, Mapping[str, Any]]) -> str:
    """sha256 over the sorted (path, sha256) pairs of every data file."""
    pairs = sorted((f["path"], f["sha256"]) for table in tables.values() for f in table["files"])
    return hashlib.sha256("\n".join(f"{p} {s}" for p, s in pairs).encode()).hexdigest()


def same_content(a: Mapping[str, Any], b: Mapping[str, Any]) -> bool:
    """Whether two manifests describe the same released data (what a re-publish of a tag may do)."""
    return a["content_sha256"] == b["content_sha256"]


def code_version() -> dict[str, Any]:
    """Package version and, when run from a git checkout, the commit and whether it had local changes."""
    try:
        package = importlib.metadata.version("arena-release")
    except importlib.metadata.PackageNotFoundError:
        package = None
    source = Path(__file__).resolve().parent
    commit = _git(source, "rev-parse", "HEAD")
    dirty = None if commit is None else bool(_git(source, "status", "--porcelain", "--untracked-files=no"))
    return {"package": package, "git_commit": commit, "git_dirty": dirty}


def _git(cwd: Path, *args: str) -> str | None:
    try:
        done = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, timeout=10, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout.strip() if done.returncode == 0 else None


def table_summary(table: pa.Table, model_columns: Iterable[str]) -> dict[str, dict[str, int]]:
    """Rows per published model name (a battle counts for both its models) and per language code."""
    models: dict[str, int] = {}
    for column in model_columns:
        for name, count in _value_counts(table[column]).items():
            models[name] = models.get(name, 0) + count
    languages = _value_counts(table["language_code"]) if "language_code" in table.column_names else {}
    return {
        "models": dict(sorted(models.items(), key=lambda kv: (-kv[1], kv[0]))),
        "languages": dict(sorted(languages.items(), key=lambda kv: (-kv[1], kv[0]))),
    }


def _value_counts(column: pa.ChunkedArray) -> dict[str, int]:
    counts = pc.value_counts(column.fill_null("unknown") if column.type != pa.null() else column)
    return {value: count for value, count in zip(*(v.to_pylist() for v in counts.flatten()), strict=True)
            if value is not None}


def build_manifest(
    *,
    kind: str,
    version: str,
    config_view: dict[str, Any],
    config_sha256: str,
    salt: dict[str, str],
    public_fraction: float,
    anonymous_label: str,
    leaderboard_models: Iterable[str],
    log_window: dict[str, str],
    required_stages: list[str],
    inputs: list[dict[str, Any]],
    stages: dict[str, dict[str, dict[str, Any]]],
    tables: dict[str, dict[str, Any]],
    provider: str | None = None,
    log_days: dict[str, Any] | None = None,
    current_leaderboard: list[str] | None = None,
    judge_key: dict[str, str] | None = None,
    previous_version: str | None = None,
    repo_id: str | None = None,
    pii_evaluation: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The manifest as one JSON-able dict; `tables[name]` holds files, rows, counts and summary.
    `log_days` lists the days released and those dropped with why (None when not known).

    `leaderboard_models` are the models shown by name: every model that is or ever was on the leaderboard
    (each release adds the previous one's), `current_leaderboard` the config's list of this release."""
    if kind not in KINDS:
        raise ValueError(f"manifest kind must be one of {KINDS}, got {kind!r}")
    manifest = {
        "format": FORMAT_VERSION,
        "kind": kind,
        "version": version,
        "config": config_view,
        "config_hash": config_sha256,
        "salt": salt,
        "public_fraction": public_fraction,
        "anonymous_label": anonymous_label,
        "leaderboard_models": sorted(set(leaderboard_models)),
        "log_window": log_window,
        "required_stages": required_stages,
        "inputs": inputs,
        "log_days": log_days,
        "stages": stages,
        "tables": tables,
        "content_sha256": content_hash(tables),
        "code": code_version(),  # no wall-clock time: re-running the same build must give the same bytes
    }
    manifest["previous_version"] = previous_version  # a re-run of this release finds its predecessor here
    manifest["repo_id"] = repo_id  # where the release is published: the card's load snippet names it
    manifest["pii_evaluation"] = pii_evaluation
    if current_leaderboard is not None:
        manifest["current_leaderboard"] = sorted(current_leaderboard)
    if judge_key is not None:
        manifest["judge_key"] = judge_key
    if provider is not None:
        manifest["provider"] = provider
    return manifest


def write_manifest(manifest: Mapping[str, Any], out_dir: Path) -> Path:
    path = Path(out_dir) / MANIFEST_NAME
    path.write_text(json.dumps(manifest, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return path


def read_manifest(path: Path) -> dict[str, Any]:
    """A manifest from its file or its release directory; ManifestError says what is wrong."""
    path = Path(path)
    if path.is_dir():
        path = path / MANIFEST_NAME
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ManifestError(f"{path}: no manifest") from None
    except (OSError, UnicodeDecodeError) as err:
        raise ManifestError(f"{path}: unreadable manifest: {err}") from None
    return parse_manifest(text, str(path))


def parse_manifest(text: str, path: str) -> dict[str, Any]:
    """A manifest from its JSON text (`path` says where it came from in errors); ManifestError says what is wrong."""
    try:
        manifest = json.loads(text)
    except json.JSONDecodeError as err:
        raise ManifestError(f"{path}: unreadable manifest: {err}") from None
    if not isinstance(manifest, dict):
        raise ManifestError(f"{path}: expected a JSON object")
    missing = [key for key in REQUIRED_KEYS if key not in manifest]
    if missing:
        raise ManifestError(f"{path}: missing keys {', '.join(missing)}")
    if manifest["format"] != FORMAT_VERSION:
        raise ManifestError(f"{path}: manifest format {manifest['format']} (this code reads {FORMAT_VERSION})")
    problems = list(_table_problems(manifest["tables"]))
    if problems:
        raise ManifestError(f"{path}: " + "; ".join(problems))
    return manifest


def _table_problems(tables: Any) -> Iterable[str]:
    """What a manifest's `tables` lacks for verify and the card to read it."""
    if not isinstance(tables, dict) or not tables:
        yield "tables must be a non-empty mapping"
        return
    for name, table in tables.items():
        if not isinstance(table, dict):
            yield f"tables.{name} is not a mapping"
            continue
        yield from (f"tables.{name} lacks {key}" for key in TABLE_KEYS if key not in table)
        counts = table.get("counts")
        if isinstance(counts, dict):
            yield from (f"tables.{name}.counts lacks {key}" for key in COUNT_KEYS if key not in counts)
        for i, entry in enumerate(table.get("files") or []):
            if not isinstance(entry, dict) or any(key not in entry for key in FILE_KEYS):
                yield f"tables.{name}.files[{i}] needs {', '.join(FILE_KEYS)}"
