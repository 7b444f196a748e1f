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

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from pydantic import BaseModel, ConfigDict, ValidationError

from pipeline.cleaning_config import ConfigError, read_yaml_mapping
from pipeline.manifest import content_hash, file_entry, read_manifest, write_manifest
from pipeline.policy import TABLE_KINDS
from pipeline.publish import LocalTarget, StagedRelease


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


@dataclass(frozen=True)
class RevisionChange:
    """Rows a takedown removes from one published version of one repo."""

    repo_id: str
    version: str
    removed: dict[str, int]  # table -> rows


def plan_rewrite(target: LocalTarget, repo_ids: list[str], taken_down: Mapping[str, pa.Array]) -> list[RevisionChange]:
    """Every published version (tag) of `repo_ids` that holds a taken-down row, with how many per table."""
    changes = []
    for repo_id in repo_ids:
        for version in target.versions(repo_id):
            manifest = read_manifest(target.repo_path(repo_id, version))
            removed = {name: sum(_taken_rows(target.repo_path(repo_id, version) / entry["path"],
                                              name, taken_down).num_rows for entry in table["files"])
                       for name, table in manifest["tables"].items() if name in taken_down}
            if any(removed.values()):
                changes.append(RevisionChange(repo_id, version, {k: v for k, v in removed.items() if v}))
    return changes


def rewrite(target: LocalTarget, changes: list[RevisionChange], taken_down: Mapping[str, pa.Array],
            scratch: Path, verified: Callable[[Path], None]) -> None:
    """Each changed version re-written without its taken-down rows: its data files filtered, its manifest's
    files, rows, counts and content hash updated, its card noting the removal; then, once `verified` has
    passed the rewritten directory (it raises otherwise: the publishing gate holds for rewrites too), the tag
    (and `main` when it pointed there) moved to the new commit, and the old commit deleted where nothing
    points at it anymore."""
    for change in changes:
        source = target.repo_path(change.repo_id, change.version)
        staged = scratch / change.repo_id / change.version
        shutil.rmtree(staged, ignore_errors=True)
        shutil.copytree(source, staged, symlinks=False)
        manifest = read_manifest(staged)
        for name, removed in change.removed.items():
            table = manifest["tables"][name]
            for entry in table["files"]:
                path = staged / entry["path"]
                rows = pq.read_table(path)
                kept = rows.filter(pc.invert(pc.is_in(rows[TABLE_KINDS[name].id_column],
                                                      value_set=taken_down[name])))
                path.unlink()  # a copy: hard links of the published snapshot are never written through
                pq.write_table(kept, path, compression="zstd")
                entry.update({**file_entry(path, staged), "rows": len(kept)})
            table["rows"] -= removed
            counts = table["counts"]
            counts["dropped"]["taken_down"] = counts["dropped"].get("taken_down", 0) + removed
            counts["exported" if "exported" in counts else "public"] -= removed
        manifest["content_sha256"] = content_hash(manifest["tables"])
        manifest.setdefault("taken_down_after_release", {})
        for name, removed in change.removed.items():
            manifest["taken_down_after_release"][name] = manifest["taken_down_after_release"].get(name, 0) + removed
        write_manifest(manifest, staged)
        card = staged / "README.md"
        note = ", ".join(f"{name} {n:,}" for name, n in manifest["taken_down_after_release"].items())
        card.write_text(card.read_text() + f"\n## Removed after publication\n\nRows removed from this version "
                        f"at the request of the people concerned: {note}. The counts above predate the removal; "
                        "`manifest.json` has the current ones.\n")
        verified(staged)
        target.replace_version(change.repo_id, change.version, StagedRelease.scan(staged))
        shutil.rmtree(staged)


def _taken_rows(path: Path, name: str, taken_down: Mapping[str, pa.Array]) -> pa.Table:
    ids = pq.read_table(path, columns=[TABLE_KINDS[name].id_column])
    return ids.filter(pc.is_in(ids[0], value_set=taken_down[name]))
