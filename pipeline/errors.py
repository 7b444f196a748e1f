"""Errors a user can act on: the CLI prints them as one line (exit 2) instead of a traceback.

They live here, importing nothing, so the CLI can catch them without importing every stage."""

from __future__ import annotations


class ConfigError(ValueError):
    """A configuration file is missing or invalid; the message says where and why."""


class IngestError(Exception):
    """An input problem that stops ingest as a whole (missing directory, no logs, bad config)."""


class ReleaseBlocked(Exception):
    """The release cannot be built as configured; the message gives every reason."""


class ManifestError(ValueError):
    """A manifest is missing, unreadable or lacks what a release needs."""


class UsageError(Exception):
    """Arguments that cannot work together or are out of range."""


class WorkdirLocked(Exception):
    """Another run holds the work directory; the message names it."""


USER_ERRORS: tuple[type[Exception], ...] = (
    ConfigError, IngestError, UsageError, ManifestError, ReleaseBlocked, WorkdirLocked, FileNotFoundError,
    NotADirectoryError, IsADirectoryError, PermissionError,
)
