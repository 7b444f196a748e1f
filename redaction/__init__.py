"""PII redaction of chat text with Presidio: LMSYS-style placeholders, an audit of spans, fail-closed.

Public API: `Redactor.redact_group` for one conversation or battle; `redact_table` (or `TableRedactor`
to keep worker processes across tables) for Arrow tables of conversations; `RedactionSettings` for
configuration (redaction/default_settings.yaml).
"""

from __future__ import annotations

import importlib
from typing import Any

# Imported on first use, so a light module of this package (redaction.structured, which verify uses) does
# not load Presidio and spaCy.
_HOMES = {
    "Redactor": "engine", "TextAnalyzer": "engine", "RedactionSettings": "settings", "SettingsError": "settings",
    "Detection": "spans", "RedactedSpan": "spans", "RedactionResult": "spans", "RedactionOutput": "table",
    "TableRedactor": "table", "redact_table": "table",
}


def __getattr__(name: str) -> Any:
    if name not in _HOMES:
        raise AttributeError(f"module 'redaction' has no attribute {name!r}")
    return getattr(importlib.import_module(f"redaction.{_HOMES[name]}"), name)


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
