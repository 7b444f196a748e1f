"""The keys under which work on private text is remembered across runs: a digest of a text's content, and a
digest of the code, data and libraries that decide what is found in it.

Redaction's analysis cache and verify's clean-text set both key on these, so a changed byte of text or of
any detector (no version to remember to bump) means the text is analysed again. Kept free of heavy imports:
verify's worker processes load it without Presidio or spaCy.
"""

from __future__ import annotations

import functools
import hashlib
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

TEXT_DIGEST_BYTES = 16
_PACKAGE_DIR = Path(__file__).resolve().parent
_DETECTION_FILE_SUFFIXES = {".py", ".txt", ".yaml"}
# Packages whose versions change what the detectors find (beside Presidio's spaCy model, fingerprinted apart).
_DETECTION_PACKAGES = ("presidio-analyzer", "phonenumbers", "natasha", "pymorphy3", "sudachipy", "jieba", "regex",
                       "tldextract")


def text_digest(text: str) -> bytes:
    """blake2b-128 of the text's UTF-8 bytes (lone surrogates kept, as logs can hold them)."""
    return hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=TEXT_DIGEST_BYTES).digest()


@functools.cache
def detection_code_digest(package: Path = _PACKAGE_DIR) -> str:
    """A digest of the redaction package's code and data files and of the detection libraries' versions."""
    digest = hashlib.sha256()
    for path in sorted(p for p in package.rglob("*") if p.is_file() and p.suffix in _DETECTION_FILE_SUFFIXES):
        digest.update(path.relative_to(package).as_posix().encode() + b"\0" + path.read_bytes())
    for name in _DETECTION_PACKAGES:
        try:
            digest.update(f"{name}=={version(name)}".encode())
        except PackageNotFoundError:
            digest.update(f"{name} missing".encode())
    return digest.hexdigest()[:16]
