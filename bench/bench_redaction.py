"""Benchmark of PII redaction: per-entity precision and recall, false positives on real prompts, speed.

Held-out comparison (first, and alone with --heldout-only): bench/heldout_pii.py's sets (templates in
nine languages filled by mimesis, a generator the recognizers were not written from; split dev/test, the
test split never tuned on), redacted by the release redactor and by vanilla Presidio (AnalyzerEngine,
its default recognizers, en_core_web_sm) in the same process: recall per category, language group and
entity type, hard negatives changed, and texts/s of each over the same texts on one core.

Quality sets:
  generated  prompts from pipeline.fake_pii (seeded) with the planted values as ground truth;
  hand       pipeline/data/pii/labelled_cases.yaml, hard spots written and labelled by hand;
  arena      the 500 real Arena-Hard prompts, PII hand-labelled in pipeline/data/pii/arena_hard_pii_labels.yaml:
             recall on the labelled values, and the share of prompts without PII that redaction changed.
             These prompts were looked at while the rules were developed, so they flatter the rules;
  mt-bench   the 160 MT-bench turns, hand-labelled (mt_bench_pii_labels.yaml) after the rules were frozen:
             the held-out check of the same figures.
A gold span counts as found when detections cover it entirely (any type: what matters is that nothing
leaks); "partial" counts gold spans left partly visible. A detection counts as correct when it overlaps
a gold span. Each set is run with NER on and pattern-only.

Speed (wall and CPU seconds; on a shared machine CPU seconds are the steadier figure): distinct chat turns
(the real prompts plus generated ones, no repeats) in two-turn conversations
through TableRedactor with worker processes and no cache, timed once the workers have loaded their
models (start-up printed apart); then the same table again with every text already in the cache.

With --write-evaluation JSON, the release redactor's held-out figures (per language group and entity type,
with counts, the split, date and commit) are written as a release config's `card.pii_evaluation`.

Usage: .venv/bin/python bench/bench_redaction.py [--heldout test] [--heldout-only] [--generated 1000]
       [--turns 3000] [--workers 2] [--write-evaluation release_configs/pii_evaluation.json]
"""

from __future__ import annotations

import argparse
import datetime
import json
import logging
import os
import random
import resource
import statistics
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.heldout_pii import LANGUAGE_GROUPS, LANGUAGES, HeldOutCase, heldout_cases  # noqa: E402
from pipeline.fake_pii import ENTITY_TYPES, PII_DATA_DIR, make_pii_prompt  # noqa: E402
from pipeline.manifest import code_version  # noqa: E402
from pipeline.schemas import CONVERSATION  # noqa: E402
from redaction import RedactionSettings, Redactor  # noqa: E402
from redaction.placeholders import occurrences, redact_with_placeholders  # noqa: E402
from redaction.table import TableRedactor  # noqa: E402

STRUCTURED = tuple(entity for entity in ENTITY_TYPES if entity != "PERSON")


@dataclass(frozen=True)
class Case:
    text: str
    gold: list[tuple[str, int, int]]  # (entity type, start, end)


def generated_cases(count: int, seed: int) -> list[Case]:
    rng = random.Random(seed)
    cases = []
    for _ in range(count):
        text, planted = make_pii_prompt(rng)
        cases.append(Case(text, [(p.entity_type, p.start, p.end) for p in planted]))
    return cases


def _gold_from_values(text: str, values: list[list[str]]) -> list[tuple[str, int, int]]:
    gold = []
    for entity_type, value in values:
        spans = occurrences(text, value)
        if not spans:
            raise ValueError(f"labelled value {value!r} does not occur in its text")
        gold += [(entity_type, start, end) for start, end in spans]
    return gold


def hand_cases() -> list[Case]:
    data = yaml.safe_load((PII_DATA_DIR / "labelled_cases.yaml").read_text(encoding="utf-8"))
    return [Case(case["text"], _gold_from_values(case["text"], case["pii"])) for case in data["cases"]]


def arena_cases(path: Path) -> list[Case]:
    labels = yaml.safe_load((PII_DATA_DIR / "arena_hard_pii_labels.yaml").read_text(encoding="utf-8"))["prompts"]
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    unknown = set(labels) - {row["uid"] for row in rows}
    if unknown:
        raise ValueError(f"labels for uids not in {path}: {sorted(unknown)}")
    return [Case(row["prompt"], _gold_from_values(row["prompt"], labels.get(row["uid"], []))) for row in rows]


