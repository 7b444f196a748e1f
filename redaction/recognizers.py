"""Presidio recognizers for chat text: structured values, names, and the project's configured patterns.

Structured values (emails, phones, cards, keys, secrets, ...) come from redaction.structured, which the
publishing gate shares; names come from NER, the gazetteer and the display name beside an email; the
configured pattern recognizers add what a steward defines in the settings (name cues without NER).
"""

from __future__ import annotations

from collections.abc import Iterator

import regex
from presidio_analyzer import EntityRecognizer, Pattern, PatternRecognizer, RecognizerResult
from presidio_analyzer.nlp_engine import NlpArtifacts
from presidio_analyzer.predefined_recognizers import SpacyRecognizer

from redaction.addresses import find_addresses, find_birth_dates
from redaction.names import GazetteerNameRecognizer, load_name_lists
from redaction.nlp import code_lines
from redaction.scripts import ScriptNameRecognizer
from redaction.settings import RecognizerSpec, RedactionSettings
from redaction.structured import KINDS, find_structured, load_phone_metadata


class StructuredRecognizer(EntityRecognizer):
    """Emails, phones, cards, IBANs, SSNs, IPs, keys and secrets from redaction.structured, the same
    detectors the publishing gate scans released text with, so the two cannot disagree."""

    SCORE = 0.9

    def __init__(self, entities: list[str], phone_regions: tuple[str, ...]) -> None:
        super().__init__(supported_entities=entities, name="StructuredRecognizer", supported_language="en")
        self.phone_regions = phone_regions

    def load(self) -> None:
        load_phone_metadata()

    def analyze(
        self, text: str, entities: list[str], nlp_artifacts: NlpArtifacts | None = None
    ) -> list[RecognizerResult]:
        kinds = [kind for kind in self.supported_entities if kind in entities]
        return [
            RecognizerResult(
                hit.kind,
                hit.start,
                hit.end,
                self.SCORE,
                recognition_metadata={
                    RecognizerResult.RECOGNIZER_NAME_KEY: self.name,
                    RecognizerResult.RECOGNIZER_IDENTIFIER_KEY: self.id,
                },
            )
            for hit in find_structured(text, kinds=kinds, phone_regions=self.phone_regions)
        ]


class AddressRecognizer(EntityRecognizer):
    """Street addresses (ADDRESS) and dates of birth (DATE_OF_BIRTH) from redaction.addresses."""

    SCORE = 0.8
    FINDERS = {"ADDRESS": find_addresses, "DATE_OF_BIRTH": find_birth_dates}

    def __init__(self, entities: list[str]) -> None:
        super().__init__(supported_entities=entities, name="AddressRecognizer", supported_language="en")

    def load(self) -> None:
        return None

    def analyze(
        self, text: str, entities: list[str], nlp_artifacts: NlpArtifacts | None = None
    ) -> list[RecognizerResult]:
        return [
            RecognizerResult(
                entity,
                start,
                end,
                self.SCORE,
                recognition_metadata={
                    RecognizerResult.RECOGNIZER_NAME_KEY: self.name,
                    RecognizerResult.RECOGNIZER_IDENTIFIER_KEY: self.id,
                },
            )
            for entity in self.supported_entities
            if entity in entities
            for start, end in self.FINDERS[entity](text)
        ]


_TITLE_CASE_RUN = regex.compile(r"\p{Lu}\p{Ll}+(?:[ -]\p{Lu}\p{Ll}+){0,2}")
_EMAIL = regex.compile(r"([\w.+-]+)@[\w-]+(?:\.[\w-]+)+")


