"""PII redaction of chat text with Presidio: LMSYS-style placeholders, an audit of spans, fail-closed.

Public API: `Redactor.redact_group` for one conversation or battle; `redact_table` (or `TableRedactor`
to keep worker processes across tables) for Arrow tables of conversations; `RedactionSettings` for
configuration (redaction/default_settings.yaml).
"""

from redaction.engine import Redactor, TextAnalyzer
from redaction.settings import RedactionSettings, SettingsError
from redaction.spans import Detection, RedactedSpan, RedactionResult
from redaction.table import RedactionOutput, TableRedactor, redact_table

__all__ = [
    "Detection",
    "RedactedSpan",
    "RedactionOutput",
    "RedactionResult",
    "RedactionSettings",
    "Redactor",
    "SettingsError",
    "TableRedactor",
    "TextAnalyzer",
    "redact_table",
]