def mt_bench_cases(path: Path) -> list[Case]:
    labels = yaml.safe_load((PII_DATA_DIR / "mt_bench_pii_labels.yaml").read_text(encoding="utf-8"))["turns"]
    turns = {
        f"{row['question_id']}.{index}": text
        for row in map(json.loads, path.read_text(encoding="utf-8").splitlines())
        for index, text in enumerate(row["turns"])
    }
    unknown = set(labels) - set(turns)
    if unknown:
        raise ValueError(f"labels for turns not in {path}: {sorted(unknown)}")
    return [Case(text, _gold_from_values(text, labels.get(key, []))) for key, text in turns.items()]


def redact_cases(redactor: Redactor, cases: list[Case]) -> list[list[tuple[str, int, int]]]:
    """Predicted spans per case: each case is its own group, analysed in one batch."""
    texts = [case.text for case in cases]
    detections = redactor.analyzer.analyze(texts)
    predicted = []
    for text, found in zip(texts, detections, strict=True):
        result = redact_with_placeholders([text], [found], redactor.settings, redactor.anonymizer)
        predicted.append([(s.entity_type, s.start, s.end) for s in result.spans])
    return predicted


def score(cases: list[Case], predicted: list[list[tuple[str, int, int]]]) -> dict:
    gold_total, gold_found, gold_partial = Counter(), Counter(), Counter()
    predicted_total, predicted_correct = Counter(), Counter()
    confused = 0
    for case, spans in zip(cases, predicted, strict=True):
        for entity_type, start, end in case.gold:
            covered = sum(max(0, min(end, e) - max(start, s)) for _, s, e in spans)
            gold_total[entity_type] += 1
            gold_found[entity_type] += covered >= end - start
            gold_partial[entity_type] += 0 < covered < end - start
        for entity_type, start, end in spans:
            overlapping = [g for g in case.gold if g[1] < end and start < g[2]]
            predicted_total[entity_type] += 1
            predicted_correct[entity_type] += bool(overlapping)
            confused += bool(overlapping) and all(g[0] != entity_type for g in overlapping)
    return {
        "gold": gold_total,
        "found": gold_found,
        "partial": gold_partial,
        "predicted": predicted_total,
        "correct": predicted_correct,
        "confused": confused,
    }


def _ratio(numerator: int, denominator: int) -> str:
    return f"{numerator / denominator:.3f}" if denominator else "  -  "


def print_scores(title: str, result: dict) -> None:
    print(f"\n{title}")
    print(f"  {'entity':<14}{'gold':>6}{'recall':>8}{'partial':>8}{'pred':>6}{'precision':>10}")
    for entity in ENTITY_TYPES:
        gold, found = result["gold"][entity], result["found"][entity]
        predicted, correct = result["predicted"][entity], result["correct"][entity]
        if gold or predicted:
            print(
                f"  {entity:<14}{gold:>6}{_ratio(found, gold):>8}{result['partial'][entity]:>8}"
                f"{predicted:>6}{_ratio(correct, predicted):>10}"
            )
    structured_gold = sum(result["gold"][e] for e in STRUCTURED)
    structured_found = sum(result["found"][e] for e in STRUCTURED)
    all_predicted, all_correct = sum(result["predicted"].values()), sum(result["correct"].values())
    print(
        f"  structured recall {_ratio(structured_found, structured_gold)} ({structured_found}/{structured_gold}); "
        f"person recall {_ratio(result['found']['PERSON'], result['gold']['PERSON'])}; "
        f"overall precision {_ratio(all_correct, all_predicted)}; type confusions {result['confused']}"
    )


def print_unchanged(cases: list[Case], predicted: list[list[tuple[str, int, int]]], show: int) -> None:
    clean = [(case, spans) for case, spans in zip(cases, predicted, strict=True) if not case.gold]
    changed = [(case, spans) for case, spans in clean if spans]
    print(
        f"  texts without PII: {len(clean)}; changed by redaction: {len(changed)} "
        f"({len(changed) / len(clean):.1%}); texts with PII: {len(cases) - len(clean)}"
    )
    for case, spans in changed[:show]:
        print("    changed:", [(t, case.text[s:e]) for t, s, e in spans][:6])


def find_data(explicit: Path | None, name: str) -> Path:
    """The project's copy of a data file, else the shared one."""
    for candidate in (explicit, ROOT / "pipeline" / "data" / "prompts" / name, ROOT.parent / "shared" / "data" / name):
        if candidate is not None and candidate.exists():
            return candidate
    raise SystemExit(f"{name} not found; pass its path")


