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
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import regex
from presidio_analyzer import EntityRecognizer, RecognizerResult
from presidio_analyzer.nlp_engine import NlpArtifacts

from redaction.settings import relation_alternation

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

# English frames only a person stands in, for a name NER missed and the lists cannot vouch for alone
# ("Tell Rebecca that ...", "What should I get Aminata for ...", "Jian is my sister", "Ling's birthday"):
# the verbs take a person as their object, or the words after the name say what a person is or does. After
# a `label` (a salutation, a name field, "a trip with"), which things share with people ("name: Admin"),
# the name needs two words or a known given name. A name joined to a cued one by "and" stands in the same
# frame ("a trip with Grace Singh and Rebecca Park"). The strongest cues are `_STRONG_PERSON_CUES`: after them
# even a word that is also English is a name when it stands alone, capitalised, in a sentence that goes on
# ("Tell Raj that ...", "get Ling for her birthday", "Raj is my brother"), never in a heading ("Get Help").
_STRONG_PERSON_CUES = (
    r"tell|remind|thank|invite|congratulate|forgive|hug|marry|(?:talk|speak|apologi[sz]e) to"
    r"|say (?:hi|hello|sorry|thanks|goodbye) to|me and"
)
_PERSON_OBJECT_CUE = regex.compile(
    rf"(?<![\p{{L}}-])(?i:{_STRONG_PERSON_CUES}|ask|email|e-mail|text|call|meet|visit|wish|convince|persuade|message|ping"
    r"|introduce|get|buy|give|pay|hire"
    r"|(?:write|reply|lie|lied|listen|explain (?:it|this|that)|email|e-mail|text|message|send (?:it|this|that)) to"
    r"|(?:letter|note|card|gift|present|poem|email|message) (?:to|for)|(?:bio|biography|profile|reference) (?:for|of)"
    r"|contact|(?:employee|customer|patient|client|tenant|applicant|student|contact|attendee|guest"
    r"|passenger)[ \t]*:"
    r"|(?P<label>dear|named|(?:with|full|user|customer|contact|person|patient|client)[ \t]*:?[ \t]*name[ \t]*:?"
    r"|(?:account holder|cardholder|recipient|beneficiary)[ \t]*:?"
    r"|(?:business card|signature|signed|author|speaker|candidate|from|to|cc|attn|attention)[ \t]*:"
    r"|(?:trip|travel|vacation|holiday|dinner|lunch|breakfast|coffee|meeting|date|call|appointment|interview) with))"
    r"[ \t]+(?:\p{Lu}[\p{L}'’-]*(?:[ \t]+\p{L}[\p{L}'’-]*){0,3}[ \t]+(?:and|&)[ \t]+)?$"
)
_STRONG_PERSON_CUE = regex.compile(rf"(?<![\p{{L}}-])(?i:{_STRONG_PERSON_CUES})[ \t]+$")
# How far before a name its cue is looked for (a cue is under 40 characters; one with a name and "and" may
# be longer, and is then missed): long lines stay linear.
_CUE_WINDOW = 64
_GOES_ON = regex.compile(r"[ \t]+(?:\p{Ll}|I\b)|[,;]")
_GIFT_FRAME = regex.compile(r"(?<![\p{L}-])(?i:get|buy|give)[ \t]+$")
_GIFT_FRAME_AFTER = regex.compile(
    r"[ \t]+(?:an?[ \t]+(?:\p{Ll}+[ \t]+)?(?:gift|present|card)"
    r"|for[ \t]+(?:my|our|his|her|their)[ \t]+(?:\p{Ll}+[ \t]+)?"
    r"(?:birthday|anniversary|wedding|graduation|christmas|retirement|promotion|housewarming))\b",
    regex.I,
)
# After the name: what only a person has ("Ling's birthday"), or is to someone ("Jian is my sister", from
# the settings' `person_relations`; see `relation_after`).
_PERSON_POSSESSION_AFTER = regex.compile(
    r"(?:'s|’s)[ \t]+(?i:birthday|wedding|anniversary|mom|mother|dad|father|wife|husband|boyfriend|girlfriend"
    r"|son|daughter|sister|brother|parents)\b"
)
# ... or does, which companies and products do too ("Google said"): only after a known given name or a
# name of two words or more ...
_PERSON_VERB_AFTER = regex.compile(
    r"[ \t]+(?:said|says|told me|asked me|texted me|emailed me|called me|thinks|wants|lives|works|turns|turned"
    r"|got married|was born)\b"
)
# ... or the display name of an email address ("Anthony Park <ap@...>"), which a team or a product can be too.
_DISPLAY_NAME_BEFORE_EMAIL = regex.compile(r"[ \t]*<[^<>@\s]+@")
_POSSESSIVE_END = regex.compile(r"['’]s?$")
# Regular English endings and the stem each leaves: plurals, past tenses, gerunds.
_INFLECTIONS = (("ies", "y"), ("ied", "y"), ("ing", ""), ("ing", "e"), ("ed", ""), ("ed", "e"), ("es", ""), ("s", ""),
                ("d", ""))

