from __future__ import annotations

import collections
import gzip
import hashlib
import json
import re
import shutil

import numpy as np
import pyarrow.parquet as pq
import pytest

from pipeline import schemas
from pipeline.cleaning_config import JudgeHasher, load_cleaning_config
from pipeline.ingest import ReconciliationError, ingest_logs
from tests.logbuilder import T0, battle, chat, state, vote, write_log


def run(logs, out, **config_overrides):
    config = load_cleaning_config().model_copy(update=config_overrides)
    accounting = ingest_logs(logs, out, config, workers=1)
    tables = {name: pq.read_table(out / f"{name}.parquet") for name in
              ("battles", "conversations", "feedback", "quarantine")}
    return accounting, tables


def reasons(tables):
    return collections.Counter(tables["quarantine"].column("reason").to_pylist())


# ------------------------------------------------------------------ the generated logs


def test_every_line_is_accounted_for(ingested, synth_logs):
    out, accounting = ingested
    lines = sum(len(p.read_bytes().splitlines()) for p in synth_logs.glob("server*/*-conv.json"))
    assert accounting["lines_read"] == lines
    assert accounting["reconciled"]
    total = (sum(accounting["kept"].values()) + sum(accounting["merged"].values())
             + accounting["quarantined_total"])
    assert total == lines
    quarantine = pq.read_table(out / "quarantine.parquet")
    assert quarantine.num_rows == accounting["quarantined_total"]
    assert json.loads((out / "accounting.json").read_text())["lines_read"] == lines
    # The planted faults all show up under their own reasons.
    for reason in ("malformed_json", "invalid_utf8", "missing_field", "unknown_record_type", "identity_leak",
                   "unfinished", "duplicate_vote"):
        assert accounting["quarantined"].get(reason, 0) > 0, reason
    assert {"server_error", "server_moderation", "server_length_limit"} & set(accounting["quarantined"])


def test_outputs_follow_the_schemas_and_are_sorted(ingested):
    out, accounting = ingested
    battles = pq.read_table(out / "battles.parquet")
    assert battles.schema.equals(schemas.BATTLES)
    assert pq.read_table(out / "conversations.parquet").schema.equals(schemas.CONVERSATIONS)
    assert pq.read_table(out / "quarantine.parquet").schema.equals(schemas.QUARANTINE)
    assert battles.num_rows == accounting["kept"]["battles"]
    tstamps = battles.column("tstamp").to_numpy()
    assert (np.diff(tstamps) >= 0).all()
    assert len(set(battles.column("question_id").to_pylist())) == battles.num_rows
    assert set(battles.column("winner").to_pylist()) == {"model_a", "model_b", "tie", "tie (bothbad)"}
    anony = battles.column("anony").to_pylist()
    assert any(anony) and not all(anony)


def test_no_raw_ip_and_judge_is_keyed_hash(ingested, synth_logs):
    out, _ = ingested
    ips = set()  # the users' addresses (IPs planted as PII inside prompts are redaction's business)
    for path in synth_logs.glob("server*/*.json"):
        for line in path.read_bytes().splitlines():
            match = re.search(rb'"ip": "([^"]+)"}$', line)
            if match:
                ips.add(match.group(1).decode())
    assert len(ips) > 20
    for name in ("battles", "conversations", "feedback", "quarantine"):
        text = str(pq.read_table(out / f"{name}.parquet").to_pylist())
        assert not [ip for ip in ips if re.search(rf"(?<![\d.:a-f]){re.escape(ip)}(?![\d.:a-f])", text)], name
    judges = set(pq.read_table(out / "battles.parquet").column("judge").to_pylist())
    hasher = JudgeHasher(b"test-judge-key-0123456789abcdef")
    keyed = {hasher(ip) for ip in ips}
    unkeyed = {hashlib.md5(ip.encode()).hexdigest() for ip in ips} | {
        hashlib.sha256(ip.encode()).hexdigest()[:32] for ip in ips}
    assert judges <= keyed
    assert not judges & unkeyed


