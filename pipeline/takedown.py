"""Takedowns: people ask for their data to be removed. A private list of conversation ids, battle
(question) ids and judge hashes (the `judge` values as published) is applied before every release, where
each row it covers is dropped and counted as `taken_down`, and can be applied to releases already
published (`arena-release takedown`), rewriting their revisions.

An entry reaches every row it concerns: a battle's id takes down the battle and both its conversations;
a conversation's id takes down the battles it was a side of; a judge hash takes down all of that voter's
battles and conversations. The list itself is never published: only how many rows it removed.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from pydantic import BaseModel, ConfigDict, ValidationError

from pipeline.card import rerender_card
from pipeline.cleaning_config import ConfigError, read_yaml_mapping
from pipeline.manifest import content_hash, file_entry, read_manifest, table_summary, write_manifest
from pipeline.policy import TABLE_KINDS
from pipeline.publish import StagedRelease


class Takedowns(BaseModel):
    """The takedown list: a YAML mapping of three lists, any of them empty."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    conversation_ids: list[str] = []
    question_ids: list[str] = []
    judges: list[str] = []

    def __len__(self) -> int:
        return len(self.conversation_ids) + len(self.question_ids) + len(self.judges)


def load_takedowns(path: Path) -> Takedowns:
    """The takedown list at `path`; ConfigError says where and what is wrong."""
    try:
        return Takedowns.model_validate(read_yaml_mapping(Path(path)))
    except ValidationError as err:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in err.errors())
        raise ConfigError(f"{path}: {problems}") from None


def taken_down_ids(takedowns: Takedowns, battles: pa.Table, conversations: pa.Table | None) -> dict[str, pa.Array]:
    """Per table, the ids of the rows the list takes down. `battles` needs question_id, conv_id_b and judge;
    `conversations` conversation_id and judge (the private tables: the public ones lack the B sides' ids and
    the conversations' judges)."""
    ids = pa.array(sorted({*takedowns.conversation_ids, *takedowns.question_ids}), pa.string())
    judges = pa.array(sorted(set(takedowns.judges)), pa.string())
    taken = pc.or_(pc.or_(pc.is_in(battles["question_id"], value_set=ids),
                          pc.is_in(battles["conv_id_b"], value_set=ids)),
                   pc.is_in(battles["judge"], value_set=judges))
    taken_battles = battles.filter(taken)
    result = {"battles": _unique(taken_battles["question_id"])}
    if conversations is not None:
        by_judge = conversations.filter(pc.is_in(conversations["judge"], value_set=judges))["conversation_id"]
        result["conversations"] = _unique(pa.chunked_array([
            ids, *taken_battles["question_id"].chunks, *taken_battles["conv_id_b"].chunks, *by_judge.chunks,
        ], pa.string()))
    return result


def _unique(values: pa.ChunkedArray) -> pa.Array:
    return pc.unique(values.combine_chunks()).drop_null()


# ------------------------------------------------------------------------ published revisions


class RewritableTarget(Protocol):
    """A target whose published versions a takedown can rewrite (LocalTarget, HubTarget)."""

    def versions(self, repo_id: str) -> list[str]:
        """The published versions (tags) of `repo_id`."""

    def checkout(self, repo_id: str, version: str, scratch: Path) -> Path:
        """A directory holding the files of `repo_id` at `version` (to read only)."""

    def replace_versions(self, repo_id: str, releases: Mapping[str, StagedRelease]) -> None:
        """Move each version's tag (and `main` where it held that version) to its rewritten files, so that
        the old files are no longer served."""


@dataclass(frozen=True)
class RevisionChange:
    """Rows a takedown removes from one published version of one repo."""

    repo_id: str
    version: str
    removed: dict[str, int]  # table -> rows


def plan_rewrite(target: RewritableTarget, repo_ids: list[str], taken_down: Mapping[str, pa.Array],
                 scratch: Path) -> list[RevisionChange]:
    """Every published version (tag) of `repo_ids` that holds a taken-down row, with how many per table."""
    changes = []
    for repo_id in repo_ids:
        for version in target.versions(repo_id):
            published = target.checkout(repo_id, version, scratch)
            manifest = read_manifest(published)
            removed = {name: sum(_taken_rows(published / entry["path"], name, taken_down).num_rows
                                 for entry in table["files"])
                       for name, table in manifest["tables"].items() if name in taken_down}
            if any(removed.values()):
                changes.append(RevisionChange(repo_id, version, {k: v for k, v in removed.items() if v}))
    return changes


