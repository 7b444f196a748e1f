"""Takedowns: people ask for their data to be removed. A private list of conversation ids, battle
(question) ids and judge hashes (the `judge` values as published) is applied before every release, where
each row it covers is dropped and counted as `taken_down`, and can be applied to releases already
published (`arena-release takedown`), rewriting their revisions.

An entry reaches every row it concerns: a battle's id takes down the battle and both its conversations;
a conversation's id takes down the battles it was a side of; a judge hash takes down all of that voter's
battles and conversations. The list itself is never published: only how many rows it removed.
"""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
from pydantic import BaseModel, ConfigDict, ValidationError

from pipeline.cleaning_config import ConfigError, read_yaml_mapping


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
