"""Hand-built FastChat records for targeted ingest tests (the generator covers realistic volume)."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

DAY = "2024-06-01"
T0 = 1717236000.0  # 2024-06-01 10:00 UTC


def state(model: str, turns: list[tuple[str, str | None]], *, roles=("USER", "ASSISTANT"), offset_turns=0,
          conv_id: str | None = None) -> dict:
    few_shot = [[roles[0], "example question"], [roles[1], "example answer"]] * offset_turns
    messages = few_shot + [[roles[i % 2], text] for user, reply in turns for i, text in enumerate((user, reply))]
    return {"template_name": "test", "system_message": "", "roles": list(roles), "messages": messages,
            "offset": len(few_shot), "conv_id": conv_id or uuid.uuid4().hex, "model_name": model}


def chat(st: dict, tstamp: float = T0, ip: str = "10.1.2.3") -> dict:
    return {"tstamp": tstamp, "type": "chat", "model": st["model_name"],
            "gen_params": {"temperature": 0.7, "top_p": 1.0, "max_new_tokens": 1024},
            "start": tstamp - 2, "finish": tstamp, "state": st, "ip": ip}


def vote(kind: str, a: dict, b: dict, tstamp: float = T0 + 30, ip: str = "10.1.2.3", named: bool = False) -> dict:
    models = [a["model_name"], b["model_name"]] if named else ["", ""]
    return {"tstamp": tstamp, "type": kind, "models": models, "states": [a, b], "ip": ip}


def battle(prompt: str = "What is 2+2?", kind: str = "leftvote", models=("model-x", "model-y"), **kw) -> dict:
    a = state(models[0], [(prompt, "It is 4.")])
    b = state(models[1], [(prompt, "Four.")])
    return vote(kind, a, b, **kw)


def write_log(logs: Path, records: list, server: int = 0, day: str = DAY, raw_lines: list[bytes] = ()) -> Path:
    """Records as FastChat writes them (json.dumps per line), then any raw lines."""
    path = logs / f"server{server}" / f"{day}-conv.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "ab") as f:
        for record in records:
            f.write((json.dumps(record) + "\n").encode())
        for line in raw_lines:
            f.write(line)
    return path
