"""Small battles and conversations tables in the pipeline's schemas, with classifier columns.

Rows are built from keyword overrides of a plain, publishable default, so each test states only what
makes its row special. `make_battles` draws many varied rows for sampling and end-to-end tests.
"""

from __future__ import annotations

import datetime as dt
import random
from pathlib import Path

import pyarrow as pa
import yaml

from pipeline import schemas
from pipeline.release_config import ReleaseConfig

LEADERBOARD = ["gpt-4-0613", "claude-1", "palm-2", "vicuna-13b"]
UNRELEASED = ["secret-model-alpha", "internal-preview-0815"]
PROVIDERS = {
    "openai": ["gpt-4-0613", "internal-preview-0815"],
    "anthropic": ["claude-1"],
    "alpha-labs": ["secret-model-alpha"],
}

MODERATION = pa.struct(
    [
        ("categories", pa.struct([("harassment", pa.bool_()), ("violence", pa.bool_())])),
        ("category_scores", pa.struct([("harassment", pa.float64()), ("violence", pa.float64())])),
        ("flagged", pa.bool_()),
    ]
)
TOXICITY = pa.struct([("flagged", pa.bool_()), ("max_score", pa.float64())])

CLASSIFIED_BATTLES = (
    schemas.BATTLES.append(pa.field("language_code", pa.string()))
    .append(pa.field("openai_moderation", MODERATION))
    .append(pa.field("toxicity", TOXICITY))
    .append(pa.field("redacted", pa.bool_()))
)
CLASSIFIED_CONVERSATIONS = (
    schemas.CONVERSATIONS.append(pa.field("language_code", pa.string()))
    .append(pa.field("openai_moderation", pa.list_(MODERATION)))
    .append(pa.field("toxicity", TOXICITY))
    .append(pa.field("redacted", pa.bool_()))
)

PROMPTS = [
    "Explain the difference between a process and a thread in operating systems.",
    "Write a haiku about autumn leaves falling on a quiet lake.",
    "How do I reverse a linked list in Python without recursion?",
    "What are the main causes of the French Revolution?",
    "Give me three ideas for a vegetarian dinner party menu.",
    "Summarize the plot of Moby Dick in two sentences.",
]
BASE_TSTAMP = dt.datetime(2024, 6, 1, tzinfo=dt.UTC).timestamp()


def moderation(flagged: bool = False) -> dict:
    score = 0.9 if flagged else 0.01
    return {
        "categories": {"harassment": flagged, "violence": False},
        "category_scores": {"harassment": score, "violence": 0.0},
        "flagged": flagged,
    }


def conversation(*turns: str) -> list[dict[str, str]]:
    """Alternating user / assistant messages."""
    return [{"content": text, "role": "user" if i % 2 == 0 else "assistant"} for i, text in enumerate(turns)]


def battle(question_id: str, **overrides) -> dict:
    """A clean, publishable battle row; override any column."""
    prompt = overrides.pop("prompt", PROMPTS[0])
    tstamp = overrides.pop("tstamp", BASE_TSTAMP + 60)
    row = {
        "question_id": question_id,
        "conv_id_b": f"{question_id}-b",
        "model_a": "gpt-4-0613",
        "model_b": "claude-1",
        "winner": "model_a",
        "judge": f"judge-{question_id[:3]}",
        "conversation_a": conversation(prompt, "Answer A is thorough and explains the idea well."),
        "conversation_b": conversation(prompt, "Answer B is short but correct."),
        "turn": 1,
        "anony": True,
        "language": "English",
        "tstamp": tstamp,
        "day": dt.datetime.fromtimestamp(tstamp, dt.UTC).date().isoformat(),
        "dedup_tag": {"high_freq": False, "sampled": True},
        "conv_metadata": None,
        "source_file": "server0/2024-06-01-conv.json",
        "source_line": 1,
        "language_code": "en",
        "openai_moderation": moderation(False),
        "toxicity": {"flagged": False, "max_score": 0.01},
        "redacted": False,
    }
    row.update(overrides)
    return row


