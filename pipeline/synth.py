"""Synthetic FastChat arena logs, byte-for-byte in the real format (REFERENCE §1), for demos,
tests and benchmarks.

Each day is generated independently from (seed, day), in its own process, so output is
deterministic for a seed whatever the number of workers. Events of a day are produced in start-time
order and written through a small time-ordered heap per server, so files are appended in timestamp
order like the real server's, with memory bounded by the events of a few minutes.

Planted on purpose, at configurable rates: anonymous and named battles, single-model chats and
feedback, multi-turn conversations, several templates, role spellings and few-shot offsets, many
languages, PII (with a ground-truth sidecar), identity leaks, server error texts, unfinished
streams, high-frequency prompts, duplicate votes, over-long inputs and malformed lines.
"""

from __future__ import annotations

import datetime as dt
import gzip
import heapq
import json
import random
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass
from functools import cache
from pathlib import Path

import yaml

from pipeline.fake_pii import make_pii_prompt
from pipeline.yamlfile import read_yaml_file

DATA = Path(__file__).parent / "data"

MODERATION_TEXT = "$MODERATION$ YOUR INPUT VIOLATES OUR CONTENT MODERATION GUIDELINES."
LENGTH_LIMIT_TEXT = (
    "YOU HAVE REACHED THE CONVERSATION LENGTH LIMIT. PLEASE CLEAR HISTORY AND START A NEW CONVERSATION."
)
NETWORK_ERROR_TEXT = "**NETWORK ERROR DUE TO HIGH TRAFFIC. PLEASE REGENERATE OR REFRESH THIS PAGE.**"
API_ERROR_TEXT = "**API REQUEST ERROR** Reason: The response was blocked."
UNFINISHED_MARKER = "▌"
DAY_END_MARGIN_S = 7200.0
HIGH_FREQUENCY_PROMPTS = ("hi", "hello", "Hello", "hey", "Hi!", "test", "你好")


@dataclass(frozen=True)
class Template:
    name: str
    roles: tuple[str, str]
    system_message: str
    few_shot: tuple[tuple[str, str], ...] = ()


TEMPLATES = (
    Template("chatgpt", ("user", "assistant"), "You are a helpful assistant."),
    Template("vicuna_v1.1", ("USER", "ASSISTANT"),
             "A chat between a curious user and an artificial intelligence assistant."),
    Template("claude", ("Human", "Assistant"), ""),
    Template("llama-2", ("[INST]", "[/INST]"), "You are a helpful, respectful and honest assistant."),
    Template("one_shot", ("### Human", "### Assistant"),
             "A chat between a curious human and an artificial intelligence assistant.",
             (("What are the key differences between renewable and non-renewable energy sources?",
               "Renewable energy sources are replenished naturally, while non-renewable ones are finite."),)),
)


@dataclass(frozen=True)
class SynthModel:
    """A model as the arena serves it: logged name, latent strength, verbosity, markdown habit."""

    name: str
    strength: float  # Elo-like
    verbosity: float  # mean reply sentences
    markdown: float  # probability of headers / lists / bold in a reply
    template: int


# Logged names; some are renamed by the cleaning table (gpt-4, claude-v1, bard); some never reach the
# leaderboard (the example release config lists the leaderboard).
MODELS = (
    SynthModel("gpt-4", 1250, 9, 0.8, 0),
    SynthModel("gpt-4o-2024-05-13", 1285, 10, 0.9, 0),
    SynthModel("claude-v1", 1150, 7, 0.5, 2),
    SynthModel("claude-3-opus-20240229", 1250, 9, 0.7, 2),
    SynthModel("bard", 1100, 6, 0.6, 0),
    SynthModel("gemini-1.5-pro", 1260, 10, 0.9, 0),
    SynthModel("llama-3-70b-instruct", 1205, 8, 0.7, 3),
    SynthModel("mixtral-8x7b-instruct-v0.1", 1114, 7, 0.6, 3),
    SynthModel("vicuna-13b", 1040, 5, 0.3, 1),
    SynthModel("qwen2-72b-instruct", 1185, 8, 0.6, 0),
    SynthModel("mistral-large-2402", 1160, 7, 0.5, 0),
    SynthModel("oasst-sft-1-pythia-12b", 900, 4, 0.1, 4),
    SynthModel("secret-model-alpha", 1230, 8, 0.7, 0),
    SynthModel("internal-preview-0815", 1170, 7, 0.5, 1),
)
EXCLUDED_MODEL = SynthModel("test-model-internal", 800, 3, 0.0, 0)


