"""The records redaction passes around: detections in one text, redacted spans of a group."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Detection:
    """One PII span found in one text (offsets into that text)."""

    entity_type: str
    start: int
    end: int
    score: float
    recognizer: str


@dataclass(frozen=True)
class RedactedSpan:
    """A redacted span of text `text_index` of a group: original offsets, no raw value."""

    text_index: int
    entity_type: str
    start: int
    end: int
    score: float
    recognizer: str
    placeholder: str


@dataclass(frozen=True)
class RedactionResult:
    texts: list[str]
    spans: list[RedactedSpan]

    @property
    def redacted(self) -> bool:
        return bool(self.spans)


# Specific structured values win over names when spans overlap (an email's local part is not a name).
_PERSON_PRIORITY, _STRUCTURED_PRIORITY = 0, 1


def _priority(detection: Detection) -> tuple[int, float, int]:
    kind = _PERSON_PRIORITY if detection.entity_type == "PERSON" else _STRUCTURED_PRIORITY
    return kind, detection.score, detection.end - detection.start


def merge_overlaps(detections: list[Detection]) -> list[Detection]:
    """Overlapping spans become one span covering both, typed by the stronger detection, so that no
    part of either value is left in the text."""
    merged: list[Detection] = []
    for detection in sorted(detections, key=lambda d: (d.start, -d.end)):
        if merged and detection.start < merged[-1].end:
            previous = merged[-1]
            winner = max(previous, detection, key=_priority)
            merged[-1] = Detection(
                winner.entity_type,
                previous.start,
                max(previous.end, detection.end),
                winner.score,
                winner.recognizer,
            )
        else:
            merged.append(detection)
    return merged
