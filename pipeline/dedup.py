"""High-frequency prompt tagging, the FastChat `deduplication.py` way: a step of its own after the cleaned
tables, since its cutoff depends on every battle of the window.

Key = each user turn followed by "\\n", first `prompt_key_chars` characters. Cutoff = the `quantile`
of per-prompt counts (linear interpolation, as pandas). Prompts above the cutoff keep int(cutoff)
rows marked `sampled`, chosen by a seeded hash so the choice is stable; no row is dropped.
"""

from __future__ import annotations

import os
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from pipeline import schemas
from pipeline.cleaning_config import DedupSettings

# The cleaned battles before tagging (finalize writes them) and after (this step writes them).
UNTAGGED_BATTLES = "untagged_battles.parquet"
BATTLES = "battles.parquet"
BATCH_ROWS = 16384


def high_frequency_tags_sql(settings: DedupSettings, battles: str) -> str:
    """SELECT row, dedup_tag for every row of `battles` (columns row, question_id, conversation_a), by row."""
    return f"""
    WITH keyed AS (
        SELECT row, question_id,
               md5(left(array_to_string(
                   list_transform(list_filter(conversation_a, lambda m: m.role = 'user'),
                                  lambda m: m.content || chr(10)), ''),
                   {int(settings.prompt_key_chars)})) AS prompt_key
        FROM {battles}
    ),
    counted AS (SELECT prompt_key, count(*) AS n FROM keyed GROUP BY prompt_key),
    cutoff AS (SELECT coalesce(quantile_cont(n, {float(settings.quantile)}), 0) AS c FROM counted),
    ranked AS (
        SELECT k.row, c.n > cutoff.c AS high_freq, floor(cutoff.c) AS keep,
               row_number() OVER (PARTITION BY k.prompt_key
                                  ORDER BY md5('{int(settings.seed)}:' || k.question_id)) AS pos
        FROM keyed k JOIN counted c USING (prompt_key), cutoff
    )
    SELECT row, {{'high_freq': high_freq, 'sampled': NOT high_freq OR pos <= keep}} AS dedup_tag
    FROM ranked ORDER BY row"""


def tag_battles(cleaned_dir: Path, settings: DedupSettings) -> dict[str, int]:
    """Write `battles.parquet` (schemas.BATTLES): the untagged battles, in order, with their dedup_tag.

    The tags are computed from the prompts alone (a small table aligned with the file's rows), then the
    battles are streamed through once, so memory stays flat at any window size.
    """
    untagged, tagged = Path(cleaned_dir) / UNTAGGED_BATTLES, Path(cleaned_dir) / BATTLES
    if not untagged.exists():
        raise FileNotFoundError(f"{untagged} is missing: finalize the cleaned tables first")
    path = str(untagged).replace("'", "''")
    with duckdb.connect() as con:
        con.execute("SET preserve_insertion_order = true")
        con.execute("SET enable_progress_bar = false")
        con.execute(f"""CREATE VIEW battles AS SELECT file_row_number AS row, question_id, conversation_a
                        FROM read_parquet('{path}', file_row_number = true)""")
        tags = con.sql(high_frequency_tags_sql(settings, "battles")).to_arrow_table()
    source = pq.ParquetFile(untagged)
    if len(tags) != source.metadata.num_rows:
        raise ValueError(f"{len(tags)} dedup tags for {source.metadata.num_rows} battles")
    dedup_tag = tags["dedup_tag"].cast(schemas.DEDUP_TAG)
    tmp = tagged.with_suffix(".parquet.tmp")
    offset = 0
    with pq.ParquetWriter(tmp, schemas.BATTLES, compression="zstd") as writer:
        for batch in source.iter_batches(BATCH_ROWS):
            columns = {name: batch.column(name) for name in batch.schema.names}
            columns["dedup_tag"] = dedup_tag.slice(offset, len(batch)).combine_chunks()
            offset += len(batch)
            writer.write_batch(pa.RecordBatch.from_arrays([columns[f.name] for f in schemas.BATTLES],
                                                          schema=schemas.BATTLES))
    os.replace(tmp, tagged)
    return {
        "battles": len(tags),
        "high_freq_battles": pc.sum(pc.struct_field(dedup_tag, "high_freq")).as_py() or 0,
        "not_sampled_battles": pc.sum(pc.invert(pc.struct_field(dedup_tag, "sampled"))).as_py() or 0,
    }