class EmailDisplayNameRecognizer(EntityRecognizer):
    """The name written next to an email address whose local part spells it ("Lukas Costa
    <lukascosta24@...>", "email Hugo Laurent at laurent.h@..."): a capitalised run of words on the same
    line, shortly before the address, with a word of three or more letters inside the local part."""

    WINDOW = 80
    SCORE = 0.75

    def __init__(self) -> None:
        super().__init__(supported_entities=["PERSON"], name="EmailDisplayNameRecognizer", supported_language="en")

    def load(self) -> None:
        return None

    def analyze(
        self, text: str, entities: list[str], nlp_artifacts: NlpArtifacts | None = None
    ) -> list[RecognizerResult]:
        if "@" not in text:
            return []
        results = []
        for email in _EMAIL.finditer(text):
            local = email.group(1).casefold()
            line_start = text.rfind("\n", 0, email.start()) + 1
            window_start = max(line_start, email.start() - self.WINDOW)
            for run in _TITLE_CASE_RUN.finditer(text, window_start, email.start()):
                words = regex.split(r"[ -]", run.group().casefold())
                if any(len(word) >= 3 and word in local for word in words):
                    results.append(
                        RecognizerResult(
                            "PERSON",
                            run.start(),
                            run.end(),
                            self.SCORE,
                            recognition_metadata={
                                RecognizerResult.RECOGNIZER_NAME_KEY: self.name,
                                RecognizerResult.RECOGNIZER_IDENTIFIER_KEY: self.id,
                            },
                        )
                    )
        return results


class ConfiguredPatternRecognizer(PatternRecognizer):
    """A pattern recognizer defined in the settings.

    Unlike Presidio's PatternRecognizer, a pattern may capture one group that alone is the entity, so
    context such as `aws_secret_access_key =` helps find a value without being redacted with it; and
    matches with too few distinct characters (placeholders like `sk-xxxxxxxx`) are ignored.
    """

    def __init__(self, spec: RecognizerSpec) -> None:
        flags = regex.MULTILINE
        flags |= regex.IGNORECASE if spec.ignore_case else 0
        flags |= regex.DOTALL if spec.dotall else 0
        super().__init__(
            supported_entity=spec.entity,
            name=spec.name,
            patterns=[Pattern(p.name, p.regex, p.score) for p in spec.patterns],
            context=list(spec.context) or None,
            global_regex_flags=flags,
        )
        self.min_distinct_chars = spec.min_distinct_chars
        self._compiled = [(p, regex.compile(p.regex, flags)) for p in spec.patterns]

    def analyze(
        self, text: str, entities: list[str], nlp_artifacts: NlpArtifacts | None = None, regex_flags=None
    ) -> list[RecognizerResult]:
        results = [
            RecognizerResult(
                entity_type=self.supported_entities[0],
                start=start,
                end=end,
                score=pattern.score,
                recognition_metadata={
                    RecognizerResult.RECOGNIZER_NAME_KEY: self.name,
                    RecognizerResult.RECOGNIZER_IDENTIFIER_KEY: self.id,
                    "pattern_name": pattern.name,
                },
            )
            for pattern, start, end in self._matches(text)
        ]
        return EntityRecognizer.remove_duplicates(results)

    def _matches(self, text: str) -> Iterator[tuple[object, int, int]]:
        for pattern, compiled in self._compiled:
            for match in compiled.finditer(text):
                group = 1 if compiled.groups else 0
                start, end = match.span(group)
                if end > start and len(set(text[start:end])) >= self.min_distinct_chars:
                    yield pattern, start, end


def build_recognizers(settings: RedactionSettings) -> list[EntityRecognizer]:
    """Every recognizer the settings ask for, English only."""
    wanted = set(settings.entities)
    structured = [kind for kind in KINDS if kind in wanted]
    recognizers: list[EntityRecognizer] = []
    if structured:
        recognizers.append(StructuredRecognizer(structured, settings.phone_regions))
    located = [entity for entity in AddressRecognizer.FINDERS if entity in wanted]
    if located:
        recognizers.append(AddressRecognizer(located))
    recognizers.append(EmailDisplayNameRecognizer())
    gazetteer = settings.name_gazetteer
    if gazetteer.enabled:
        lists = load_name_lists(gazetteer.given_names, gazetteer.surnames, gazetteer.english_words)
        recognizers.append(GazetteerNameRecognizer(lists, gazetteer.score, settings.person_relations))
    if settings.ner.enabled:
        recognizers.append(SpacyRecognizer(supported_entities=["PERSON"], ner_strength=settings.ner.score))
    if settings.script_ner.enabled:
        script_ner = settings.script_ner
        recognizers.append(ScriptNameRecognizer(script_ner.languages, script_ner.score, code_lines))
    recognizers += [ConfiguredPatternRecognizer(spec) for spec in settings.pattern_recognizers]
    return [r for r in recognizers if wanted & set(r.supported_entities)]
