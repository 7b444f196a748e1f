"""Staging's outputs are pinned: a faster stager must stage exactly the same rows, reasons and counts.

The inputs: a synthetic day with raised fault rates (plain and gzip, one gzip cut short) under a tight
cleaning config (limits, bans, renames, excluded models all hit), plus a systematic corpus of hand-built
lines: every field of every kind of valid record deleted or replaced by each awkward value in turn.
The outputs: every staged table of every file (rows sorted, so batching may change), each day's
per-file stats, and the reconciled accounting. Each is reduced to a SHA-256 and compared with
`tests/data/ingest_golden.json`, which is regenerated only deliberately, after checking a change
is meant to alter staging's outputs:

    .venv/bin/python -m tests.test_ingest_equivalence --regenerate
"""

from __future__ import annotations

import copy
import gzip
import hashlib
import json
import os
import shutil
import sys
from pathlib import Path

import pyarrow.parquet as pq

from pipeline.cleaning_config import CleaningConfig, load_cleaning_config
from pipeline.ingest import ingest_logs
from pipeline.synth import SynthSettings, generate
from tests.logbuilder import T0, chat, state, vote, write_log

GOLDEN = Path(__file__).parent / "data" / "ingest_golden.json"
JUDGE_KEY = "equivalence-judge-key-0123456789"
SYNTH = SynthSettings(days=1, battles_per_day=500, seed=11, servers=2, identity_leak_rate=0.05,
                      server_error_rate=0.05, unfinished_rate=0.03, duplicate_vote_rate=0.03,
                      too_long_rate=0.01, excluded_model_rate=0.02, malformed_rate=0.02)
CONFIG_OVERRIDES = {
    "max_user_chars": 1500, "max_turns": 3, "max_line_bytes": 60_000,
    "banned_ips": ["10.9.9.9"], "excluded_models": ["test-model-internal", "model-z"],
    "model_renames": [{"from": "model-y", "to": "model-y-renamed", "before": "2024-06-01"},
                      {"from": "model-x", "to": "model-x-renamed", "after": "2024-06-01"}],
}
# Replacements for any one value of a valid record: every JSON type, and the edge values of the rules.
AWKWARD = [None, True, 0, -1, 2**63, 1.5, 1e9 - 1, 1e10 + 1, "", "▌", "x" * 2000, [], [None], [["USER"]],
           [["USER", None], ["ASSISTANT", "ok"]], {}, {"conv_id": 1}, "Model A", "10.9.9.9",
           "NETWORK ERROR DUE TO HIGH TRAFFIC", "I am made by OpenAI"]


def valid_records() -> list[dict]:
    a = state("model-x", [("What is the capital of France?", "Paris.")], conv_id="a" * 32)
    styled = "**It** is\n# Paris\n- yes\n**not\nbold** __x__ ```**in** code```"
    b = state("model-y", [("What is the capital of France?", styled)], offset_turns=1, conv_id="b" * 32)
    longer = state("model-x", [("What is the capital of France?", "Paris."), ("And Spain?", "```x```Madrid.")],
                   conv_id="a" * 32)
    return [
        chat(a, T0), chat(longer, T0 + 5), chat(b, T0 + 6, ip="10.0.0.2"),
        vote("leftvote", longer, b, T0 + 30), vote("rightvote", a, b, T0 + 31, named=True),
        vote("tievote", state("model-x", [("Hi", "Hello!")], conv_id="c" * 32),
             state("model-z", [("Hi", "Hey.")], conv_id="d" * 32), T0 + 32, named=True),
        vote("bothbad_vote", state("model-x", [("Hi", "Hello!")], conv_id="e" * 32),
             state("model-y", [("Hi", "Hey.")], conv_id="f" * 32), T0 + 33),
        {"tstamp": T0 + 40, "type": "upvote", "model": "model-x", "state": a, "ip": "10.0.0.9"},
        {"tstamp": T0 + 41, "type": "flag", "model": "model-y", "state": b, "ip": "10.0.0.9"},
    ]


def _paths(value, prefix=()):
    yield prefix
    children = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
    for key, child in children:
        yield from _paths(child, (*prefix, key))


def mutated_lines() -> list[bytes]:
    """Each valid record with one value deleted, or replaced by each awkward value in turn."""
    lines = []
    for record in valid_records():
        for path in list(_paths(record))[1:]:
            for replacement in (*AWKWARD, KeyError):
                mutated = copy.deepcopy(record)
                parent = mutated
                for step in path[:-1]:
                    parent = parent[step]
                if replacement is KeyError:
                    del parent[path[-1]]
                else:
                    parent[path[-1]] = replacement
                lines.append(json.dumps(mutated).encode() + b"\n")
    return lines