def speed_turns(cases: list[Case], count: int, seed: int) -> list[str]:
    """`count` distinct turns: the real prompts and MT-bench turns, then generated prompts."""
    texts = list(dict.fromkeys(case.text for case in cases))
    rng = random.Random(seed + 1)
    seen = set(texts)
    while len(texts) < count:
        text = make_pii_prompt(rng)[0]
        if text not in seen:
            seen.add(text)
            texts.append(text)
    rng.shuffle(texts)
    return texts[:count]


def conversations_table(turns: list[str]) -> pa.Table:
    conversations = [
        [{"content": turns[i], "role": "user"}, {"content": turns[i + 1], "role": "assistant"}]
        for i in range(0, len(turns) - 1, 2)
    ]
    return pa.table(
        {"id": [str(i) for i in range(len(conversations))], "conversation": pa.array(conversations, type=CONVERSATION)}
    )


def _cpu_seconds() -> float:
    """CPU seconds of this process and of its finished children (worker processes count once reaped)."""
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def measure_speed(settings: RedactionSettings, label: str, table: pa.Table, workers: int, chars: int) -> None:
    turns = 2 * table.num_rows
    texts = [message["content"] for row in table.column("conversation").to_pylist() for message in row]
    analyzer = Redactor(settings).analyzer
    started, cpu = time.perf_counter(), time.process_time()
    analyzer.analyze(texts)
    single, single_cpu = time.perf_counter() - started, time.process_time() - cpu
    print(
        f"  {label:<13} analysis alone in this one process: {turns / single:,.0f} turns/s wall, "
        f"{turns / single_cpu:,.0f} turns per CPU-second ({single_cpu / turns * 1000:.2f} ms CPU a turn)"
    )
    cpu = _cpu_seconds()
    started = time.perf_counter()
    with TableRedactor(settings, workers=workers) as redactor:
        startup = time.perf_counter() - started
        started = time.perf_counter()
        output = redactor.redact(table, ["conversation"], "id")
        steady = time.perf_counter() - started
    total_cpu = _cpu_seconds() - cpu
    print(
        f"  {label:<13} {turns} turns in {steady:.1f}s = {turns / steady:,.0f} turns/s ({chars / steady:,.0f} chars/s) "
        f"once the workers are up ({startup:.1f}s to start them; {turns / (startup + steady):,.0f} turns/s counting "
        f"that); {output.table['redacted'].to_pylist().count(True)} rows redacted, {output.failures.num_rows} failed"
    )
    print(
        f"  {label:<13} CPU, all processes, worker start-up included: {total_cpu:.1f}s "
        f"({turns / total_cpu:,.0f} turns per CPU-second)"
    )
    with (
        tempfile.TemporaryDirectory() as scratch,
        TableRedactor(settings, workers=workers, cache_path=Path(scratch) / "cache.duckdb") as redactor,
    ):
        redactor.redact(table, ["conversation"], "id")
        started = time.perf_counter()
        redactor.redact(table, ["conversation"], "id")
        warm = time.perf_counter() - started
    print(f"  {label:<13} same table again, every text in the cache: {warm:.2f}s ({turns / warm:,.0f} turns/s)")


# --- held-out comparison with vanilla Presidio ------------------------------------------------------


def vanilla_presidio(model: str):
    """Presidio as it ships: AnalyzerEngine, its default recognizers, the spaCy model for English."""
    from presidio_analyzer import AnalyzerEngine
    from presidio_analyzer.nlp_engine import NlpEngineProvider

    logging.getLogger("tldextract").setLevel(logging.CRITICAL)  # its online suffix-list fetch fails offline

    provider = NlpEngineProvider(
        nlp_configuration={"nlp_engine_name": "spacy", "models": [{"lang_code": "en", "model_name": model}]}
    )
    return AnalyzerEngine(nlp_engine=provider.create_engine(), supported_languages=["en"])


def _covered(spans: list[tuple[int, int]], start: int, end: int) -> bool:
    return all(any(s <= position < e for s, e in spans) for position in range(start, end))