@dataclass(frozen=True)
class SynthSettings:
    days: int = 3
    battles_per_day: int = 200
    seed: int = 0
    servers: int = 4
    start_date: dt.date = dt.date(2024, 6, 1)
    gzip: bool = False
    single_chats_per_battle: float = 0.3
    named_battle_rate: float = 0.12
    pii_rate: float = 0.04
    identity_leak_rate: float = 0.02
    server_error_rate: float = 0.015
    unfinished_rate: float = 0.005
    high_frequency_rate: float = 0.04
    duplicate_vote_rate: float = 0.005
    too_long_rate: float = 0.0005
    excluded_model_rate: float = 0.003
    malformed_rate: float = 0.002
    non_english_rate: float = 0.25


# ------------------------------------------------------------------------------ content


@cache
def _english_prompts() -> tuple[tuple[str, ...], ...]:
    """Real arena prompts (single turn) and MT-bench questions (two turns)."""
    prompts: list[tuple[str, ...]] = []
    with open(DATA / "prompts" / "arena_hard_v0.1_question.jsonl", encoding="utf-8") as f:
        prompts += [(json.loads(line)["prompt"],) for line in f if line.strip()]
    with open(DATA / "prompts" / "mt_bench_question.jsonl", encoding="utf-8") as f:
        prompts += [tuple(json.loads(line)["turns"]) for line in f if line.strip()]
    return tuple(prompts)


@cache
def _languages() -> dict[str, dict]:
    return read_yaml_file(DATA / "synth" / "languages.yaml")


_SENTENCES = (
    "Here is a step-by-step explanation.",
    "The key idea is to break the problem into smaller parts.",
    "First, consider the constraints carefully.",
    "This approach works well in most practical cases.",
    "Let me know if you would like more detail on any point.",
    "In summary, the answer depends on the context you are working in.",
    "A common mistake is to overlook edge cases.",
    "You can verify the result by testing a few examples.",
    "Performance matters less than correctness at this stage.",
    "There are several trade-offs worth mentioning.",
)
_FOLLOW_UPS = ("Can you elaborate?", "Make it shorter.", "Give me an example.", "Why?", "Continue.",
               "Can you rewrite that in a more formal tone?", "What about edge cases?")
_LEAKS = ("As an AI developed by OpenAI, I cannot browse the internet.", "I am Claude, made by Anthropic.",
          "I'm a large language model trained by Google.", "I am LLaMA, created by Meta AI.")
_LEAK_PROMPTS = ("are you chatgpt?", "Which model are you, gpt-4 or claude?", "who made you? openai?")


def _reply(rng: random.Random, model: SynthModel, language: str) -> str:
    parts = [_languages()[language]["reply"]] if language != "en" else []
    n = max(1, int(rng.gauss(model.verbosity, 2)))
    if rng.random() < model.markdown:
        parts.append("## Answer")
        parts += [f"{i + 1}. **{rng.choice(_SENTENCES)}**" for i in range(min(n, 4))]
        parts.append("- " + rng.choice(_SENTENCES))
    parts += [rng.choice(_SENTENCES) for _ in range(n)]
    if rng.random() < 0.15:
        parts.append("```python\ndef solve(x):\n    return x * 2\n```")
    return "\n".join(parts)


# ------------------------------------------------------------------------------ records


