"""Name gazetteer: given names and surnames from public lists, and the recognizer that uses them.

NER alone misses names it has not seen in context ("What should I get Wanjiru for ...") and names at
the start of a prompt. The gazetteer recognizes runs of capitalised words that are shaped like a
person's name: a known given name followed by a known surname (or by any name-shaped word when the
given name is not also an English word), a word that is no English word followed by a known surname, or
a known given name on its own when it is no English word.
The lists are data (redaction/data/, with their sources), loaded once per process.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from pathlib import Path

import regex
from presidio_analyzer import EntityRecognizer, RecognizerResult
from presidio_analyzer.nlp_engine import NlpArtifacts

PACKAGE_DIR = Path(__file__).parent

NAME_PARTICLES = frozenset(
    {"van", "von", "de", "da", "del", "della", "der", "den", "di", "du", "la", "le", "bin", "binti", "ibn",
     "al", "el", "dos", "das", "ter", "ten", "y", "st."}
)  # fmt: skip

# One capitalised name word: "Layla", "McCarthy", "O'Brien", "Jean-Luc".
_WORD = r"(?:Mc|Mac|O'|O’|D'|D’)?\p{Lu}\p{Ll}+(?:[-'’]\p{Lu}?\p{Ll}+)*"
_PARTICLE = "|".join(sorted((regex.escape(p) for p in NAME_PARTICLES), key=len, reverse=True))
# A run of name words on one line, particles allowed between them; not part of an identifier, a path, an
# email, a call or an attribute access.
_RUN = regex.compile(
    rf"(?<![\p{{L}}\p{{N}}_@./\\-]){_WORD}(?:[ \t]+(?:(?:{_PARTICLE})[ \t]+)*{_WORD})*(?![\p{{L}}\p{{N}}_@/\\(]|\.\w)"
)
_RUN_WORD = regex.compile(rf"{_WORD}|\S+")
# A name written in lower case right after a self-introduction ("my name is mark", "call me anna").
_LOWER_CASE_CUE = regex.compile(
    r"(?i:(?<![\p{L}])(?P<cue>my name is|my name's|call me|i am called|i'm|i am|this is)\s+)"
    r"(?P<first>\p{Ll}+)(?:\s+(?P<last>\p{Ll}+))?"
)
_STRONG_CUES = frozenset({"my name is", "my name's", "call me", "i am called"})
# A given name and a surname joined inside an identifier or a file name ("Sarah_Murphy_resume.pdf").
_IDENTIFIER_NAME = regex.compile(r"(?<![\p{L}\p{N}])(\p{Lu}\p{Ll}+)[_-](\p{Lu}\p{Ll}+)(?=[_.\-\p{N}]|$)")

# Recognition metadata key: the recognizer vouches for the span's shape (a lower-case or joined name).
SHAPE_CHECKED = "shape_checked"

# Second column of given_names.txt: the name is also an English verb/adjective/adverb, or noun.
_ENGLISH_WORD, _ENGLISH_NOUN = "word", "noun"


@dataclass(frozen=True)
class NameLists:
    """Given names (casefolded, with whether each is also an English word) and surnames (casefolded)."""

    given: dict[str, str]  # name -> "" or "word" or "noun"
    surnames: frozenset[str]
    english: frozenset[str]  # lower-case English words

    def is_given(self, word: str) -> bool:
        return word.casefold() in self.given

    def is_plain_given(self, word: str) -> bool:
        """A given name that is no English word, so a capitalised occurrence is almost surely a name."""
        return self.given.get(word.casefold()) == ""

    def is_surname(self, word: str) -> bool:
        return word.casefold() in self.surnames

    def is_english(self, word: str) -> bool:
        return word.casefold() in self.english


def _lines(path: Path) -> list[str]:
    return [line for line in path.read_text(encoding="utf-8").splitlines() if line.strip() and line[0] != "#"]


@cache
def load_name_lists(given_path: Path, surnames_path: Path, english_path: Path) -> NameLists:
    for path in (given_path, surnames_path, english_path):
        if not path.is_file():
            raise FileNotFoundError(f"name gazetteer file {path} does not exist")
    given: dict[str, str] = {}
    for line in _lines(given_path):
        name, _, kind = line.partition("\t")
        if kind not in ("", _ENGLISH_WORD, _ENGLISH_NOUN):
            raise ValueError(f"{given_path}: unknown name class {kind!r} for {name!r} (expected word or noun)")
        given[name.strip().casefold()] = kind
    surnames = frozenset(line.strip().casefold() for line in _lines(surnames_path))
    english = frozenset(line.strip().casefold() for line in _lines(english_path))
    return NameLists(given, surnames, english)


class GazetteerNameRecognizer(EntityRecognizer):
    """PERSON spans from the name lists (see the module docstring for the rules)."""

    MAX_NAME_WORDS = 3  # a longer run of capitalised words is a title or a heading, not a name

    def __init__(self, lists: NameLists, score: float) -> None:
        super().__init__(supported_entities=["PERSON"], name="GazetteerNameRecognizer", supported_language="en")
        self.lists = lists
        self.score = score

    def load(self) -> None:
        return None

    def analyze(
        self, text: str, entities: list[str], nlp_artifacts: NlpArtifacts | None = None
    ) -> list[RecognizerResult]:
        results = []
        for run in _RUN.finditer(text):
            words = [(m.start() + run.start(), m.group()) for m in _RUN_WORD.finditer(run.group())]
            capitalised = [(start, word) for start, word in words if word.casefold() not in NAME_PARTICLES]
            if not capitalised or len(capitalised) > self.MAX_NAME_WORDS:
                continue
            span = self._name_in(capitalised)
            if span is not None:
                results.append(self._result(span[0], span[1]))
        # These two are not shaped like names in prose, and say so, so the cleaner keeps them as they are.
        results += [self._result(start, end, True) for start, end in self._lower_case_names(text)]
        for match in _IDENTIFIER_NAME.finditer(text):
            if self.lists.is_given(match.group(1)) and self.lists.is_surname(match.group(2)):
                results.append(self._result(match.start(), match.end(), True))
        return results

    def _lower_case_names(self, text: str) -> list[tuple[int, int]]:
        """Lower-case names after a self-introduction: a known given name (after "i'm" or "this is", one
        that is no English word), with a known surname after it if there is one."""
        spans = []
        for match in _LOWER_CASE_CUE.finditer(text):
            first, last = match.group("first"), match.group("last")
            strong = match.group("cue").casefold() in _STRONG_CUES
            if not (self.lists.is_plain_given(first) or (strong and self.lists.is_given(first))):
                continue
            end = match.end("last") if last and self.lists.is_surname(last) and not self.lists.is_english(last) else (
                match.end("first")
            )
            spans.append((match.start("first"), end))
        return spans

    def _name_in(self, words: list[tuple[int, str]]) -> tuple[int, int] | None:
        """The name within a run: from the first given name (or an unknown word right before a known
        surname) to the run's end, if the rules accept it."""
        lists = self.lists
        last_start, last = words[-1]
        for index, (start, word) in enumerate(words):
            if not lists.is_given(word):
                if index == len(words) - 2 and lists.is_surname(last) and not lists.is_english(word):
                    return start, last_start + len(last)
                continue
            if index == len(words) - 1:
                return (start, start + len(word)) if lists.is_plain_given(word) else None
            if lists.is_surname(last) or lists.is_plain_given(word):
                return start, last_start + len(last)
            return None
        return None

    def _result(self, start: int, end: int, shape_checked: bool = False) -> RecognizerResult:
        return RecognizerResult(
            "PERSON",
            start,
            end,
            self.score,
            recognition_metadata={
                RecognizerResult.RECOGNIZER_NAME_KEY: self.name,
                RecognizerResult.RECOGNIZER_IDENTIFIER_KEY: self.id,
                SHAPE_CHECKED: shape_checked,
            },
        )