# Recognition metadata key: the recognizer vouches for the span's shape (a lower-case or joined name).
SHAPE_CHECKED = "shape_checked"

# Second column of given_names.txt: the name is also an English verb/adjective/adverb, or noun. Of
# surnames.txt: the surname is also an English verb/adjective/adverb ("Park", "Young").
_ENGLISH_WORD, _ENGLISH_NOUN = "word", "noun"


@dataclass(frozen=True)
class NameLists:
    """Given names and surnames (casefolded, with whether each is also an English word), English words."""

    given: dict[str, str]  # name -> "" or "word" or "noun"
    surnames: dict[str, str]  # name -> "" or "word"
    english: frozenset[str]  # lower-case English words

    def is_given(self, word: str) -> bool:
        return fold(word) in self.given

    def is_plain_given(self, word: str) -> bool:
        """A given name that is no English word, so a capitalised occurrence is almost surely a name."""
        return self.given.get(fold(word)) == ""

    def is_surname(self, word: str) -> bool:
        """A surname that is no English verb, adjective or adverb: alone it says a name."""
        return self.surnames.get(fold(word)) == ""

    def ends_a_name(self, word: str) -> bool:
        """Any surname, also one that is an English word ("Park", "Foster"): after a given name, or in a
        frame only a person stands in, it finishes the name."""
        return fold(word) in self.surnames

    def is_english(self, word: str) -> bool:
        return word.casefold() in self.english

    def is_name(self, word: str) -> bool:
        return self.is_given(word) or self.is_surname(word)

    def is_full_name(self, words: Sequence[str]) -> bool:
        """A given name, then any surname: "Harry Lee", "Grace Foster" (every word also English)."""
        return len(words) > 1 and self.is_given(words[0]) and self.ends_a_name(words[-1])


def _lines(path: Path) -> list[str]:
    return [line for line in path.read_text(encoding="utf-8").splitlines() if line.strip() and line[0] != "#"]


@cache
def load_name_lists(given_path: Path, surnames_path: Path, english_path: Path) -> NameLists:
    for path in (given_path, surnames_path, english_path):
        if not path.is_file():
            raise FileNotFoundError(f"name gazetteer file {path} does not exist")
    given = _classed_names(given_path, (_ENGLISH_WORD, _ENGLISH_NOUN))
    surnames = _classed_names(surnames_path, (_ENGLISH_WORD,))
    english = frozenset(line.strip().casefold() for line in _lines(english_path))
    return NameLists(given, surnames, english)


def _classed_names(path: Path, classes: tuple[str, ...]) -> dict[str, str]:
    """A list's names (folded), each with its class: "" for a name that is no English word."""
    names: dict[str, str] = {}
    for line in _lines(path):
        name, _, kind = line.partition("\t")
        if kind not in ("", *classes):
            raise ValueError(f"{path}: unknown name class {kind!r} for {name!r} (expected {' or '.join(classes)})")
        names[fold(name.strip())] = kind
    return names


