"""classifiers/fasttext_model.py against fasttext-predict: the same label, the same probability to 1e-5.

The shipped lid.176 (product-quantized, pruned, hierarchical softmax) is read on the project's real Arena
prompts; small dense models written here in fastText's own file format cover the softmax loss and
unpruned n-gram buckets, read by both.
"""

from __future__ import annotations

import json
import random
import struct
from pathlib import Path

import fasttext
import numpy as np
import pyarrow as pa
import pytest
import yaml

from classifiers.fasttext_model import MAGIC, VERSION, FastTextModel, UnsupportedModel
from classifiers.language import shipped_model_path

PROMPTS = Path(__file__).resolve().parents[1] / "pipeline" / "data" / "prompts"
UNUSUAL_LINES = [
    "",
    "a",
    "hello </s> bonjour, tout le monde est là",  # fastText stops reading at a literal end-of-sentence word
    "</s>",
    "__label__fr __label__de hello there",  # label-like words are not read as words
    "tabs\tand\x0bvertical\x0cfeeds\x00nul  double  spaces",
    "\u3000ideographic\xa0no-break spaces are not separators to fastText",
    "emoji 😀👍🏽 and combining é and 日本語の文",
    "x" * 500,
    "ünïcödé" * 40,
]


def real_prompts() -> list[str]:
    """The bundled Arena-Hard and MT-bench prompts, and the generator's prompts in 20-odd languages."""
    languages = yaml.safe_load((PROMPTS.parent / "synth" / "languages.yaml").read_text(encoding="utf-8"))
    texts = [prompt for language in languages.values() for prompt in language["prompts"]]
    for name in ("arena_hard_v0.1_question.jsonl", "mt_bench_question.jsonl"):
        for line in (PROMPTS / name).read_text(encoding="utf-8").splitlines():
            record = json.loads(line)
            texts.extend(record.get("turns") or [record["prompt"]])
    return texts


def readings(texts: list[str]) -> list[str]:
    """Lines as the language stage hands them over: one line, trimmed, at a few lengths."""
    lines = [" ".join(text.split("\n")).strip() for text in texts]
    return [line[:length] for line in lines for length in (16, 64, 400)] + UNUSUAL_LINES


def assert_reads_like_fasttext(path: Path, lines: list[str]) -> None:
    predict = fasttext.load_model(str(path)).f.predict
    model = FastTextModel(path)
    got = model.predict(pa.array(lines, pa.string()))
    for line, label, probability in zip(lines, got.labels, got.probabilities, strict=True):
        [(expected_probability, expected_label)] = predict(line + "\n", 1, 0.0, "replace")
        assert model.labels[label] == expected_label, line
        assert probability == pytest.approx(expected_probability, abs=1e-5), line


def test_lid176_reads_real_prompts_like_fasttext() -> None:
    lines = readings(real_prompts())
    assert len(lines) > 1_900
    assert_reads_like_fasttext(shipped_model_path(), lines)
    labels = FastTextModel(shipped_model_path()).predict(pa.array(lines, pa.string())).labels
    assert len(set(labels.tolist())) >= 20


def test_an_answer_does_not_depend_on_the_batch() -> None:
    lines = readings(real_prompts()[:300])
    model = FastTextModel(shipped_model_path())
    together = model.predict(pa.array(lines, pa.string()))
    shuffled = list(range(len(lines)))
    random.Random(7).shuffle(shuffled)
    fresh = FastTextModel(shipped_model_path())
    apart = fresh.predict(pa.array([lines[index] for index in shuffled[:100]], pa.string()))
    again = fresh.predict(pa.array([lines[index] for index in shuffled], pa.string()))
    assert np.array_equal(again.probabilities, together.probabilities[shuffled])
    assert np.array_equal(apart.probabilities, together.probabilities[shuffled[:100]])
    assert np.array_equal(again.labels, together.labels[shuffled])
    forgetful = FastTextModel(shipped_model_path(), remembered_tokens=64)  # starts its table again every call
    for start in range(0, len(lines), 50):
        part = forgetful.predict(pa.array(lines[start : start + 50], pa.string()))
        assert np.array_equal(part.probabilities, together.probabilities[start : start + 50])


def write_dense_model(path: Path, loss: int, dim: int = 8, bucket: int = 997, seed: int = 0) -> None:
    """A supervised fastText model file (version 12, dense matrices, no pruning) with random weights."""
    rng = np.random.default_rng(seed)
    words = ["</s>", "the", "cat", "le", "chat", "der", "katze", "sat", "on", "mat"]
    labels = ["__label__en", "__label__fr", "__label__de", "__label__xx", "__label__yy"]
    entries = [(word, 1000 - index, 0) for index, word in enumerate(words)]
    entries += [(label, 500 - 70 * index, 1) for index, label in enumerate(labels)]
    args = (dim, 5, 5, 1, 5, 1, loss, 3, bucket, 2, 4, 100)
    with path.open("wb") as out:
        out.write(struct.pack("<ii", MAGIC, VERSION) + struct.pack("<12id", *args, 1e-4))
        out.write(struct.pack("<iiiqq", len(entries), len(words), len(labels), 10_000, -1))
        for word, count, kind in entries:
            out.write(word.encode() + b"\0" + struct.pack("<qb", count, kind))
        out.write(struct.pack("<?qq", False, len(words) + bucket, dim))
        out.write(rng.normal(0, 1, (len(words) + bucket, dim)).astype("<f4").tobytes())
        out.write(struct.pack("<?qq", False, len(labels), dim))
        out.write(rng.normal(0, 1, (len(labels), dim)).astype("<f4").tobytes())


@pytest.mark.parametrize(("loss", "name"), [(1, "hierarchical softmax"), (3, "softmax")])
def test_dense_unpruned_models_read_like_fasttext(tmp_path: Path, loss: int, name: str) -> None:
    path = tmp_path / "model.bin"
    write_dense_model(path, loss)
    rng = random.Random(loss)
    vocabulary = ["the", "cat", "le", "chat", "der", "katze", "sat", "on", "mat", "zebra", "été", "猫"]
    lines = [" ".join(rng.choices(vocabulary, k=rng.randint(1, 12))) for _ in range(400)] + UNUSUAL_LINES
    assert_reads_like_fasttext(path, lines)
    assert len(set(FastTextModel(path).predict(pa.array(lines, pa.string())).labels.tolist())) >= 3, name


def test_files_it_does_not_implement_are_refused(tmp_path: Path) -> None:
    not_a_model = tmp_path / "notes.bin"
    not_a_model.write_bytes(b"not a fastText model at all")
    with pytest.raises(UnsupportedModel, match="not a fastText version-12 model"):
        FastTextModel(not_a_model)
    negative_sampling = tmp_path / "ns.bin"
    write_dense_model(negative_sampling, loss=2)
    with pytest.raises(UnsupportedModel, match="loss=2"):
        FastTextModel(negative_sampling)
    truncated = tmp_path / "truncated.bin"
    write_dense_model(truncated, loss=3)
    truncated.write_bytes(truncated.read_bytes()[:-40])
    with pytest.raises(UnsupportedModel, match="ends early"):
        FastTextModel(truncated)
