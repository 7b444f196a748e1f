"""Toxicity through the real Detoxify loading/scoring path (a tiny checkpoint built here) and the
real alt-profanity-check model."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pyarrow as pa
import pytest
from detoxify import Detoxify
from pydantic import ValidationError
from toxicity_fixtures import CLEAN_SENTENCES, TOXIC_SENTENCES, DetoxifyCheckpoint, build_checkpoint

from classifiers.cache import ResultCache
from classifiers.language import LanguageDetector
from classifiers.moderation import ModerationTagger
from classifiers.tagging import Classifiers, tag_battles, tag_conversations
from classifiers.toxicity import PARALLEL_MIN_TEXTS, ToxicityScorer, ToxicitySettings
from pipeline.schemas import BATTLES, CONVERSATIONS

DETOXIFY_LABELS = ["toxicity", "severe_toxicity", "obscene", "threat", "insult", "identity_attack"]


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory: pytest.TempPathFactory) -> DetoxifyCheckpoint:
    return build_checkpoint(tmp_path_factory.mktemp("detoxify"))


def detoxify_settings(checkpoint: DetoxifyCheckpoint, **options: object) -> ToxicitySettings:
    return ToxicitySettings(
        backend="detoxify", checkpoint=checkpoint.checkpoint, huggingface_config_path=checkpoint.config_dir, **options
    )


def test_detoxify_checkpoint_scores_toxic_text_high(checkpoint: DetoxifyCheckpoint) -> None:
    scorer = ToxicityScorer(detoxify_settings(checkpoint))

    toxic = scorer.score(TOXIC_SENTENCES + ["you are an idiot"])
    clean = scorer.score(CLEAN_SENTENCES + ["thanks for the poem"])

    assert scorer.labels == DETOXIFY_LABELS  # Detoxify's renamed Jigsaw classes
    assert all(scores["toxicity"] > 0.5 and scores["insult"] > 0.5 for scores in toxic)
    assert all(scores["toxicity"] < 0.5 and scores["threat"] < 0.5 for scores in clean)
    assert scorer.status.model.startswith("detoxify original") and "sha256:" in scorer.status.model_version


def test_batching_and_sorting_keep_each_score_with_its_text(checkpoint: DetoxifyCheckpoint) -> None:
    texts = [
        "have a nice day",
        "you are a stupid idiot and everyone knows it, go away",
        "hi",
        "please explain how photosynthesis works in green plants",
        "moron",
    ]
    reference = Detoxify(
        "original", checkpoint=str(checkpoint.checkpoint), huggingface_config_path=str(checkpoint.config_dir)
    )

    scores = ToxicityScorer(detoxify_settings(checkpoint, batch_size=2)).score(texts)

    for text, text_scores in zip(texts, scores, strict=True):
        alone = reference.predict([text, text])  # a batch of two: Detoxify squeezes single texts
        for label in DETOXIFY_LABELS:
            assert text_scores[label] == pytest.approx(alone[label][0], abs=1e-4)


def test_long_texts_are_truncated(checkpoint: DetoxifyCheckpoint) -> None:
    long_text = "you are a stupid idiot " * 2000  # far past 512 tokens and max_chars
    [scores] = ToxicityScorer(detoxify_settings(checkpoint, max_chars=500)).score([long_text])
    assert scores["toxicity"] > 0.5


def test_null_text_has_no_score(checkpoint: DetoxifyCheckpoint) -> None:
    assert ToxicityScorer(detoxify_settings(checkpoint)).score([None, "hi"])[0] is None


def test_cache_skips_seen_texts_and_is_per_model(checkpoint: DetoxifyCheckpoint, tmp_path: Path) -> None:
    cache_path = tmp_path / "toxicity.duckdb"
    texts = TOXIC_SENTENCES + CLEAN_SENTENCES
    first = ToxicityScorer(detoxify_settings(checkpoint), cache=ResultCache(cache_path))
    scores = first.score(texts)

    again = ToxicityScorer(detoxify_settings(checkpoint), cache=ResultCache(cache_path))
    assert again.score(texts) == scores
    assert again.status.counts["scored"] == 0 and again.status.counts["cached"] == len(texts)

    other_model = ToxicityScorer(cache=ResultCache(cache_path))  # profanity-check
    other_model.score(texts)
    assert other_model.status.counts["scored"] == len(texts)


class Interrupted(BaseException):
    """Stands for the process being killed between two batches."""


def test_interrupted_run_resumes_after_its_last_finished_batch(checkpoint: DetoxifyCheckpoint, tmp_path: Path) -> None:
    cache_path = tmp_path / "toxicity.duckdb"
    texts = [f"text number {i}" for i in range(10)]
    scorer = ToxicityScorer(detoxify_settings(checkpoint, batch_size=3), cache=ResultCache(cache_path))
    predict = scorer._backend.predict
    calls = []

    def predict_then_die(batch: list[str]) -> list[list[float]]:
        calls.append(batch)
        if len(calls) == 3:
            raise Interrupted
        return predict(batch)

    scorer._backend.predict = predict_then_die  # type: ignore[method-assign]
    with pytest.raises(Interrupted):
        scorer.score(texts)

    resumed = ToxicityScorer(detoxify_settings(checkpoint, batch_size=3), cache=ResultCache(cache_path))
    resumed.score(texts)
    assert resumed.status.counts["cached"] == 6 and resumed.status.counts["scored"] == 4


@pytest.fixture
def hub_offline(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """HF_HUB_OFFLINE=1 (huggingface_hub reads it once, at import) and an empty Hub cache."""
    import huggingface_hub.constants

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path / "hub-cache"))


@pytest.fixture(scope="module")
def official_layout(tmp_path_factory: pytest.TempPathFactory) -> DetoxifyCheckpoint:
    """The tiny checkpoint as the official ones are laid out: a Hub name as its model type, and a config
    directory without a label count (bert-base-uncased's own config.json has none)."""
    built = build_checkpoint(tmp_path_factory.mktemp("official"), hub_model_type="bert-base-uncased")
    config_file = built.config_dir / "config.json"
    config = json.loads(config_file.read_text())
    for key in ("id2label", "label2id", "num_labels"):
        config.pop(key, None)
    config_file.write_text(json.dumps(config))
    return built


def test_official_checkpoint_with_local_config_runs_offline(
    official_layout: DetoxifyCheckpoint, hub_offline: None
) -> None:
    scorer = ToxicityScorer(detoxify_settings(official_layout))

    toxic, clean = scorer.score(["you are a stupid idiot", "thank you for the helpful answer"])

    assert scorer.status.status == "ok" and scorer.labels == DETOXIFY_LABELS
    assert toxic is not None and clean is not None
    assert toxic["toxicity"] > 0.5 > clean["toxicity"]


def test_official_checkpoint_without_local_config_is_not_run(
    official_layout: DetoxifyCheckpoint, hub_offline: None, caplog: pytest.LogCaptureFixture
) -> None:
    scorer = ToxicityScorer(ToxicitySettings(backend="detoxify", checkpoint=official_layout.checkpoint))

    assert scorer.score(["you are a stupid idiot", None]) == [None, None]
    assert scorer.status.status == "not_run" and "huggingface_config_path" in scorer.status.reason
    assert scorer.status.counts["not_scored"] == 1
    assert "toxicity stage not run" in caplog.text


@pytest.mark.parametrize("missing", ["config.json", "tokenizer.json"])
def test_config_directory_without_config_or_tokenizer_is_not_run(
    official_layout: DetoxifyCheckpoint, tmp_path: Path, missing: str
) -> None:
    config_dir = tmp_path / "incomplete"
    shutil.copytree(official_layout.config_dir, config_dir)
    (config_dir / missing).unlink()
    settings = ToxicitySettings(
        backend="detoxify", checkpoint=official_layout.checkpoint, huggingface_config_path=config_dir
    )

    status = ToxicityScorer(settings).status

    assert status.status == "not_run" and str(config_dir) in status.reason
    assert ("config.json" if missing == "config.json" else "a tokenizer file") in status.reason


def test_missing_or_broken_weights_are_not_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))  # no cached official weights, and no network
    official = ToxicityScorer(ToxicitySettings(backend="detoxify", model_type="original"))
    missing = ToxicityScorer(ToxicitySettings(backend="detoxify", checkpoint=tmp_path / "missing.ckpt"))
    broken_file = tmp_path / "broken.ckpt"
    broken_file.write_bytes(b"not a checkpoint")
    broken = ToxicityScorer(ToxicitySettings(backend="detoxify", checkpoint=broken_file))

    assert official.status.status == "not_run" and "profanity-check" in official.status.reason
    assert missing.status.status == "not_run" and "does not exist" in missing.status.reason
    assert broken.status.status == "not_run" and "broken.ckpt" in broken.status.reason
    rows = [{name: None for name in CONVERSATIONS.names} | {"conversation": CONVERSATION}]
    tagged = tag_conversations(pa.Table.from_pylist(rows, schema=CONVERSATIONS), Classifiers(toxicity=missing))
    [toxicity] = tagged.column("toxicity").to_pylist()
    assert toxicity["flagged"] is None and toxicity["conversation_scores"] == [None, None]  # no default scores


