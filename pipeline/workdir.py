"""One writer per work directory: an advisory lock file, and the leftovers of killed runs cleaned up.

Two releases writing one work directory at once would clash on DuckDB files, the Dagster instance's
SQLite and shared `.tmp` names. `arena-release run` holds the lock for its whole run and every Dagster
step takes it around its reads and writes: exclusively, except the staging of a log day, which other
days' staging may share. A second writer gets a WorkdirLocked error naming the holder.

Whoever holds it exclusively first removes what a killed run left: `staging/.day=*` directories,
`*.tmp` files, DuckDB spill directories. With the lock held, nothing else can be writing them.
"""

from __future__ import annotations

import datetime as dt
import fcntl
import os
import shutil
import socket
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from pipeline.errors import WorkdirLocked

LOCK_NAME = ".arena-release.lock"
# Where a killed run may have left temporaries (the logs, the Dagster instance and caches are not walked).
_TEMPORARY_ROOTS = ("staging", "cleaned", "releases")
_held: dict[Path, int] = {}  # work directories this process holds, and how deeply: the lock is re-entrant


@contextmanager
def workdir_lock(workdir: Path, shared: bool = False) -> Iterator[None]:
    """Hold the work directory's lock for a block (exclusive unless `shared`), or raise WorkdirLocked.

    Re-entrant within a process: `arena-release run` holds it while its Dagster steps take it again."""
    workdir = Path(workdir).resolve()
    if workdir in _held:
        _held[workdir] += 1
        try:
            yield
        finally:
            _held[workdir] -= 1
        return
    workdir.mkdir(parents=True, exist_ok=True)
    fd = os.open(workdir / LOCK_NAME, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, (fcntl.LOCK_SH if shared else fcntl.LOCK_EX) | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 500, 0).decode("utf-8", "replace").strip() or "another process"
            raise WorkdirLocked(f"work directory {workdir} is in use ({holder}): wait for that run to finish, "
                                "or give this one another work directory") from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, _holder().encode(), 0)
        if not shared:
            remove_leftovers(workdir)
        _held[workdir] = 1
        try:
            yield
        finally:
            del _held[workdir]
    finally:
        os.close(fd)  # releases the lock


def _holder() -> str:
    started = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    command = " ".join(os.path.basename(arg) if i == 0 else arg for i, arg in enumerate(sys.argv[:3]))
    return f"pid {os.getpid()} on {socket.gethostname()}, {command}, since {started}"


def remove_leftovers(workdir: Path) -> list[Path]:
    """Remove the temporaries a killed run left (call only with the lock held exclusively)."""
    removed = []
    for root in (Path(workdir) / name for name in _TEMPORARY_ROOTS):
        if not root.is_dir():
            continue
        leftovers = [*root.glob(".day=*"), *root.rglob("*.tmp"), *root.rglob(".duckdb_tmp")]
        for path in leftovers:
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path, ignore_errors=True)
            else:
                path.unlink(missing_ok=True)
            removed.append(path)
    return removed
