"""Secrets never leave in text that came from outside: an endpoint may echo the key it was sent (in an
error message, a URL, a traceback), and that text is printed, logged and stored in status columns."""

from __future__ import annotations

import traceback
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager

MASK = "***"


def mask_secrets(text: str, secrets: Iterable[str | None]) -> str:
    """`text` with every occurrence of each (non-empty) secret replaced by `***`."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, MASK)
    return text


@contextmanager
def secrets_masked(secrets: Iterable[str | None], wrap: Callable[[str, Exception], Exception]) -> Iterator[None]:
    """Run a block; an exception whose text (message, causes, traceback) holds a secret leaves as
    `wrap(masked "Type: message", original)` without its chain, so no copy of the secret goes with it."""
    secrets = [s for s in secrets if s]
    try:
        yield
    except Exception as error:
        text = "".join(traceback.format_exception(error))
        if any(secret in text for secret in secrets):
            raise wrap(f"{type(error).__name__}: {mask_secrets(str(error), secrets)}", error) from None
        raise