def test_profanity_check_is_a_real_offline_model() -> None:
    scorer = ToxicityScorer(ToxicitySettings(backend="profanity-check"))

    toxic = scorer.score(["you are a stupid idiot", "shut the fuck up"])
    clean = scorer.score(["have a nice day", "please explain photosynthesis"])

    assert scorer.labels == ["toxicity"]
    assert all(scores["toxicity"] > 0.5 for scores in toxic)
    assert all(scores["toxicity"] < 0.5 for scores in clean)
    assert scorer.status.model.startswith("alt-profanity-check 1.9.1")


def test_settings_are_validated(tmp_path: Path, checkpoint: DetoxifyCheckpoint) -> None:
    with pytest.raises(ValidationError, match="only apply to the detoxify backend"):
        ToxicitySettings(backend="profanity-check", checkpoint=checkpoint.checkpoint)
    with pytest.raises(ValidationError):
        ToxicitySettings(threshold=2)
    with pytest.raises(ValueError, match="flag_label"):
        ToxicityScorer(ToxicitySettings(flag_label="insult"))  # profanity-check has only "toxicity"
    with pytest.raises(ValueError, match="unknown Detoxify model"):
        ToxicityScorer(ToxicitySettings(backend="detoxify", model_type="original-huge"))


CONVERSATION = [
    {"role": "user", "content": "what a lovely day for a walk"},
    {"role": "assistant", "content": "you are a stupid idiot"},
]
CLEAN = [{"role": "user", "content": "thank you for the helpful answer"}, {"role": "assistant", "content": "hi"}]