def test_model_names_renamed_by_date(ingested):
    out, _ = ingested
    models = set(pq.read_table(out / "battles.parquet", columns=["model_a"]).column(0).to_pylist())
    assert "gpt-4-0613" in models and "claude-1" in models and "palm-2" in models
    assert not {"gpt-4", "claude-v1", "bard", "test-model-internal"} & models


@pytest.mark.parametrize("quantile", [0.9999, 0.99])
def test_dedup_tags_match_fastchat_rule(synth_logs, tmp_path, quantile):
    dedup = load_cleaning_config().dedup.model_copy(update={"quantile": quantile})
    run(synth_logs, tmp_path, dedup=dedup)
    battles = pq.read_table(tmp_path / "battles.parquet", columns=["conversation_a", "dedup_tag"]).to_pylist()
    keys = ["".join(m["content"] + "\n" for m in b["conversation_a"] if m["role"] == "user")[:10000]
            for b in battles]
    counts = collections.Counter(keys)
    cutoff = np.quantile(np.array(list(counts.values())), quantile)  # pandas' linear interpolation
    for prompt, n in counts.items():
        tags = [b["dedup_tag"] for b, k in zip(battles, keys, strict=True) if k == prompt]
        high = n > cutoff
        assert all(t["high_freq"] == high for t in tags)
        assert sum(t["sampled"] for t in tags) == (int(cutoff) if high else n)
    if quantile < 0.999:  # at 0.9999 a small sample may have no prompt above the cutoff
        assert any(n > cutoff for n in counts.values())


def test_conversations_keep_last_state(ingested, synth_logs):
    out, accounting = ingested
    convs = pq.read_table(out / "conversations.parquet")
    assert len(set(convs.column("conversation_id").to_pylist())) == convs.num_rows
    assert accounting["merged"]["superseded_state"] > 0
    longest = collections.defaultdict(int)
    for path in synth_logs.glob("server*/*-conv.json"):
        for line in path.read_bytes().splitlines():
            try:
                r = json.loads(line)
            except ValueError:
                continue
            if isinstance(r, dict) and r.get("type") == "chat" and isinstance(r.get("state"), dict):
                cid = r["state"].get("conv_id")
                user_part = len(r["state"].get("messages") or []) - r["state"].get("offset", 0)
                longest[cid] = max(longest[cid], user_part)
    for row in convs.slice(0, 200).to_pylist():
        assert len(row["conversation"]) == longest[row["conversation_id"]]


# ------------------------------------------------------------------ FastChat semantics, case by case


def test_battle_semantics(tmp_path):
    a, b = state("gpt-4", [("Tell me a joke", "Why did the chicken cross the road?")], offset_turns=1), \
        state("claude-v1", [("Tell me a joke", "Knock knock.")], roles=("Human", "Assistant"))
    records = [
        vote("leftvote", a, b),
        battle(kind="rightvote", named=True), battle(kind="tievote"), battle(kind="bothbad_vote"),
        {**battle(), "models": ["", "model-y"]},  # exactly one empty public name
        {**battle(named=True), "models": ["model-x", "other"]},  # named: hidden differs from public
        battle(prompt="are you chatgpt?"),  # identity leak in an anonymous battle
        battle(prompt="are you chatgpt?", named=True),  # named battles may name models
        battle(models=("model-x", "test-model-internal")),
        vote("leftvote", state("m", [("hi", "Hel▌")]), state("n", [("hi", "Hello")])),
        vote("leftvote", state("m", [("hi", None)]), state("n", [("hi", "Hello")])),
        vote("leftvote", state("m", []), state("n", [])),
        vote("leftvote", state("m", [("x" * 40000, "ok")]), state("n", [("x" * 40000, "ok")])),
        battle(prompt="**NETWORK ERROR DUE TO HIGH TRAFFIC. PLEASE REGENERATE OR REFRESH THIS PAGE.**"),
    ]
    write_log(tmp_path / "logs", records)
    accounting, tables = run(tmp_path / "logs", tmp_path / "out")
    rows = tables["battles"].to_pylist()
    first = next(r for r in rows if r["model_a"] == "gpt-4-0613")  # renamed by date (2024)
    assert (first["model_b"], first["winner"]) == ("claude-1", "model_a")
    assert first["conversation_a"] == [{"content": "Tell me a joke", "role": "user"},
                                       {"content": "Why did the chicken cross the road?", "role": "assistant"}]
    assert first["turn"] == 1 and first["anony"] is True
    assert collections.Counter(r["winner"] for r in rows) == {
        "model_a": 2, "model_b": 1, "tie": 1, "tie (bothbad)": 1}
    assert sum(not r["anony"] for r in rows) == 2
    assert reasons(tables) == {"invalid_battle": 2, "identity_leak": 1, "excluded_model": 1, "unfinished": 2,
                               "no_message": 1, "input_too_long": 1, "server_error": 1}
    assert accounting["reconciled"]