class _DayWriter:
    """Time-ordered output per server: events wait in a heap until nothing earlier can come."""

    def __init__(self, out: Path, day: dt.date, servers: int, gz: bool):
        name = f"{day.isoformat()}-conv.json" + (".gz" if gz else "")
        self.files = []
        for i in range(servers):
            (out / f"server{i}").mkdir(parents=True, exist_ok=True)
            path = out / f"server{i}" / name
            self.files.append(gzip.open(path, "wb", compresslevel=1) if gz else open(path, "wb"))
        self.heaps: list[list[tuple[float, int, bytes]]] = [[] for _ in range(servers)]
        self.counter = 0

    def add(self, server: int, tstamp: float, line: bytes) -> None:
        self.counter += 1
        heapq.heappush(self.heaps[server], (tstamp, self.counter, line))

    def flush_before(self, tstamp: float) -> None:
        """Write what is due before `tstamp`: no event generated later can be earlier than it."""
        for heap, handle in zip(self.heaps, self.files, strict=True):
            while heap and heap[0][0] < tstamp:
                handle.write(heapq.heappop(heap)[2])

    def close(self) -> None:
        for heap, handle in zip(self.heaps, self.files, strict=True):
            while heap:
                handle.write(heapq.heappop(heap)[2])
            handle.close()


def _dumps(record: dict) -> bytes:
    """Exactly FastChat's `json.dumps(record) + "\\n"` (ASCII escapes, default separators)."""
    return (json.dumps(record) + "\n").encode()