def rewrite(target: RewritableTarget, changes: list[RevisionChange], taken_down: Mapping[str, pa.Array],
            scratch: Path, verified: Callable[[Path], None]) -> None:
    """Each changed version re-written without its taken-down rows (`rewrite_version`), and once `verified` has
    passed every rewritten directory of a repo (it raises otherwise: the publishing gate holds for rewrites
    too), the target moves that repo's tags to them (`RewritableTarget.replace_versions`)."""
    for repo_id in dict.fromkeys(change.repo_id for change in changes):
        rewritten: dict[str, Path] = {}
        for change in (c for c in changes if c.repo_id == repo_id):
            rewritten[change.version] = rewrite_version(target, change, taken_down, scratch, rewritten)
            verified(rewritten[change.version])
        target.replace_versions(repo_id, {v: StagedRelease.scan(path) for v, path in rewritten.items()})
        for path in rewritten.values():
            shutil.rmtree(path)


def rewrite_version(target: RewritableTarget, change: RevisionChange, taken_down: Mapping[str, pa.Array],
                    scratch: Path, rewritten: Mapping[str, Path]) -> Path:
    """A copy of the version without its taken-down rows: data files filtered; the manifest's files, rows,
    counts (the rows counted as `taken_down`), models, languages and content hash updated; the card and plots
    rendered again from them, with the removal in its changelog (against the previous version as rewritten,
    when it was). Returns the directory."""
    source = target.checkout(change.repo_id, change.version, scratch)
    staged = scratch / "rewritten" / change.repo_id / change.version
    shutil.rmtree(staged, ignore_errors=True)
    shutil.copytree(source, staged, symlinks=False)
    manifest = read_manifest(staged)
    tables = {}
    for name, table in manifest["tables"].items():
        kind = TABLE_KINDS[name]
        parts = []
        for entry in table["files"]:
            path = staged / entry["path"]
            rows = pq.read_table(path)
            if name in change.removed:
                rows = rows.filter(pc.invert(pc.is_in(rows[kind.id_column], value_set=taken_down[name])))
                path.unlink()  # a copy: hard links of the published snapshot are never written through
                pq.write_table(rows, path, compression="zstd")
                entry.update({**file_entry(path, staged), "rows": len(rows)})
            parts.append(rows)
        tables[name] = pa.concat_tables(parts)
        removed = change.removed.get(name, 0)
        if removed:
            table["rows"] -= removed
            table.update(table_summary(tables[name], kind.model_columns))
            counts = table["counts"]
            counts["dropped"]["taken_down"] = counts["dropped"].get("taken_down", 0) + removed
            for published in ("public", "exported"):
                if published in counts:
                    counts[published] -= removed
    manifest["content_sha256"] = content_hash(manifest["tables"])
    after = manifest.setdefault("taken_down_after_release", {})
    for name, removed in change.removed.items():
        after[name] = after.get(name, 0) + removed
    write_manifest(manifest, staged)
    rerender_card(staged, manifest, tables, _previous_manifest(target, change, manifest, scratch, rewritten))
    return staged


def _previous_manifest(target: RewritableTarget, change: RevisionChange, manifest: Mapping[str, Any],
                       scratch: Path, rewritten: Mapping[str, Path]) -> dict[str, Any] | None:
    """The manifest of the version this one followed, as rewritten in this run if it was; None when there was
    none or it is no longer published here (the card then has no changelog, as when it was first written)."""
    version = manifest.get("previous_version")
    if version is None:
        return None
    if version in rewritten:
        return read_manifest(rewritten[version])
    if version not in target.versions(change.repo_id):
        return None
    return read_manifest(target.checkout(change.repo_id, version, scratch))


def _taken_rows(path: Path, name: str, taken_down: Mapping[str, pa.Array]) -> pa.Table:
    ids = pq.read_table(path, columns=[TABLE_KINDS[name].id_column])
    return ids.filter(pc.is_in(ids[0], value_set=taken_down[name]))