def test_banned_users_by_ip_and_by_judge(tmp_path):
    write_log(tmp_path / "logs", [battle(ip="1.2.3.4"), battle(ip="5.6.7.8"), battle(ip="9.9.9.9")])
    judge = JudgeHasher(b"test-judge-key-0123456789abcdef")("5.6.7.8")
    _, tables = run(tmp_path / "logs", tmp_path / "out", banned_ips=["1.2.3.4"], banned_judges=[judge])
    assert tables["battles"].num_rows == 1
    assert reasons(tables) == {"banned_user": 2}


def test_duplicate_votes_keep_the_first(tmp_path):
    record = battle()
    write_log(tmp_path / "logs", [record, {**record, "tstamp": record["tstamp"] + 5}], server=0)
    write_log(tmp_path / "logs", [{**record, "tstamp": record["tstamp"] + 9}], server=1)
    _, tables = run(tmp_path / "logs", tmp_path / "out")
    assert tables["battles"].column("tstamp").to_pylist() == [record["tstamp"]]
    assert reasons(tables) == {"duplicate_vote": 2}


def test_conversation_last_state_decides_and_spans_days(tmp_path):
    st = state("vicuna-13b", [("hello there", "Hi!")], conv_id="c" * 32)
    later = state("vicuna-13b", [("hello there", "Hi!"), ("and now?", "Now this.")], conv_id="c" * 32)
    bad = state("vicuna-13b", [("q", "a"), ("q2", "$MODERATION$ YOUR INPUT VIOLATES OUR CONTENT MODERATION "
                                                 "GUIDELINES.")], conv_id="d" * 32)
    write_log(tmp_path / "logs", [chat(st), chat(state("vicuna-13b", [("q", "a")], conv_id="d" * 32)),
                                  chat(bad, T0 + 50)])
    write_log(tmp_path / "logs", [chat(later, T0 + 86400)], day="2024-06-02")
    accounting, tables = run(tmp_path / "logs", tmp_path / "out")
    rows = tables["conversations"].to_pylist()
    assert [(r["conversation_id"], r["turn"], r["day"]) for r in rows] == [("c" * 32, 2, "2024-06-02")]
    assert reasons(tables) == {"server_moderation": 1}
    assert accounting["merged"] == {"superseded_state": 2}


def test_feedback_records_are_kept(tmp_path):
    st = state("vicuna-13b", [("hello", "Hi!")])
    write_log(tmp_path / "logs", [chat(st), {"tstamp": T0 + 3, "type": "upvote", "model": "vicuna-13b",
                                             "state": st, "ip": "1.1.1.1"}])
    accounting, tables = run(tmp_path / "logs", tmp_path / "out")
    assert tables["feedback"].to_pylist()[0]["type"] == "upvote"
    assert accounting["kept"] == {"battles": 0, "conversations": 1, "feedback": 1}


# ------------------------------------------------------------------ bad input


