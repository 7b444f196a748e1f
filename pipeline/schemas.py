"""Arrow schemas of every table the pipeline writes.

One place defines the columns so ingest, classifiers, redaction, release and checks agree.
Public tables follow lmsys/chatbot_arena_conversations and lmsys/lmsys-chat-1m (REFERENCE §3).
"""

from __future__ import annotations

import pyarrow as pa

MESSAGE = pa.struct([("content", pa.string()), ("role", pa.string())])
CONVERSATION = pa.list_(MESSAGE)

DEDUP_TAG = pa.struct([("high_freq", pa.bool_()), ("sampled", pa.bool_())])

# Per-side style counts used by style-controlled ratings (FastChat's conv_metadata, flattened).
CONV_METADATA = pa.struct(
    [
        ("sum_user_tokens", pa.int64()),
        ("sum_assistant_a_tokens", pa.int64()),
        ("sum_assistant_b_tokens", pa.int64()),
        ("header_count_a", pa.int64()),
        ("header_count_b", pa.int64()),
        ("list_count_a", pa.int64()),
        ("list_count_b", pa.int64()),
        ("bold_count_a", pa.int64()),
        ("bold_count_b", pa.int64()),
    ]
)

# Cleaned battles (private: hidden model names, all kept rows). `language` is filled by the classifiers.
BATTLES = pa.schema(
    [
        ("question_id", pa.string()),
        ("conv_id_b", pa.string()),
        ("model_a", pa.string()),
        ("model_b", pa.string()),
        ("winner", pa.string()),
        ("judge", pa.string()),
        ("conversation_a", CONVERSATION),
        ("conversation_b", CONVERSATION),
        ("turn", pa.int64()),
        ("anony", pa.bool_()),
        ("language", pa.string()),
        ("tstamp", pa.float64()),
        ("day", pa.string()),
        ("dedup_tag", DEDUP_TAG),
        ("conv_metadata", CONV_METADATA),
        ("source_file", pa.string()),
        ("source_line", pa.int64()),
    ]
)

# One row per conversation (last logged state of each conv_id), lmsys-chat-1m shaped.
CONVERSATIONS = pa.schema(
    [
        ("conversation_id", pa.string()),
        ("model", pa.string()),
        ("conversation", CONVERSATION),
        ("turn", pa.int64()),
        ("language", pa.string()),
        ("tstamp", pa.float64()),
        ("day", pa.string()),
        ("judge", pa.string()),
        ("source_file", pa.string()),
        ("source_line", pa.int64()),
    ]
)

# Single-model feedback records (upvote, downvote, flag, share): kept, never published raw.
FEEDBACK = pa.schema(
    [
        ("conversation_id", pa.string()),
        ("type", pa.string()),
        ("model", pa.string()),
        ("judge", pa.string()),
        ("tstamp", pa.float64()),
        ("day", pa.string()),
        ("source_file", pa.string()),
        ("source_line", pa.int64()),
    ]
)

# Every record not kept, with why. No raw line text: it may hold IPs or PII.
QUARANTINE = pa.schema(
    [
        ("source_file", pa.string()),
        ("source_line", pa.int64()),
        ("record_type", pa.string()),
        ("reason", pa.string()),
        ("detail", pa.string()),
        ("conv_id", pa.string()),
        ("tstamp", pa.float64()),
        ("day", pa.string()),
    ]
)