def classifiers_with(scorer: ToxicityScorer) -> Classifiers:
    return Classifiers(LanguageDetector(), ModerationTagger(environ={}), scorer)


def test_conversations_get_per_message_scores_and_a_flag(checkpoint: DetoxifyCheckpoint) -> None:
    scorer = ToxicityScorer(detoxify_settings(checkpoint, threshold=0.5))
    rows = [{name: None for name in CONVERSATIONS.names} | {"conversation": c} for c in (CONVERSATION, CLEAN, [])]

    tagged = tag_conversations(pa.Table.from_pylist(rows, schema=CONVERSATIONS), classifiers_with(scorer))

    toxic, clean, empty = tagged.column("toxicity").to_pylist()
    assert list(toxic) == ["flagged", "max_score", "conversation_scores"]
    assert [len(row["conversation_scores"]) for row in (toxic, clean, empty)] == [2, 2, 0]
    assert list(toxic["conversation_scores"][1]) == DETOXIFY_LABELS
    assert toxic["conversation_scores"][1]["toxicity"] > 0.5 > toxic["conversation_scores"][0]["toxicity"]
    assert [row["flagged"] for row in (toxic, clean, empty)] == [True, False, None]  # None: nothing to score
    assert toxic["max_score"] == toxic["conversation_scores"][1]["toxicity"]


def test_flag_threshold_is_configurable(checkpoint: DetoxifyCheckpoint) -> None:
    scorer = ToxicityScorer(detoxify_settings(checkpoint, threshold=0.999))
    rows = [{name: None for name in CONVERSATIONS.names} | {"conversation": CONVERSATION}]
    tagged = tag_conversations(pa.Table.from_pylist(rows, schema=CONVERSATIONS), classifiers_with(scorer))
    assert tagged.column("toxicity")[0]["flagged"].as_py() is False


def test_battles_are_flagged_over_both_sides(checkpoint: DetoxifyCheckpoint) -> None:
    scorer = ToxicityScorer(detoxify_settings(checkpoint))
    rows = [{name: None for name in BATTLES.names} | {"conversation_a": CLEAN, "conversation_b": CONVERSATION}]

    tagged = tag_battles(pa.Table.from_pylist(rows, schema=BATTLES), classifiers_with(scorer))

    [toxicity] = tagged.column("toxicity").to_pylist()
    assert toxicity["flagged"] is True
    assert len(toxicity["conversation_a_scores"]) == len(toxicity["conversation_b_scores"]) == 2
    assert toxicity["conversation_a_scores"][0]["toxicity"] < 0.5


def test_workers_score_large_batches_in_other_processes(tmp_path: Path) -> None:
    texts = [f"message {i}: " + ("you are a stupid idiot" if i % 3 == 0 else "have a nice day")
             for i in range(PARALLEL_MIN_TEXTS + 500)]
    serial = ToxicityScorer().score(texts)
    cache = ResultCache(tmp_path / "toxicity.duckdb")
    parallel = ToxicityScorer(ToxicitySettings(workers=2), cache=cache)

    def not_here(batch: list[str]) -> list[list[float]]:
        raise AssertionError("a large batch was scored in the parent process")

    parallel._backend.predict = not_here  # type: ignore[method-assign]  # the workers load their own model
    try:
        scores = parallel.score(texts)
    finally:
        parallel.close()

    assert scores == serial  # same scores, each with its own text, in order
    assert cache.count(parallel.model_identity) == len(texts)  # the parent cached every worker's answers
    assert parallel.status.counts["scored"] == len(texts)


def test_small_batches_stay_in_process_and_workers_are_validated() -> None:
    scorer = ToxicityScorer(ToxicitySettings(workers=2))
    scorer.score(["have a nice day", "you idiot"])
    assert not scorer._pool.started  # too few texts to be worth a process start
    on_gpu = ToxicityScorer(ToxicitySettings(workers=2))
    on_gpu._backend.on_gpu = True  # type: ignore[misc]  # as a Detoxify model on CUDA reports itself
    on_gpu.score([f"text {i}" for i in range(PARALLEL_MIN_TEXTS)])
    assert not on_gpu._pool.started and on_gpu.status.counts["scored"] == PARALLEL_MIN_TEXTS
    with pytest.raises(ValidationError):
        ToxicitySettings(workers=0)
