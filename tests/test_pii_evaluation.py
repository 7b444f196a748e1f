"""The redaction benchmark's `--write-evaluation` document: what a release card's PII figures are made of."""

from __future__ import annotations

import json
from pathlib import Path

from bench.bench_redaction import evaluation_document, heldout_recall
from bench.heldout_pii import HeldOutCase

ROOT = Path(__file__).resolve().parents[1]


def test_the_evaluation_holds_group_and_entity_rows_with_counts_and_what_measured_them():
    cases = [
        HeldOutCase("names", "en", "Ask Ann Lee.", [("PERSON", 4, 11)]),
        HeldOutCase("names", "de", "Frag Jan Ott.", [("PERSON", 5, 12)]),
        HeldOutCase("structured", "en", "Mail a@b.io", [("EMAIL_ADDRESS", 5, 11)]),
        HeldOutCase("structured", "fr", "Écris à c@d.fr", [("EMAIL_ADDRESS", 8, 14)]),
        HeldOutCase("negative", "en", "The capital of France?"),
    ]
    found_en_name_and_fr_email = [[(4, 11)], [], [], [(8, 14)], [(0, 3)]]
    recall = heldout_recall(cases, {"project": found_en_name_and_fr_email})
    document = evaluation_document(recall, "test", 6, len(cases))
    figures = document["figures"]
    assert figures["names, en"] == {"rate": 1.0, "found": 1, "total": 1}
    assert figures["names, es/de/fr/pt/it"] == {"rate": 0.0, "found": 0, "total": 1}
    assert figures["structured, en"] == {"rate": 0.0, "found": 0, "total": 1}  # counted once, not twice
    assert figures["structured, EMAIL_ADDRESS"] == {"rate": 0.5, "found": 1, "total": 2}
    assert figures["hard negatives changed"] == {"rate": 1.0, "found": 1, "total": 1}
    assert "structured, fr" not in figures and "structured, fr" in recall  # single languages: bench output only
    assert document["split"] == "test"
    assert document["bench"] == "bench/bench_redaction.py --heldout test --per-template 6"
    assert "held-out 'test' split" in document["measured_on"] and document["measured_at"]


def test_the_committed_example_evaluation_was_written_by_the_bench():
    document = json.loads((ROOT / "release_configs" / "pii_evaluation.json").read_text())
    assert set(document) == {"measured_on", "bench", "split", "measured_at", "git_commit", "git_dirty", "figures"}
    assert document["split"] == "test" and len(document["git_commit"]) == 40
    assert all(set(f) == {"rate", "found", "total"} and 0 < f["total"] and f["found"] <= f["total"]
               for f in document["figures"].values())