def run_heldout(cases: list[HeldOutCase], redactor: Redactor, vanilla) -> dict[str, list[list[tuple[int, int]]]]:
    """Spans each system redacts in each case, and its texts/s over all of them (after a warm-up)."""
    texts = [case.text for case in cases]
    # Warm-up: one text per language loads every model (the script models load on first use).
    redactor.redact_group(list({case.language: case.text for case in cases}.values()))
    vanilla.analyze(texts[0], language="en")
    started = time.perf_counter()
    # As the release runs: NER in batches, then each text's placeholders (and propagated mentions).
    detections = redactor.analyzer.analyze(texts)
    ours = [
        [(span.start, span.end) for span in
         redact_with_placeholders([text], [found], redactor.settings, redactor.anonymizer).spans]
        for text, found in zip(texts, detections, strict=True)
    ]
    ours_s = time.perf_counter() - started
    started = time.perf_counter()
    theirs = [[(r.start, r.end) for r in vanilla.analyze(text, language="en")] for text in texts]
    theirs_s = time.perf_counter() - started
    print(f"speed over the same {len(texts)} texts, one process: project {len(texts) / ours_s:.1f} texts/s, "
          f"vanilla Presidio {len(texts) / theirs_s:.1f} texts/s ({theirs_s / ours_s:.1f}x)")
    return {"project": ours, "vanilla Presidio": theirs}


def heldout_recall(cases: list[HeldOutCase], predictions: dict[str, list[list[tuple[int, int]]]]
                   ) -> dict[str, dict[str, tuple[int, int]]]:
    """Row -> system -> (found, total): recall per category x language group / entity type / secret kind, and
    the share of texts changed among hard negatives and public figures."""
    rows: dict[str, dict[str, list[int]]] = {}

    def add(row: str, system: str, found: int, total: int) -> None:
        cell = rows.setdefault(row, {}).setdefault(system, [0, 0])
        cell[0] += found
        cell[1] += total

    group_of = {language: group for group, languages in LANGUAGE_GROUPS.items() for language in languages}
    for system, spans_per_case in predictions.items():
        for case, spans in zip(cases, spans_per_case, strict=True):
            if case.category in ("negative", "public"):
                label = "hard negatives changed" if case.category == "negative" else "public figures redacted"
                add(label, system, bool(spans), 1)
                continue
            for entity, start, end in case.gold:
                found = int(_covered(spans, start, end))
                if case.category == "names":
                    add(f"names, {group_of[case.language]}", system, found, 1)
                elif case.category == "structured":
                    add(f"structured, {'en' if case.language == 'en' else 'other languages'}", system, found, 1)
                    add(f"structured, {entity}", system, found, 1)
                    if case.language != "en":  # "structured, en" is both the group and the language
                        add(f"structured, {case.language}", system, found, 1)
                elif case.category == "address":
                    add("addresses", system, found, 1)
                    add(f"addresses, {case.language}", system, found, 1)
                else:
                    add(f"secrets, {case.category.split(':', 1)[1]}", system, found, 1)
                    add("secrets, all", system, found, 1)
    return {row: {system: tuple(cell) for system, cell in rows[row].items()} for row in sorted(rows, key=_row_order)}


def print_heldout_table(recall: dict[str, dict[str, tuple[int, int]]], systems: list[str]) -> None:
    """The held-out figures as markdown rows, one column per system."""
    print("| | " + " | ".join(systems) + " |")
    print("|---|" + "---|" * len(systems))
    for row, cells in recall.items():
        shown = [cells.get(system, (0, 0)) for system in systems]
        print(f"| {row} | " + " | ".join(f"{found / total:.3f} ({found}/{total})" for found, total in shown) + " |")


def evaluation_document(recall: dict[str, dict[str, tuple[int, int]]], split: str, per_template: int,
                        texts: int) -> dict:
    """What a release config's `card.pii_evaluation` names: the release redactor's held-out figures per
    language group and entity type (single-language rows left out), with counts, and what produced them."""
    version = code_version()
    figures = {
        row: {"rate": round(found / total, 3), "found": found, "total": total}
        for row, cells in recall.items()
        if "project" in cells and not _single_language_row(row)
        for found, total in [cells["project"]]
    }
    return {
        "measured_on": (f"the held-out {split!r} split of bench/heldout_pii.py ({texts} texts in {len(LANGUAGES)} "
                        f"languages, {per_template} fillings per template, values from mimesis; never tuned on), "
                        "redacted by the release redactor with NER on"),
        "bench": f"bench/bench_redaction.py --heldout {split} --per-template {per_template}",
        "split": split,
        "measured_at": datetime.date.today().isoformat(),
        "git_commit": version["git_commit"],
        "git_dirty": version["git_dirty"],
        "figures": figures,
    }


def _single_language_row(row: str) -> bool:
    """A row of one language only ("addresses, de"), where the card shows language groups."""
    kind, _, language = row.rpartition(", ")
    return kind in ("structured", "addresses") and language in LANGUAGES and row != "structured, en"


