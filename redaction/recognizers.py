"""Presidio recognizers for chat text: Presidio's own, tightened, plus the project's configured patterns.

Presidio's stock recognizers are tuned for documents; chat prompts are full of code, version numbers and
math, so each subclass here adds the check that keeps those out, and the configured pattern recognizers
cover what Presidio has no recognizer for (provider API keys, private keys, name cues without NER).
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterator

import regex
import tldextract
from presidio_analyzer import EntityRecognizer, Pattern, PatternRecognizer, RecognizerResult
from presidio_analyzer.nlp_engine import NlpArtifacts
from presidio_analyzer.predefined_recognizers import (
    CreditCardRecognizer,
    EmailRecognizer,
    IbanRecognizer,
    IpRecognizer,
    PhoneRecognizer,
    SpacyRecognizer,
    UsSsnRecognizer,
)

from redaction.names import GazetteerNameRecognizer, load_name_lists
from redaction.settings import RecognizerSpec, RedactionSettings

# The public suffix list snapshot shipped inside tldextract: no download at run time, no cache writes.
# (Presidio's EmailRecognizer uses tldextract's module-level extractor, which fetches the list online.)
_OFFLINE_TLD_EXTRACTOR = tldextract.TLDExtract(cache_dir=None, suffix_list_urls=(), fallback_to_snapshot=True)


class OfflineEmailRecognizer(EmailRecognizer):
    """Presidio's email pattern, validated against the bundled public suffix list (never the network)."""

    def validate_result(self, pattern_text: str) -> bool:
        return _OFFLINE_TLD_EXTRACTOR(pattern_text.rsplit("@", 1)[-1]).fqdn != ""


_PHONE_PREFIX_BEFORE = re.compile(r"(?:\+\d{1,3}|\b00\d{1,3}|(?<![\d+])1)[\s.-]?\(?$")
_SEPARATED = re.compile(r"[\s().+-]")


class ChatPhoneRecognizer(PhoneRecognizer):
    """Presidio's libphonenumber matcher, made safe for chat text.

    The matcher runs only around runs of seven or more digits. A country prefix the matcher left
    outside the span ("+1" before a national number) is pulled in, so no fragment survives redaction.
    A bare run of digits with no separator or "+" is as likely an id or a timestamp as a phone number:
    it scores below the threshold unless phone context words raise it.
    """

    BARE_DIGITS_SCORE = 0.1

    def analyze(
        self, text: str, entities: list[str], nlp_artifacts: NlpArtifacts | None = None
    ) -> list[RecognizerResult]:
        results = []
        for window_start, window_end, international in _phone_windows(text):
            for result in self._analyze_window(text[window_start:window_end], entities, international):
                result.start += window_start
                result.end += window_start
                prefix = _PHONE_PREFIX_BEFORE.search(text, max(0, result.start - 8), result.start)
                if prefix and "+" not in text[result.start : result.end]:
                    result.start = prefix.start()
                if _inside_longer_number(text, result.start, result.end) or _NOT_A_PHONE.fullmatch(
                    text, result.start, result.end
                ):
                    continue
                if not _SEPARATED.search(text, result.start, result.end):
                    result.score = self.BARE_DIGITS_SCORE
                results.append(result)
        return EntityRecognizer.remove_duplicates(results)


    def _analyze_window(self, window: str, entities: list[str], international: bool) -> list[RecognizerResult]:
        """Presidio's matcher over one window; a window whose numbers all start with "+" is matched for one
        region only, since every region reads an international number the same way."""
        regions = self.supported_regions
        if international:
            self.supported_regions = regions[:1]
        try:
            return super().analyze(window, entities, None)
        finally:
            self.supported_regions = regions


# A run of digits and phone separators holding at least seven digits, with a little room around it.
_PHONE_RUN = re.compile(r"\+?\(?\d[\d \t().\-/]{5,}\d")
_WINDOW_MARGIN = 8


def _phone_windows(text: str) -> list[tuple[int, int, bool]]:
    """Merged stretches of text around digit runs that could be phone numbers, and whether every run in a
    stretch starts with "+": libphonenumber's matcher runs only there, not over whole texts full of code
    and numbers."""
    windows: list[tuple[int, int, bool]] = []
    for run in _PHONE_RUN.finditer(text):
        if sum(ch.isdigit() for ch in run.group()) < 7:
            continue
        start, end = max(0, run.start() - _WINDOW_MARGIN), min(len(text), run.end() + _WINDOW_MARGIN)
        international = run.group().startswith("+")
        if windows and start <= windows[-1][1]:
            windows[-1] = (windows[-1][0], end, windows[-1][2] and international)
        else:
            windows.append((start, end, international))
    return windows