BAD_LINES = {
    b'{"tstamp": 1717236000.0, "type": "chat", "model": "m", "sta\n': "malformed_json",
    b'{"tstamp": 1717236000.0, "type": "chat", "model": "m\xff\xfe"}\n': "invalid_utf8",
    b"[1, 2, 3]\n": "not_an_object",
    b'{"tstamp": 1717236000.0, "model": "m"}\n': "missing_field",
    b'{"tstamp": 1717236000.0, "type": 5}\n': "wrong_type",
    b'{"tstamp": 1717236000.0, "type": "tts"}\n': "unknown_record_type",
    b'{"tstamp": "yesterday", "type": "chat", "model": "m", "state": {}, "ip": "1.1.1.1"}\n': "wrong_type",
    b'{"tstamp": 1717236000.0, "type": "chat", "model": "m", "state": {"conv_id": "x", "messages": "hi", '
    b'"offset": 0}, "ip": "1.1.1.1"}\n': "invalid_state",
    b'{"tstamp": 1717236000.0, "type": "chat", "model": "m", "state": {"conv_id": "x", "messages": '
    b'[["USER", null], ["ASSISTANT", "a"]], "offset": 0}, "ip": "1.1.1.1"}\n': "invalid_state",
    b'{"tstamp": 1717236000.0, "type": "leftvote", "models": ["", ""], "states": [{}], "ip": "1.1.1.1"}\n':
        "invalid_battle",
    b'{"tstamp": 1717236000.0, "type": "chat", "model": "m", "state": {"conv_id": "x", "messages": '
    b'[["USER", "q"], ["ASSISTANT", "a"]], "offset": 0}}\n': "missing_field",
    b"\n": "blank_line",
}


def test_each_bad_line_is_quarantined_with_its_reason(tmp_path):
    write_log(tmp_path / "logs", [battle()], raw_lines=list(BAD_LINES))
    accounting, tables = run(tmp_path / "logs", tmp_path / "out")
    q = tables["quarantine"].to_pylist()
    assert [row["reason"] for row in q] == list(BAD_LINES.values())
    assert [row["source_line"] for row in q] == list(range(2, 2 + len(BAD_LINES)))
    assert all(row["source_file"] == "server0/2024-06-01-conv.json" for row in q)
    assert tables["battles"].num_rows == 1 and accounting["reconciled"]


def test_oversized_line_is_quarantined_unread(tmp_path):
    write_log(tmp_path / "logs", [battle(prompt="y" * 5000)])
    _, tables = run(tmp_path / "logs", tmp_path / "out", max_line_bytes=4096)
    assert reasons(tables) == {"oversized_line": 1}


def test_empty_files_and_gzip(tmp_path):
    logs = tmp_path / "logs"
    for server in ("server1", "server2"):
        (logs / server).mkdir(parents=True)
    (logs / "server1" / "2024-06-01-conv.json").write_bytes(b"")
    plain = write_log(logs, [battle(), battle(kind="tievote")])
    with open(plain, "rb") as src, gzip.open(logs / "server0" / "2024-06-02-conv.json.gz", "wb") as dst:
        shutil.copyfileobj(src, dst)
    with gzip.open(logs / "server2" / "2024-06-02-conv.json.gz", "wb") as broken:
        broken.write((json.dumps(battle()) + "\n").encode() * 50)
    data = (logs / "server2" / "2024-06-02-conv.json.gz").read_bytes()
    (logs / "server2" / "2024-06-02-conv.json.gz").write_bytes(data[: len(data) // 2])
    (logs / "server0" / "vision-tmp-2024-06-01-conv.json").write_text("{}\n")
    accounting, tables = run(logs, tmp_path / "out")
    assert accounting["files"] == 4
    assert accounting["quarantined"].get("unreadable_file") == 1
    assert accounting["reconciled"]
    assert accounting["skipped_files"][0]["file"] == "server0/vision-tmp-2024-06-01-conv.json"


def test_reconciliation_failure_is_loud(tmp_path, monkeypatch):
    write_log(tmp_path / "logs", [battle()])
    import pipeline.ingest as ingest

    original = ingest._account

    def lose_a_line(con, file_stats, days):
        file_stats[0]["lines"] += 1
        return original(con, file_stats, days)

    monkeypatch.setattr(ingest, "_account", lose_a_line)
    with pytest.raises(ReconciliationError, match="lines read 2"):
        run(tmp_path / "logs", tmp_path / "out")
