"""Errors a user can act on: the CLI prints them as one line (exit 2) instead of a traceback."""

from __future__ import annotations

from pipeline.cleaning_config import ConfigError
from pipeline.ingest import IngestError
from pipeline.manifest import ManifestError
from pipeline.policy import ReleaseBlocked


class UsageError(Exception):
    """Arguments that cannot work together or are out of range."""


USER_ERRORS: tuple[type[Exception], ...] = (
    ConfigError, IngestError, UsageError, ManifestError, ReleaseBlocked, FileNotFoundError, NotADirectoryError,
)