def chat(conversation_id: str, **overrides) -> dict:
    """A clean single-model conversation row; override any column."""
    prompt = overrides.pop("prompt", PROMPTS[1])
    tstamp = overrides.pop("tstamp", BASE_TSTAMP + 120)
    row = {
        "conversation_id": conversation_id,
        "model": "vicuna-13b",
        "conversation": conversation(prompt, "Crimson leaves drift down / the lake holds the sky."),
        "turn": 1,
        "language": "English",
        "tstamp": tstamp,
        "day": dt.datetime.fromtimestamp(tstamp, dt.UTC).date().isoformat(),
        "judge": "judge1",
        "source_file": "server0/2024-06-01-conv.json",
        "source_line": 2,
        "language_code": "en",
        "openai_moderation": [moderation(False), moderation(False)],
        "toxicity": {"flagged": False, "max_score": 0.02},
        "redacted": False,
    }
    row.update(overrides)
    return row


def battles_table(rows: list[dict], drop: tuple[str, ...] = ()) -> pa.Table:
    """Rows in the classified battles schema, without the `drop` columns (a stage that did not run)."""
    schema = CLASSIFIED_BATTLES
    for name in drop:
        schema = schema.remove(schema.get_field_index(name))
    return pa.Table.from_pylist([{k: v for k, v in r.items() if k not in drop} for r in rows], schema=schema)


def conversations_table(rows: list[dict], drop: tuple[str, ...] = ()) -> pa.Table:
    schema = CLASSIFIED_CONVERSATIONS
    for name in drop:
        schema = schema.remove(schema.get_field_index(name))
    return pa.Table.from_pylist([{k: v for k, v in r.items() if k not in drop} for r in rows], schema=schema)


def make_battles(n: int, seed: int = 0, days: int = 3, models: list[str] | None = None) -> pa.Table:
    """`n` varied clean battles over `days` days, leaderboard and unreleased models mixed."""
    rng = random.Random(seed)
    models = models or LEADERBOARD + UNRELEASED
    rows = []
    for _ in range(n):
        a, b = rng.sample(models, 2)
        language, code = rng.choice([("English", "en"), ("English", "en"), ("German", "de")])
        rows.append(
            battle(
                f"{rng.getrandbits(128):032x}",
                model_a=a,
                model_b=b,
                winner=rng.choice(["model_a", "model_b", "tie", "tie (bothbad)"]),
                prompt=f"{rng.choice(PROMPTS)} (variant {rng.randrange(10**6)})",
                tstamp=BASE_TSTAMP + rng.uniform(0, days * 86400),
                language=language,
                language_code=code,
            )
        )
    return battles_table(rows)


def make_conversations(battles: pa.Table, singles: int, seed: int = 0) -> pa.Table:
    """Both sides of every battle as conversations, plus `singles` single-model chats."""
    rng = random.Random(seed)
    rows = []
    for b in battles.to_pylist():
        for side, conv_id in (("a", b["question_id"]), ("b", b["conv_id_b"])):
            rows.append(
                chat(conv_id, model=b[f"model_{side}"], prompt=b["conversation_a"][0]["content"], tstamp=b["tstamp"])
            )
            rows[-1]["conversation"] = b[f"conversation_{side}"]
    for _ in range(singles):
        rows.append(
            chat(
                f"single-{rng.getrandbits(96):024x}",
                model=rng.choice(LEADERBOARD + UNRELEASED),
                prompt=f"{rng.choice(PROMPTS)} (single {rng.randrange(10**6)})",
                tstamp=BASE_TSTAMP + rng.uniform(0, 3 * 86400),
            )
        )
    return conversations_table(rows)


EXAMPLE_CONFIG = Path(__file__).resolve().parents[1] / "release_configs" / "example.yaml"
DEV_SALT = b"example-dev-salt--not-a-secret"


def example_config_data() -> dict:
    """The example release config as data, the files it names made absolute: a test validates it, or writes it
    elsewhere, and it still names the files beside release_configs/example.yaml."""
    data = yaml.safe_load(EXAMPLE_CONFIG.read_text())
    if data["card"].get("pii_evaluation"):
        data["card"]["pii_evaluation"] = str(EXAMPLE_CONFIG.parent / data["card"]["pii_evaluation"])
    return data


def release_config(**overrides) -> ReleaseConfig:
    """The example release config with the fixtures' leaderboard and providers; override any key."""
    data = example_config_data()
    data["leaderboard"] = {"models": LEADERBOARD}
    data["providers"] = PROVIDERS
    data["verify"] |= {"canary_file": None, "pii_ground_truth": None}  # the example's live in a work directory
    data.update(overrides)
    return ReleaseConfig.model_validate(data)
