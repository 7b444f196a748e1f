"""LMSYS-style placeholders (NAME_1, EMAIL_1, ...) shared by every text of a group.

Numbers follow text order over the whole group, and one value keeps one placeholder everywhere: the
same email in turn 1 and turn 5, the same name on both sides of a battle, and a lone "Carter" after
"John Carter". Presidio's anonymizer applies operators from the end of a text backwards and has no
numbering operator, so placeholders are decided here, in text order, and handed to it as one `replace`
operator per placeholder. Afterwards every detected value is checked to be gone from the group: if one
is left the group raises, so the caller can quarantine it instead of publishing it.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence

import regex
from presidio_anonymizer import AnonymizerEngine
from presidio_anonymizer.entities import OperatorConfig, RecognizerResult
from spacy.lang.en.stop_words import STOP_WORDS

from redaction.settings import RedactionSettings
from redaction.spans import Detection, RedactedSpan, RedactionResult, merge_overlaps

PROPAGATED = "propagated"


class ResidualPIIError(RuntimeError):
    """A detected value is still in the redacted text."""


def redact_with_placeholders(
    texts: Sequence[str],
    detections: Sequence[Sequence[Detection]],
    settings: RedactionSettings,
    anonymizer: AnonymizerEngine,
) -> RedactionResult:
    if len(texts) != len(detections):
        raise ValueError(f"{len(texts)} texts but {len(detections)} detection lists")
    per_text = [list(found) for found in detections]
    if settings.propagate_values:
        per_text = propagate(texts, per_text, settings)
    placeholders = assign_placeholders(texts, per_text, settings.placeholders)
    spans: list[RedactedSpan] = []
    redacted_texts: list[str] = []
    for index, (text, found) in enumerate(zip(texts, per_text, strict=True)):
        labels = [placeholders[(index, d.start)] for d in found]
        spans += [
            RedactedSpan(index, d.entity_type, d.start, d.end, d.score, d.recognizer, label)
            for d, label in zip(found, labels, strict=True)
        ]
        redacted_texts.append(_replace(anonymizer, text, found, labels))
    _verify_gone(texts, per_text, redacted_texts)
    return RedactionResult(redacted_texts, spans)


def _replace(anonymizer: AnonymizerEngine, text: str, found: list[Detection], labels: list[str]) -> str:
    if not found:
        return text
    results = [RecognizerResult(label, d.start, d.end, d.score) for d, label in zip(found, labels, strict=True)]
    operators = {label: OperatorConfig("replace", {"new_value": label}) for label in labels}
    return anonymizer.anonymize(text, results, operators, merge_entities_with_spaces=False).text


def occurrences(text: str, value: str) -> list[tuple[int, int]]:
    """Exact, case-sensitive occurrences of `value` that do not sit inside a longer word or number."""
    spans: list[tuple[int, int]] = []
    # Scripts written without spaces (Chinese, Japanese) have no word boundary to check.
    check_before, check_after = _bounded(value[:1]), _bounded(value[-1:])
    start = text.find(value) if value else -1
    while start != -1:
        end = start + len(value)
        if not (check_before and start > 0 and _is_word_char(text[start - 1])) and not (
            check_after and end < len(text) and _is_word_char(text[end])
        ):
            spans.append((start, end))
            start = text.find(value, end)
        else:
            start = text.find(value, start + 1)
    return spans


_UNSPACED_SCRIPT = regex.compile(r"[\p{Han}\p{Hiragana}\p{Katakana}]")


def _bounded(char: str) -> bool:
    return char.isalnum() and not _UNSPACED_SCRIPT.match(char)


def _is_word_char(char: str) -> bool:
    return char.isalnum() or char == "_"


def _name_words(value: str, excluded: frozenset[str]) -> list[str]:
    """Words of a multi-word name distinctive enough to redact where they appear alone."""
    words = value.split()
    if len(words) < 2:
        return []
    return [word for word in words if len(word) >= 3 and word[0].isupper() and word.casefold() not in excluded]


def propagate(
    texts: Sequence[str], per_text: list[list[Detection]], settings: RedactionSettings
) -> list[list[Detection]]:
    """Add every other occurrence, anywhere in the group, of each detected value (and of the distinctive
    words of detected full names) that no recognizer caught."""
    # Allow-listed words are not excluded: next to "Ruby Smith", a lone "Ruby" is her, not the language.
    excluded = frozenset(STOP_WORDS) | {term.casefold() for term in settings.non_name_words}
    sources: dict[tuple[str, str], Detection] = {}
    for found, text in zip(per_text, texts, strict=True):
        for detection in found:
            value = text[detection.start : detection.end]
            sources.setdefault((detection.entity_type, value), detection)
            if detection.entity_type == "PERSON":
                for word in _name_words(value, excluded):
                    sources.setdefault(("PERSON", word), detection)
    result = []
    for text, found in zip(texts, per_text, strict=True):
        added = list(found)
        for (entity_type, value), source in sources.items():
            for start, end in occurrences(text, value):
                if not any(start < d.end and d.start < end for d in added):
                    added.append(Detection(entity_type, start, end, source.score, PROPAGATED))
        result.append(merge_overlaps(added))
    return result


def value_key(entity_type: str, value: str) -> str:
    """The identity of a value for placeholder numbering: formatting differences do not count."""
    if entity_type in ("PHONE_NUMBER", "CREDIT_CARD", "US_SSN"):
        digits = "".join(ch for ch in value if ch.isdigit())
        return digits[1:] if entity_type == "PHONE_NUMBER" and len(digits) == 11 and digits[0] == "1" else digits
    if entity_type == "IBAN_CODE":
        return "".join(value.split()).upper()
    if entity_type == "IP_ADDRESS":
        try:
            return str(ipaddress.ip_interface(value).ip)
        except ValueError:
            return value
    if entity_type in ("PERSON", "EMAIL_ADDRESS"):
        return " ".join(value.split()).casefold()
    return "".join(value.split())


def assign_placeholders(
    texts: Sequence[str], per_text: list[list[Detection]], stems: dict[str, str]
) -> dict[tuple[int, int], str]:
    """Placeholder per (text index, span start), numbered per stem in order of first appearance.

    A name that is a word, or a run of words, of a fuller name in the group ("Ruby", "Jose luis" after
    "Jose luis Vazquez") takes that name's placeholder."""
    ordered = [(index, d) for index, found in enumerate(per_text) for d in found]
    full_name_of_word: dict[str, str] = {}
    for index, d in ordered:
        if d.entity_type == "PERSON":
            key = value_key("PERSON", texts[index][d.start : d.end])
            words = key.split()
            for first in range(len(words)):
                for last in range(first + 1, len(words) + (first > 0)):
                    full_name_of_word.setdefault(" ".join(words[first:last]), key)
    numbers: dict[tuple[str, str], str] = {}
    counters: dict[str, int] = {}
    placeholders: dict[tuple[int, int], str] = {}
    for index, d in ordered:
        key = value_key(d.entity_type, texts[index][d.start : d.end])
        if d.entity_type == "PERSON":
            key = full_name_of_word.get(key, key)
        stem = stems[d.entity_type]
        if (stem, key) not in numbers:
            counters[stem] = counters.get(stem, 0) + 1
            numbers[(stem, key)] = f"{stem}_{counters[stem]}"
        placeholders[(index, d.start)] = numbers[(stem, key)]
    return placeholders


def _verify_gone(texts: Sequence[str], per_text: list[list[Detection]], redacted: list[str]) -> None:
    values = {
        (d.entity_type, text[d.start : d.end]) for text, found in zip(texts, per_text, strict=True) for d in found
    }
    for entity_type, value in values:
        for index, output in enumerate(redacted):
            if occurrences(output, value):
                raise ResidualPIIError(f"a detected {entity_type} value is still present in text {index}")