def _row_order(row: str) -> tuple[int, str]:
    order = ("names", "structured, en", "structured, other", "structured", "addresses", "secrets", "hard", "public")
    return next(i for i, prefix in enumerate(order) if row.startswith(prefix)), row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--generated", type=int, default=1000, help="generated prompts for the quality check")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--prompts", type=Path, default=None, help="Arena-Hard prompts JSONL (uid, prompt)")
    parser.add_argument("--mt-bench", type=Path, default=None, help="MT-bench questions JSONL (question_id, turns)")
    parser.add_argument("--turns", type=int, default=6000, help="chat turns for the speed check (0: skip)")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--show", type=int, default=10, help="changed texts without PII to print per set")
    parser.add_argument("--heldout", choices=("dev", "test", "none"), default="test",
                        help="held-out split to compare with vanilla Presidio (report test; tune on dev only)")
    parser.add_argument("--per-template", type=int, default=6, help="fillings of each held-out template")
    parser.add_argument("--heldout-only", action="store_true", help="stop after the held-out comparison")
    parser.add_argument("--write-evaluation", type=Path, default=None, metavar="JSON",
                        help="write the held-out figures of the release redactor as a release config's "
                             "card.pii_evaluation (e.g. release_configs/pii_evaluation.json)")
    args = parser.parse_args()
    if args.write_evaluation and args.heldout == "none":
        parser.error("--write-evaluation needs a held-out split (--heldout test)")

    if args.heldout != "none":
        cases = heldout_cases(args.heldout, args.per_template)
        settings = RedactionSettings.default()
        print(f"=== held-out {args.heldout!r}: {len(cases)} texts, vanilla Presidio on {settings.ner.spacy_model}")
        predictions = run_heldout(cases, Redactor(settings), vanilla_presidio(settings.ner.spacy_model))
        recall = heldout_recall(cases, predictions)
        print_heldout_table(recall, list(predictions))
        if args.write_evaluation:
            document = evaluation_document(recall, args.heldout, args.per_template, len(cases))
            args.write_evaluation.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
            print(f"wrote {args.write_evaluation}: the card's PII figures (release config `card.pii_evaluation`)")
        if args.show:
            misses = [(c, s) for c, s in zip(cases, predictions["project"], strict=True)
                      if any(not _covered(s, a, b) for _, a, b in c.gold) or (c.category == "negative" and s)]
            for case, spans in misses[: args.show]:
                print(f"  miss/fp [{case.category} {case.language}] {case.text!r} redacted {spans}")
        if args.heldout_only:
            return

    prompts = find_data(args.prompts, "arena_hard_v0.1_question.jsonl")
    mt_bench = find_data(args.mt_bench, "mt_bench_question.jsonl")
    sets = {
        f"generated prompts (seed {args.seed})": generated_cases(args.generated, args.seed),
        "hand-labelled cases": hand_cases(),
        "Arena-Hard prompts (used while developing the rules)": arena_cases(prompts),
        "MT-bench turns (held out: labelled after the rules were frozen)": mt_bench_cases(mt_bench),
    }
    modes = {
        "NER on": RedactionSettings.default(),
        "pattern-only": RedactionSettings.default(ner={"enabled": False}),
    }
    print(f"real prompts: {prompts}, {mt_bench}")
    for mode, settings in modes.items():
        redactor = Redactor(settings)
        print(f"\n=== {mode} ({settings.ner.spacy_model if settings.ner.enabled else 'no NER'})")
        for title, cases in sets.items():
            predicted = redact_cases(redactor, cases)
            print_scores(f"{title}, n={len(cases)}", score(cases, predicted))
            if not title.startswith("generated"):
                print_unchanged(cases, predicted, args.show)

    if args.turns:
        real = [case for title, cases in sets.items() if title.startswith(("Arena", "MT")) for case in cases]
        turns = speed_turns(real, args.turns, args.seed)
        table = conversations_table(turns)
        chars = sum(len(turn) for turn in turns[: 2 * table.num_rows])
        load = ", ".join(f"{value:.1f}" for value in os.getloadavg())
        print(
            f"\n=== speed: {2 * table.num_rows} distinct turns, mean {statistics.mean(map(len, turns)):.0f} chars, "
            f"median {statistics.median(map(len, turns)):.0f}; {args.workers} worker processes on "
            f"{os.cpu_count()} CPUs (load average {load} before the runs: other work shares them)"
        )
        for mode, settings in modes.items():
            measure_speed(settings, mode, table, args.workers, chars)


if __name__ == "__main__":
    main()
