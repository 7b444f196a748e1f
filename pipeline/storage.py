"""Durable storage for logs and pipeline tables: a local directory, or an object store URI.

Stages always compute in a local directory, because DuckDB and the Parquet writers want local files.
On one machine that directory *is* the store and nothing is copied. On a cluster (one pod per partition
or per step, see docs/deploy-kubernetes.md) pods share nothing but the store: a stage pulls the
prefixes it reads into its scratch directory and pushes the prefixes it wrote. Any URI that
`pyarrow.fs.FileSystem.from_uri` understands works: `s3://bucket/arena?endpoint_override=...`,
`gs://...`, `abfs://...`, `hdfs://...`, `file:///...`.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.fs as pafs

URI = re.compile(r"^[a-z][a-z0-9+.-]*://")


class StorageError(Exception):
    """The store cannot be opened or read: a bad URI, missing credentials, an unreachable endpoint."""


@dataclass(frozen=True)
class StoredFile:
    path: str  # relative to the store's root, '/'-separated
    size: int
    mtime_ns: int


def is_uri(location: str | Path) -> bool:
    return bool(URI.match(str(location))) and not str(location).startswith("file://")


class Store:
    """A root location with mirror-style pull and push of whole prefixes (directories)."""

    def __init__(self, location: str | Path):
        self.location = str(location)
        try:
            if is_uri(location):
                self.fs, self.root = pafs.FileSystem.from_uri(self.location)
            else:
                path = self.location.removeprefix("file://")
                self.fs, self.root = pafs.LocalFileSystem(), str(Path(path).resolve())
        except (pa.ArrowInvalid, OSError, ValueError) as exc:
            why = str(exc).replace(self.location, self.redacted)  # pyarrow echoes the URI, query included
            raise StorageError(f"cannot open storage {self.redacted}: {why}") from None
        self.root = self.root.rstrip("/")

    @property
    def is_local(self) -> bool:
        return isinstance(self.fs, pafs.LocalFileSystem)

    @property
    def redacted(self) -> str:
        """The location without its query string, which may carry credentials."""
        return self.location.split("?", 1)[0]

    def local_path(self) -> Path:
        """The store's root as a local path; only for a local store."""
        if not self.is_local:
            raise StorageError(f"{self.redacted} is not a local directory")
        return Path(self.root)

    def _full(self, prefix: str) -> str:
        return f"{self.root}/{prefix.strip('/')}" if prefix.strip("/") else self.root

    def list_files(self, prefix: str = "") -> list[StoredFile]:
        """Every file under `prefix`, sorted by path; an absent prefix lists nothing."""
        base = self._full(prefix)
        try:
            infos = self.fs.get_file_info(pafs.FileSelector(base, recursive=True, allow_not_found=True))
        except OSError as exc:
            raise StorageError(f"cannot list {self.redacted}/{prefix}: {exc}") from exc
        files = [
            StoredFile(info.path[len(self.root) + 1:], info.size or 0, info.mtime_ns or 0)
            for info in infos if info.type == pafs.FileType.File
        ]
        return sorted(files, key=lambda f: f.path)

    def exists(self, path: str) -> bool:
        return self.fs.get_file_info(self._full(path)).type == pafs.FileType.File

    def pull(self, prefix: str, scratch: Path) -> int:
        """Mirror `store/prefix` (a directory or one file) into `scratch/prefix`; returns the files copied
        (none for a local store)."""
        if self.is_local:
            return 0
        if self.exists(prefix):  # a single file
            self.pull_file(prefix, scratch)
            return 1
        target = Path(scratch) / prefix
        wanted = {f.path for f in self.list_files(prefix)}
        for rel in sorted(wanted):
            self.pull_file(rel, scratch)
        for stale in (p for p in target.rglob("*") if p.is_file()) if target.is_dir() else ():
            if stale.relative_to(scratch).as_posix() not in wanted:
                stale.unlink()
        return len(wanted)

    def pull_file(self, path: str, scratch: Path) -> Path:
        """Copy one stored file to `scratch/path` (on a local store, return it where it is)."""
        if self.is_local:
            return Path(self._full(path))
        local = Path(scratch) / path
        local.parent.mkdir(parents=True, exist_ok=True)
        pafs.copy_files(self._full(path), str(local), source_filesystem=self.fs,
                        destination_filesystem=pafs.LocalFileSystem())
        return local

    def push(self, scratch: Path, prefix: str) -> int:
        """Mirror `scratch/prefix` into `store/prefix`, removing objects no longer there; returns files copied.

        Objects are written whole (an S3 PUT is atomic), and a prefix is only read by the stages after
        the one that pushed it, so a reader never sees half a table.
        """
        if self.is_local:
            return 0
        source = Path(scratch) / prefix
        local = {p.relative_to(scratch).as_posix(): p for p in source.rglob("*") if p.is_file()}
        stored = {f.path for f in self.list_files(prefix)}
        for rel, path in sorted(local.items()):
            pafs.copy_files(str(path), self._full(rel), source_filesystem=pafs.LocalFileSystem(),
                            destination_filesystem=self.fs)
        for rel in sorted(stored - set(local)):
            self.fs.delete_file(self._full(rel))
        return len(local)


@contextlib.contextmanager
def synced(store: Store | None, scratch: Path, reads: Iterable[str] = (), writes: Iterable[str] = ()) -> Iterator[Path]:
    """Run a stage in `scratch` with the prefixes it `reads` pulled from the store first, and the
    prefixes it `writes` pushed after it succeeded (a failed stage pushes nothing). Without a remote
    store, `scratch` is the durable location and this only yields it."""
    if store is None or store.is_local:
        yield scratch
        return
    for prefix in reads:
        store.pull(prefix, scratch)
    yield scratch
    for prefix in writes:
        store.push(scratch, prefix)