# Shapes a national numbering plan may accept that are not phone numbers: a decimal number, a dotted
# quad (netmask, IP), a dotted version with a one-digit part (25.1.8937393).
_NOT_A_PHONE = re.compile(r"\d+[.,]\d+|\d{1,3}(?:\.\d{1,3}){3}|\d+(?:\.\d+)*\.\d(?:\.\d+)+")


def _inside_longer_number(text: str, start: int, end: int) -> bool:
    """Whether the span continues a number or dotted sequence (1.3.21.1 of an OID, digits of a decimal)."""
    before, after = text[max(0, start - 2) : start], text[end : end + 2]
    return bool(
        (before[-1:].isdigit() or (len(before) == 2 and before[1] in ".," and before[0].isdigit()))
        or (after[:1].isdigit() or (len(after) == 2 and after[0] in ".," and after[1].isdigit()))
    )


_VERSION_CONTEXT = re.compile(r"(?:\b[vV]|\bversion\s*|\brelease\s*|\bbuild\s*)$")


class ChatIpRecognizer(IpRecognizer):
    """Presidio's IP patterns without the addresses that identify nobody or are not addresses.

    Dropped: loopback, unspecified, netmasks, very short IPv6 forms such as "1::2" (Python slices),
    dotted quads that follow "v"/"version" (software versions like 1.2.3.4) and quads inside longer
    dotted numbers (SNMP OIDs, Windows build numbers).
    """

    def invalidate_result(self, pattern_text: str) -> bool:
        try:
            interface = ipaddress.ip_interface(pattern_text)
        except ValueError:
            return True
        address = interface.ip
        if address.is_loopback or address.is_unspecified:
            return True
        if address.version == 4:
            return pattern_text.startswith("255.")
        groups = [group for group in pattern_text.split("/")[0].split(":") if group]
        return len(groups) < 3 and "." not in pattern_text

    def analyze(
        self, text: str, entities: list[str], nlp_artifacts: NlpArtifacts | None = None, regex_flags=None
    ) -> list[RecognizerResult]:
        if ":" not in text and "." not in text:
            return []
        return [
            result
            for result in super().analyze(text, entities, nlp_artifacts, regex_flags)
            if not _VERSION_CONTEXT.search(text, max(0, result.start - 10), result.start)
            and not _inside_longer_number(text, result.start, result.end)
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


# Presidio's card pattern, plus the Mastercard 2221-2720 range it lacks. Luhn validation is Presidio's.
_CARD_PATTERN = Pattern(
    "All Credit Cards (weak, with Mastercard 2-series)",
    r"\b(?!1\d{12}(?!\d))((4\d{3})|(5[0-5]\d{2})|(2[2-7]\d{2})|(6\d{3})|(1\d{3})|(3\d{3}))"
    r"[- ]?(\d{3,4})[- ]?(\d{3,4})[- ]?(\d{3,5})\b",
    0.3,
)


def build_recognizers(settings: RedactionSettings) -> list[EntityRecognizer]:
    """Every recognizer the settings ask for, English only."""
    wanted = set(settings.entities)
    recognizers: list[EntityRecognizer] = [
        OfflineEmailRecognizer(),
        ChatPhoneRecognizer(supported_regions=settings.phone_regions),
        ChatIpRecognizer(),
        CreditCardRecognizer(patterns=[_CARD_PATTERN]),
        IbanRecognizer(),
        UsSsnRecognizer(),
    ]
    recognizers.append(EmailDisplayNameRecognizer())
    gazetteer = settings.name_gazetteer
    if gazetteer.enabled:
        lists = load_name_lists(gazetteer.given_names, gazetteer.surnames, gazetteer.english_words)
        recognizers.append(GazetteerNameRecognizer(lists, gazetteer.score))
    if settings.ner.enabled:
        recognizers.append(SpacyRecognizer(supported_entities=["PERSON"], ner_strength=settings.ner.score))
    recognizers += [ConfiguredPatternRecognizer(spec) for spec in settings.pattern_recognizers]
    return [r for r in recognizers if wanted & set(r.supported_entities)]
