"""Name gazetteer: given names and surnames from public lists, and the recognizer that uses them.

NER alone misses names it has not seen in context ("What should I get Wanjiru for ...") and names at
the start of a prompt. The gazetteer recognizes runs of capitalised words that are shaped like a
person's name: a known given name followed by a known surname (or by any name-shaped word when the
given name is not also an English word), a word that is no English word followed by a known surname, or
a known given name on its own when it is no English word.
The lists are data (redaction/data/, with their sources), loaded once per process.
"""

from __future__ import annotations

import importlib
import unicodedata
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import regex
from presidio_analyzer import EntityRecognizer, RecognizerResult
from presidio_analyzer.nlp_engine import NlpArtifacts

PACKAGE_DIR = Path(__file__).parent

NAME_PARTICLES = frozenset(
    {"van", "von", "de", "da", "del", "della", "der", "den", "di", "du", "la", "le", "bin", "binti", "ibn",
     "al", "el", "dos", "das", "ter", "ten", "y", "st.", "lo", "li", "dal", "dalla", "dei", "degli", "do", "zu"}
)  # fmt: skip
# "y" joins two surnames ("Ortega y Gasset") but far more often two people ("Ana Ruiz y Luis Gil"): a run is
# not joined across it, so each person stays a name of its own.
_RUN_PARTICLES = NAME_PARTICLES - {"y"}

# Languages whose function words (spaCy's stop-word lists, shipped with spaCy) mark a capitalised word as
# no name: a sentence-initial "Mein" or "Ieri" before a name is not part of it.
FUNCTION_WORD_LANGUAGES = ("en", "es", "de", "fr", "pt", "it", "nl")


@cache
def function_words(language: str | None = None) -> frozenset[str]:
    """Casefolded stop words of one language, or of all FUNCTION_WORD_LANGUAGES."""
    languages = (language,) if language else FUNCTION_WORD_LANGUAGES
    return frozenset(
        word.casefold()
        for code in languages
        for word in importlib.import_module(f"spacy.lang.{code}.stop_words").STOP_WORDS
    )


def fold(word: str) -> str:
    """Casefolded and without accents: the name lists are written without them ("Benoît" is "benoit")."""
    decomposed = unicodedata.normalize("NFKD", word.casefold())
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch)).replace("’", "'")


# One capitalised name word: "Layla", "McCarthy", "O'Brien", "Jean-Luc".
_WORD = r"(?:Mc|Mac|O'|O’|D'|D’)?\p{Lu}\p{Ll}+(?:[-'’]\p{Lu}?\p{Ll}+)*"
_PARTICLE = "|".join(sorted((regex.escape(p) for p in _RUN_PARTICLES), key=len, reverse=True))
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
# A given name, a second given name written in lower case, and perhaps a surname ("Jose luis Vazquez").
_LOWER_CASE_SECOND_GIVEN = regex.compile(
    rf"(?<![\p{{L}}\p{{N}}_@./\\-])(?P<first>\p{{Lu}}\p{{Ll}}+)[ \t]+(?P<second>\p{{Ll}}{{3,}})"
    rf"(?:[ \t]+(?P<last>{_WORD}))?(?![\p{{L}}\p{{N}}_])"
)
# A given name and a surname joined inside an identifier or a file name ("Sarah_Murphy_resume.pdf").
_IDENTIFIER_NAME = regex.compile(r"(?<![\p{L}\p{N}])(\p{Lu}\p{Ll}+)[_-](\p{Lu}\p{Ll}+)(?=[_.\-\p{N}]|$)")