class _DayGenerator:
    def __init__(self, settings: SynthSettings, day: dt.date, out: Path):
        self.s = settings
        self.day = day
        self.rng = random.Random(f"{settings.seed}:{day.isoformat()}")
        self.out = out
        self.writer = _DayWriter(out, day, settings.servers, settings.gzip)
        self.truth = open(out / "pii_ground_truth" / f"{day.isoformat()}.jsonl", "w", encoding="utf-8")
        users = max(10, settings.battles_per_day // 4)
        self.ips = [self._ip() for _ in range(users)]
        (out / "pii_ground_truth" / f"{day.isoformat()}.canaries").write_text("".join(f"{ip}\n" for ip in self.ips))
        self.counts = {"battles": 0, "single_chats": 0, "lines": 0}

    def _ip(self) -> str:
        r = self.rng
        if r.random() < 0.1:
            return ":".join(f"{r.getrandbits(16):x}" for _ in range(8))
        return f"{r.randint(1, 223)}.{r.randint(0, 255)}.{r.randint(0, 255)}.{r.randint(1, 254)}"

    def _user_ip(self) -> str:
        # Heavy-tailed activity: a few users vote a lot.
        return self.ips[min(int(self.rng.paretovariate(1.2)) - 1, len(self.ips) - 1)]

    def _conv_id(self) -> str:
        return f"{self.rng.getrandbits(128):032x}"

    def _emit(self, server: int, record: dict) -> None:
        self.writer.add(server, record["tstamp"], _dumps(record))
        self.counts["lines"] += 1

    def _prompts(self, conv_ids: list[str]) -> tuple[list[str], str]:
        """User turns for a conversation, and its language code."""
        r, s = self.rng, self.s
        if r.random() < s.high_frequency_rate:
            return [r.choice(HIGH_FREQUENCY_PROMPTS)], "en"
        if r.random() < s.pii_rate:
            text, planted = make_pii_prompt(r)
            for conv_id in conv_ids:
                for p in planted:
                    self.truth.write(json.dumps({"conv_id": conv_id, "entity_type": p.entity_type,
                                                 "value": p.value}) + "\n")
            return [text], "en"
        if r.random() < s.non_english_rate:
            code = r.choice(sorted(_languages()))
            return [r.choice(_languages()[code]["prompts"])], code
        turns = list(r.choice(_english_prompts()))
        if r.random() < s.too_long_rate:
            turns[0] = turns[0] + " " + "lorem ipsum " * 3000
        while len(turns) < 5 and r.random() < 0.25:
            turns.append(r.choice(_FOLLOW_UPS))
        return turns, "en"

    def _conversation(self, server: int, models: list[SynthModel], start: float, fault: str | None,
                      ip: str) -> tuple[list[dict], float]:
        """Log chat records for every turn of each side; return final states and finish time."""
        r = self.rng
        conv_ids = [self._conv_id() for _ in models]
        prompts, language = self._prompts(conv_ids)
        if fault == "identity_leak" and r.random() < 0.5:
            prompts[-1] = r.choice(_LEAK_PROMPTS)
        states = []
        for model, conv_id in zip(models, conv_ids, strict=True):
            t = TEMPLATES[model.template]
            messages = [[t.roles[i % 2], text] for pair in t.few_shot for i, text in enumerate(pair)]
            states.append({"template_name": t.name, "system_message": t.system_message,
                           "roles": list(t.roles), "messages": messages, "offset": len(messages),
                           "conv_id": conv_id, "model_name": model.name})
        clock = start
        for turn_index, prompt in enumerate(prompts):
            last = turn_index == len(prompts) - 1
            for model, state in zip(models, states, strict=True):
                reply = _reply(r, model, language)
                if last and fault == "identity_leak":
                    reply = r.choice(_LEAKS) + " " + reply
                elif last and fault == "server_error":
                    reply = r.choice((NETWORK_ERROR_TEXT, API_ERROR_TEXT, MODERATION_TEXT, LENGTH_LIMIT_TEXT))
                elif last and fault == "unfinished":
                    reply = reply[: max(1, len(reply) // 2)] + UNFINISHED_MARKER
                roles = state["roles"]
                state["messages"] += [[roles[0], prompt], [roles[1], reply]]
                begin = round(clock + r.uniform(0.5, 3), 4)
                finish = round(begin + r.uniform(1, 20), 4)
                self._emit(server, {
                    "tstamp": finish, "type": "chat", "model": model.name,
                    "gen_params": {"temperature": 0.7, "top_p": 1.0, "max_new_tokens": 1024},
                    "start": begin, "finish": finish, "state": state, "ip": ip})
            clock += r.uniform(20, 120)
        return states, clock

    def battle(self, start: float) -> None:
        r, s = self.rng, self.s
        server = r.randrange(s.servers)
        pair = r.sample(MODELS, 2)
        if r.random() < s.excluded_model_rate:
            pair[1] = EXCLUDED_MODEL
        fault = self._fault()
        ip = self._user_ip()
        states, clock = self._conversation(server, pair, start, fault, ip)
        named = r.random() < s.named_battle_rate
        vote = {"tstamp": round(clock + r.uniform(2, 30), 4), "type": self._vote_type(pair),
                "models": [m.name for m in pair] if named else ["", ""], "states": states, "ip": ip}
        self._emit(server, vote)
        if r.random() < s.duplicate_vote_rate:
            self._emit(server, {**vote, "tstamp": round(vote["tstamp"] + r.uniform(0.1, 5), 4)})
        self.counts["battles"] += 1

    def single_chat(self, start: float) -> None:
        r = self.rng
        server = r.randrange(self.s.servers)
        model = r.choice(MODELS)
        ip = self._user_ip()
        states, clock = self._conversation(server, [model], start, self._fault(single=True), ip)
        if r.random() < 0.3:
            kind = r.choice(("upvote", "downvote", "flag", "share"))
            self._emit(server, {"tstamp": round(clock + r.uniform(1, 10), 4), "type": kind,
                                "model": model.name, "state": states[0], "ip": ip})
        self.counts["single_chats"] += 1

    def _fault(self, single: bool = False) -> str | None:
        r, s = self.rng, self.s
        roll = r.random()
        for fault, rate in (("identity_leak", 0 if single else s.identity_leak_rate),
                            ("server_error", s.server_error_rate), ("unfinished", s.unfinished_rate)):
            if roll < rate:
                return fault
            roll -= rate
        return None

    def _vote_type(self, pair: list[SynthModel]) -> str:
        r = self.rng
        roll = r.random()
        if roll < 0.05:
            return "bothbad_vote"
        if roll < 0.18:
            return "tievote"
        p_left = 1 / (1 + 10 ** ((pair[1].strength - pair[0].strength) / 400))
        return "leftvote" if r.random() < p_left else "rightvote"

    MALFORMED_KINDS = 6

    def malformed(self, start: float, kind: int) -> None:
        """A broken line of one of the kinds real logs show."""
        r = self.rng
        server = r.randrange(self.s.servers)
        good = _dumps({"tstamp": start, "type": "chat", "model": "vicuna-13b",
                       "state": {"conv_id": self._conv_id(), "messages": [["USER", "hi"], ["ASSISTANT", "Hi!"]],
                                 "offset": 0}, "ip": self._user_ip()})
        if kind == 0:
            line = good[: r.randrange(10, len(good) - 2)] + b"\n"  # truncated write
        elif kind == 1:
            line = good.replace(b'"tstamp": ', b'"tstamp": "', 1).replace(b', "type"', b'", "type"', 1)
        elif kind == 2:
            line = good.replace(b'"type": "chat", ', b"", 1)  # missing field
        elif kind == 3:
            line = good.replace(b"hi", b"h\xff\xfei", 1)  # invalid UTF-8
        elif kind == 4:
            line = good.replace(b'"chat"', b'"tts_event"', 1)  # unknown record type
        else:
            line = good.replace(b'[["USER", "hi"], ["ASSISTANT", "Hi!"]]', b'"hi"', 1)  # wrong type
        self.writer.add(server, start, line)
        self.counts["lines"] += 1

    def run(self) -> dict:
        r, s = self.rng, self.s
        day_start = dt.datetime.combine(self.day, dt.time(), dt.UTC).timestamp()
        events = s.battles_per_day * (1 + s.single_chats_per_battle)
        # Conversations start through the day, none in the last two hours, so none crosses midnight.
        spacing = (86400 - DAY_END_MARGIN_S) / max(events, 1)
        clock = day_start
        # Every kind of broken line appears at least once a day, more at `malformed_rate`.
        planted = dict(zip(r.sample(range(s.battles_per_day), min(self.MALFORMED_KINDS, s.battles_per_day)),
                           range(self.MALFORMED_KINDS), strict=False))
        for index in range(s.battles_per_day):
            clock += r.expovariate(1 / spacing) if r.random() < 0.5 else spacing
            clock = min(clock, day_start + 86400 - DAY_END_MARGIN_S)
            self.writer.flush_before(clock)
            self.battle(clock)
            while r.random() < s.single_chats_per_battle / (1 + s.single_chats_per_battle):
                self.single_chat(clock + r.uniform(0, spacing))
            if index in planted:
                self.malformed(clock + 1, planted[index])
            if r.random() < s.malformed_rate * 4:
                self.malformed(clock + 1, r.randrange(self.MALFORMED_KINDS))
        self.writer.close()
        self.truth.close()
        return self.counts


def _generate_day(settings: SynthSettings, day: dt.date, out: Path) -> dict:
    return _DayGenerator(settings, day, out).run()


def generate(out: Path, settings: SynthSettings, workers: int = 1) -> dict:
    """Write `settings.days` days of logs under `out`; returns counts. Deterministic for a seed."""
    out = Path(out)
    (out / "pii_ground_truth").mkdir(parents=True, exist_ok=True)
    days = [settings.start_date + dt.timedelta(days=i) for i in range(settings.days)]
    if workers > 1 and len(days) > 1:
        with ProcessPoolExecutor(max_workers=workers) as pool:
            per_day = list(pool.map(_generate_day, [settings] * len(days), days, [out] * len(days)))
    else:
        per_day = [_generate_day(settings, d, out) for d in days]
    totals = {key: sum(c[key] for c in per_day) for key in per_day[0]} if per_day else {}
    _merge_ground_truth(out)
    (out / "synth_settings.yaml").write_text(yaml.safe_dump(json.loads(json.dumps(asdict(settings), default=str))))
    return totals


def _merge_ground_truth(out: Path) -> None:
    """Two sidecar files: `pii_ground_truth.jsonl` (planted PII, in day order) and `canaries.txt` (every raw
    IP the logs hold, one a line: values that must never reach a public output)."""
    parts = sorted((out / "pii_ground_truth").glob("*.jsonl"))
    with open(out / "pii_ground_truth.jsonl", "w", encoding="utf-8") as merged:
        for part in parts:
            merged.write(part.read_text(encoding="utf-8"))
            part.unlink()
    ips: set[str] = set()
    for part in sorted((out / "pii_ground_truth").glob("*.canaries")):
        ips.update(part.read_text().split())
        part.unlink()
    (out / "canaries.txt").write_text("# raw IP addresses of the sample logs' users\n" + "".join(
        f"{ip}\n" for ip in sorted(ips)))
    (out / "pii_ground_truth").rmdir()