class GazetteerNameRecognizer(EntityRecognizer):
    """PERSON spans from the name lists (see the module docstring for the rules)."""

    MAX_NAME_WORDS = 3  # a longer run of capitalised words is a title or a heading, not a name

    def __init__(self, lists: NameLists, score: float, person_relations: Sequence[str]) -> None:
        super().__init__(supported_entities=["PERSON"], name="GazetteerNameRecognizer", supported_language="en")
        self.lists = lists
        self.score = score
        self.relation_after = relation_after(person_relations)

    def load(self) -> None:
        return None

    def analyze(
        self, text: str, entities: list[str], nlp_artifacts: NlpArtifacts | None = None
    ) -> list[RecognizerResult]:
        results = []
        runs = [(run, [(m.start() + run.start(), m.group()) for m in _RUN_WORD.finditer(run.group())])
                for run in _RUN.finditer(text)]
        for run, words in runs:
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
        results += [self._result(start, end) for start, end in self._names_in_person_frames(text, runs)]
        results += [self._result(start, end, True) for start, end in self._lower_case_second_given_names(text)]
        # These two are not shaped like names in prose, and say so, so the cleaner keeps them as they are.
        results += [self._result(start, end, True) for start, end in self._lower_case_names(text)]
        for match in _IDENTIFIER_NAME.finditer(text):
            if self.lists.is_given(match.group(1)) and self.lists.is_surname(match.group(2)):
                results.append(self._result(match.start(), match.end(), True))
        return results

    def _names_in_person_frames(self, text: str, runs: list) -> list[tuple[int, int]]:
        """Capitalised runs in a frame only a person stands in (`_PERSON_OBJECT_CUE` before, or
        a relation / `_PERSON_VERB_AFTER` after), led by a known given name of any kind or by
        a word that is neither English nor a function word ("Jian", "Aminata"; not "Get Started"), with the
        name-shaped words that follow it; or a lone word that is also English in the strongest frames.
        Countries are never names here; the cleaner still vetoes products and words the text also writes
        in lower case."""
        spans = []
        for _, words in runs:
            index = 0
            while index < len(words):  # any word of a run may start the name ("Tell Rebecca that")
                name = self._name_from(words, index)
                start, end = name[0][0], name[-1][0] + len(name[-1][1])
                cue_from = max(text.rfind("\n", 0, start) + 1, start - _CUE_WINDOW)
                if fold(" ".join(word for _, word in name)) in country_names():
                    index += len(name)
                elif self._leads_a_name(name) and (
                        self._cued_before(text, cue_from, name) or self._relation_after(text, end)
                        or ((_PERSON_VERB_AFTER.match(text, end) or _DISPLAY_NAME_BEFORE_EMAIL.match(text, end))
                            and self._full_or_given(name))
                ) or self._word_named_in_strong_frame(text, cue_from, name):
                    spans.append((start, end))
                    index += len(name)
                else:
                    index += 1
        return spans

    def _relation_after(self, text: str, end: int) -> bool:
        return bool(_PERSON_POSSESSION_AFTER.match(text, end) or self.relation_after.match(text, end))

    def _cued_before(self, text: str, cue_from: int, name: list[tuple[int, str]]) -> bool:
        cue = _PERSON_OBJECT_CUE.search(text, cue_from, name[0][0])
        return bool(cue) and (cue.group("label") is None or self._full_or_given(name))

    def _full_or_given(self, name: list[tuple[int, str]]) -> bool:
        """Two name words or more, or a known given name: what a company, product or role rarely is."""
        return len(name) > 1 or self.lists.is_given(name[0][1])

    def _leads_a_name(self, name: list[tuple[int, str]]) -> bool:
        """Whether a frame's capitalised words are a person's name. A word neither English (inflected
        forms too: "Started", "Mother's") nor a function word may lead any capitalised words ("Jiwoo Park").
        A given name that is also an English word ("Rebecca", "Apple"), a known surname before more name
        words ("Hao de Vries"), or any word before a known surname ("Raj Mizrahi") may lead only surnames
        (English words too: "Isabella Park") or words that are no English words ("Apple Support" is
        neither)."""
        lists, first = self.lists, _POSSESSIVE_END.sub("", name[0][1])
        rest = [word for _, word in name[1:] if word.casefold() not in NAME_PARTICLES]
        if first.casefold() in function_words():  # "Give Me Liberty": "Me" is also a given name
            return False
        if not self._english_like(first):  # a given name or an unknown word that is no English word
            return True
        if not (lists.is_given(first) or (rest and (lists.is_surname(first) or lists.is_surname(rest[-1])))):
            return False
        return all(lists.ends_a_name(word) or not self._english_like(word) for word in rest)

    def _word_named_in_strong_frame(self, text: str, cue_from: int, name: list[tuple[int, str]]) -> bool:
        """A lone capitalised word in its base form, English or not, in the strongest person frames."""
        if len(name) != 1:
            return False
        start, word = name[0]
        end = start + len(word)
        if word.casefold() in function_words() or self._english_like(word) != self.lists.is_english(word):
            return False  # a function word, or an inflected English form ("Started")
        return bool(
            (_STRONG_PERSON_CUE.search(text, cue_from, start) and _GOES_ON.match(text, end))
            or (_GIFT_FRAME.search(text, cue_from, start) and _GIFT_FRAME_AFTER.match(text, end))
            or self._relation_after(text, end)
        )

    def _english_like(self, word: str) -> bool:
        """An English word, or one with a possessive or a regular inflection: "Questions", "Started"."""
        folded = _POSSESSIVE_END.sub("", word.casefold())
        return self.lists.is_english(folded) or any(
            folded.endswith(suffix) and self.lists.is_english(folded[: len(folded) - len(suffix)] + stem)
            for suffix, stem in _INFLECTIONS)

    def _name_from(self, words: list[tuple[int, str]], index: int) -> list[tuple[int, str]]:
        """The run's words from `index` up to MAX_NAME_WORDS, stopping at a function word ("Tell Rebecca
        That ..." in a title); `_leads_a_name` judges them."""
        name = [words[index]]
        for start, word in words[index + 1 : index + self.MAX_NAME_WORDS]:
            if word.casefold() in function_words() and word.casefold() not in NAME_PARTICLES:
                break
            name.append((start, word))
        while len(name) > 1 and name[-1][1].casefold() in NAME_PARTICLES:
            name.pop()
        return name

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


def relation_after(person_relations: Sequence[str]) -> regex.Pattern:
    """After a name, what the person is to someone: "is my sister", "was our landlord" (never, without
    relation nouns)."""
    if not person_relations:
        return regex.compile(r"(?!)")
    return regex.compile(
        rf"[ \t]+(?:is|was)[ \t]+(?:my|our|his|her|their)[ \t]+(?:\p{{Ll}}+[ \t]+)?"
        rf"(?i:{relation_alternation(person_relations)})\b"
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