# What may stand before a name in mid-sentence: a lower-case word or a comma ("adressée à Noha Gallais").
_MID_SENTENCE_BEFORE = regex.compile(r"(?:\p{Ll}|,)[ \t]+$")
_LINE_WORD = regex.compile(r"\p{L}+")
# Where a sentence starts: a line's start, or after a full stop, ! or ?, with any opening quote or bracket.
_SENTENCE_START = regex.compile(r"(?:^|[.!?¡¿])[\s\"'“‘(¡¿]*$")

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
        return fold(word) in self.given

    def is_plain_given(self, word: str) -> bool:
        """A given name that is no English word, so a capitalised occurrence is almost surely a name."""
        return self.given.get(fold(word)) == ""

    def is_surname(self, word: str) -> bool:
        return fold(word) in self.surnames

    def is_english(self, word: str) -> bool:
        return word.casefold() in self.english

    def is_name(self, word: str) -> bool:
        return self.is_given(word) or self.is_surname(word)


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
        given[fold(name.strip())] = kind
    surnames = frozenset(fold(line.strip()) for line in _lines(surnames_path))
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
            if not capitalised or fold(run.group()) in country_names():
                continue
            if len(capitalised) > self.MAX_NAME_WORDS:
                # Capitalised nouns before a name ("Mein Kollege Udo Fabel"): only a known name at the end.
                span = self._name_in(capitalised[-self.MAX_NAME_WORDS :])
            else:
                span = self._name_in(capitalised) or self._unknown_name_in_foreign_prose(text, capitalised)
            if span is not None:
                results.append(self._result(span[0], span[1]))
        results += [self._result(start, end, True) for start, end in self._lower_case_second_given_names(text)]
        # These two are not shaped like names in prose, and say so, so the cleaner keeps them as they are.
        results += [self._result(start, end, True) for start, end in self._lower_case_names(text)]
        for match in _IDENTIFIER_NAME.finditer(text):
            if self.lists.is_given(match.group(1)) and self.lists.is_surname(match.group(2)):
                results.append(self._result(match.start(), match.end(), True))
        return results

    def _lower_case_second_given_names(self, text: str) -> list[tuple[int, int]]:
        """A known given name followed by a second one in lower case ("Jose luis", "Maria jose"), which
        must be no English word and no function word, and by the surname if one follows."""
        spans = []
        for match in _LOWER_CASE_SECOND_GIVEN.finditer(text):
            second = match.group("second")
            if not (self.lists.is_given(match.group("first")) and self.lists.is_plain_given(second)):
                continue
            if self.lists.is_english(second) or second.casefold() in function_words():
                continue
            last = match.group("last")
            known_last = last and (self.lists.is_surname(last) or not self.lists.is_english(last))
            spans.append((match.start(), match.end("last") if known_last else match.end("second")))
        return spans

    def _unknown_name_in_foreign_prose(self, text: str, words: list[tuple[int, str]]) -> tuple[int, int] | None:
        """Two or three capitalised words in mid-sentence on a line written in another Latin-script
        language than English, none of them an English word or a function word: a name the lists lack
        ("Scrivi una mail a Ullivieri Casasanta"). Outside English only capitalised nouns, names and
        places stand mid-sentence, and the English NER reads these lines poorly. A sentence's first word
        is capitalised by grammar, so three words that open a sentence are read as that word and two
        mid-sentence words ("Domani Chiarina Lento arriva")."""
        line_start = text.rfind("\n", 0, words[0][0]) + 1
        if len(words) == 3 and _SENTENCE_START.search(text, line_start, words[0][0]):
            words = words[1:]
        elif not (
            2 <= len(words) <= self.MAX_NAME_WORDS and _MID_SENTENCE_BEFORE.search(text, line_start, words[0][0])
        ):
            return None
        start, end = words[0][0], words[-1][0] + len(words[-1][1])
        if any(self.lists.is_english(word) or word.casefold() in function_words() for _, word in words):
            return None
        line_end = text.find("\n", end)
        line = text[line_start : line_end if line_end != -1 else None]
        return (start, end) if self._reads_foreign(line) else None

    def _reads_foreign(self, line: str) -> bool:
        """Whether a line is written in another language than English: more function words of the other
        FUNCTION_WORD_LANGUAGES than of English, or, where they tie, fewer English words than others."""
        english, other = function_words("en") - _other_language_function_words(), _non_english_function_words()
        words = [word.casefold() for word in _LINE_WORD.findall(line)]
        english_only, other_only = sum(word in english for word in words), sum(word in other for word in words)
        if english_only != other_only:
            return other_only > english_only
        return 2 * sum(self.lists.is_english(word) for word in words) < len(words)

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


@cache
def country_names() -> frozenset[str]:
    """Country and territory names in many languages, folded ("costa rica", "estados unidos"), from
    libphonenumber's locale data: two capitalised words that name a country name no person."""
    from phonenumbers.geodata.locale import LOCALE_DATA

    return frozenset(fold(name) for names in LOCALE_DATA.values() for name in names.values() if name[0] != "*")


@cache
def _other_language_function_words() -> frozenset[str]:
    """Function words of the FUNCTION_WORD_LANGUAGES other than English ("in" is among them)."""
    return frozenset().union(*(function_words(code) for code in FUNCTION_WORD_LANGUAGES if code != "en"))


@cache
def _non_english_function_words() -> frozenset[str]:
    """Function words of the other languages that are no English function words."""
    return _other_language_function_words() - function_words("en")