RAW_LINES = [b"\n", b" \r\n", b"null\n", b"[1]\n", b'"chat"\n', b"{}\n", b'{"type": 1}\n', b'{"type": "tts"}\n',
             b'{"type": "chat", "tstamp": NaN}\n', b'{"a": 1,}\n', b"\xff\xfe{}\n", b"{" * 70_000 + b"\n",
             b'{"tstamp": 1717236000, "type": "share", "model": "m", "ip": "1.2.3.4", "state": {"conv_id": "c",'
             b' "messages": []}}\n', b'{"tstamp": 1717236000, "type": "chat"}']


def build_logs(logs: Path) -> None:
    generate(logs, SYNTH)
    for sidecar in ("pii_ground_truth.jsonl", "canaries.txt"):  # the generator's private sidecars, not logs
        (logs / sidecar).unlink()
    write_log(logs, valid_records(), server=5, raw_lines=[*mutated_lines(), *RAW_LINES])
    packed = gzip.compress(b"".join(json.dumps(r).encode() + b"\n" for r in valid_records() * 3), mtime=0)
    (logs / "server6").mkdir()
    (logs / "server6" / "2024-06-01-conv.json.gz").write_bytes(packed)
    (logs / "server7").mkdir()
    (logs / "server7" / "2024-06-01-conv.json.gz").write_bytes(packed[: len(packed) * 2 // 3])


def _rows_digest(rows: list[dict]) -> str:
    lines = sorted(json.dumps(row, sort_keys=True, ensure_ascii=False, default=repr) for row in rows)
    return hashlib.sha256("\n".join(lines).encode("utf-8", "surrogatepass")).hexdigest()


def digests(root: Path) -> dict[str, str]:
    """SHA-256 of the inputs and of each staged output, keyed by its path under the output folder."""
    logs, out = root / "logs", root / "out"
    inputs = hashlib.sha256()
    for path in sorted(p for p in logs.rglob("*") if p.is_file()):
        inputs.update(path.relative_to(logs).as_posix().encode() + b"\0" + path.read_bytes())
    result = {"inputs": inputs.hexdigest()}
    defaults = load_cleaning_config()
    config = CleaningConfig.model_validate({**defaults.model_dump(by_alias=True), **CONFIG_OVERRIDES})
    previous = os.environ.get(config.judge_key_env)
    os.environ[config.judge_key_env] = JUDGE_KEY  # judge hashes, hence the digests, depend on the key
    try:
        accounting = ingest_logs(logs, out, config, workers=1)
    finally:
        os.environ.pop(config.judge_key_env)
        if previous is not None:
            os.environ[config.judge_key_env] = previous
    for path in sorted((out / "staging").rglob("*.parquet")):
        result[path.relative_to(out).as_posix()] = _rows_digest(pq.read_table(path).to_pylist())
    for path in sorted((out / "staging").rglob("stats.json")):
        result[path.relative_to(out).as_posix()] = _rows_digest(json.loads(path.read_text())["files"])
    counts = {key: accounting[key] for key in ("lines_read", "kept", "merged", "quarantined", "reconciled")}
    result["accounting"] = _rows_digest([counts])
    return result


def test_staged_outputs_match_the_golden_digests(tmp_path):
    golden = json.loads(GOLDEN.read_text())
    build_logs(tmp_path / "logs")
    found = digests(tmp_path)
    assert found["inputs"] == golden["inputs"], (
        "the equivalence inputs changed (synth or this file): regenerate the golden digests with the code "
        "as it was before your staging change, then compare")
    differing = sorted(name for name in golden.keys() | found.keys() if golden.get(name) != found.get(name))
    assert not differing, f"staged outputs differ from the golden ones: {differing}"


def test_corpus_reaches_every_quarantine_reason(tmp_path):
    """The golden inputs are worth pinning only if they exercise every rule."""
    build_logs(tmp_path / "logs")
    digests(tmp_path)
    reasons = set(json.loads((tmp_path / "out" / "accounting.json").read_text())["quarantined"])
    assert reasons >= {
        "blank_line", "malformed_json", "invalid_utf8", "not_an_object", "oversized_line", "missing_field",
        "wrong_type", "unknown_record_type", "invalid_value", "invalid_state", "invalid_battle", "banned_user",
        "no_message", "unfinished", "too_many_turns", "input_too_long", "identity_leak", "excluded_model",
        "server_error", "duplicate_vote", "unreadable_file",
    }


def regenerate() -> None:
    root = Path(os.environ.get("TMPDIR", "/tmp")) / "ingest-golden"
    shutil.rmtree(root, ignore_errors=True)
    build_logs(root / "logs")
    GOLDEN.parent.mkdir(parents=True, exist_ok=True)
    GOLDEN.write_text(json.dumps(digests(root), indent=1) + "\n")
    shutil.rmtree(root)
    print(f"wrote {GOLDEN}")


if __name__ == "__main__":
    if sys.argv[1:] != ["--regenerate"]:
        sys.exit(__doc__)
    regenerate()
