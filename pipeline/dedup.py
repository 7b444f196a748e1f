"""High-frequency prompt tagging, the FastChat `deduplication.py` way, in SQL.

Key = each user turn followed by "\\n", first `prompt_key_chars` characters. Cutoff = the `quantile`
of per-prompt counts (linear interpolation, as pandas). Prompts above the cutoff keep int(cutoff)
rows marked `sampled`, chosen by a seeded hash so the choice is stable; no row is dropped.
"""

from __future__ import annotations

from pipeline.cleaning_config import DedupSettings


def high_frequency_tags_sql(settings: DedupSettings, battles: str, vote_rank: str) -> str:
    """SELECT source_file, source_line, dedup_tag for every first vote of `battles`."""
    return f"""
    WITH keyed AS (
        SELECT b.source_file, b.source_line, b.question_id,
               md5(left(array_to_string(
                   list_transform(list_filter(b.conversation_a, lambda m: m.role = 'user'),
                                  lambda m: m.content || chr(10)), ''),
                   {int(settings.prompt_key_chars)})) AS prompt_key
        FROM {battles} b JOIN {vote_rank} r USING (source_file, source_line)
        WHERE r.rn = 1
    ),
    counted AS (SELECT prompt_key, count(*) AS n FROM keyed GROUP BY prompt_key),
    cutoff AS (SELECT coalesce(quantile_cont(n, {float(settings.quantile)}), 0) AS c FROM counted),
    ranked AS (
        SELECT k.source_file, k.source_line, c.n > cutoff.c AS high_freq, floor(cutoff.c) AS keep,
               row_number() OVER (PARTITION BY k.prompt_key
                                  ORDER BY md5('{int(settings.seed)}:' || k.question_id)) AS pos
        FROM keyed k JOIN counted c USING (prompt_key), cutoff
    )
    SELECT source_file, source_line,
           {{'high_freq': high_freq, 'sampled': NOT high_freq OR pos <= keep}} AS dedup_tag
    FROM ranked"""
