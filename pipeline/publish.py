"""Publish a staged release to a dataset repo: the Hugging Face Hub, or a local directory laid out like one.

A release is one commit that makes the repo's `main` hold exactly the staged files (README.md card,
manifest.json, data/<config>/*.parquet, images/...), then a tag named after the version. The same
steps run on both targets, so both behave alike:

- Idempotent: if the version's tag exists and points at identical content, nothing changes
  (`changed=False`); different content under an existing version raises `ReleaseConflictError`.
- Atomic and resumable: the files become visible in one commit or not at all. If a run dies after
  the commit but before the tag, `main` already holds the identical content, and the next run tags
  that commit instead of committing again (one commit per release, which the Hub's commit rate
  limit needs). A release of more than `HubTarget.max_files_per_commit` files (the Hub's limit) is
  several commits; a re-run sends only what `main` lacks, and the tag marks the complete release.
- Bounded retries: transient failures (5xx, 429, timeouts, dropped connections) re-run the whole
  idempotent step under `RetryPolicy`, so a commit whose answer was lost is found, not repeated; a
  429's `Retry-After` is waited out, within a bound.
- Secrets: the Hub token is read from the environment at each call, never stored, logged or
  shown in an error.

`LocalTarget(root)` layout (documented for the people who read releases from disk)::

    ROOT/<namespace>/<name>                               -> main: symlink to the current commit
    ROOT/.revisions/<namespace>/<name>/repo.json          {"private": bool}
    ROOT/.revisions/<namespace>/<name>/commits/<commit>/  one immutable snapshot per commit, exactly
                                                          the repo's files (no .gitattributes)
    ROOT/.revisions/<namespace>/<name>/commits/<commit>.json   sha256 of every file in the snapshot
    ROOT/.revisions/<namespace>/<name>/tags/<version>     -> symlink to ../commits/<commit>

`LocalTarget.repo_path(repo_id, revision)` gives the directory for `main`, a tag or a commit, and
`datasets.load_dataset(str(that path), config)` reads it like `load_dataset(repo_id, config,
revision=version)` reads the Hub. A local commit id is the sha1 of the snapshot's file digests, so
identical content is one snapshot. Private repos get an owner-only (0700) store.
"""

from __future__ import annotations

import contextlib
import datetime
import email.utils
import fcntl
import functools
import hashlib
import json
import logging
import os
import re
import shutil
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, Protocol, TypeVar

from pipeline.masking import secrets_masked

logger = logging.getLogger(__name__)

REPO_ID_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*/[A-Za-z0-9][A-Za-z0-9_.-]*")
VERSION_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")
REQUIRED_FILES = ("README.md", "manifest.json")
HUB_PLUMBING = ".gitattributes"  # created by the Hub with every repo; not part of a release
TRANSIENT_STATUS_CODES = frozenset({408, 429, 500, 502, 503, 504})
CHUNK_BYTES = 1 << 20
MAX_HUB_FILE_BYTES = 50 * 10**9  # the Hub refuses larger files (it recommends < 20 GB)
INSTALLED_HTTP_TIMEOUT: dict[str, float] = {}  # the timeout bound_http_timeouts last gave huggingface_hub
T = TypeVar("T")


class PublishError(Exception):
    """A release could not be published; the message says why and what to do."""


class ReleaseConflictError(PublishError):
    """The version is already published with different content: a version is never rewritten."""


class MissingTokenError(PublishError):
    """The environment variable that should hold the Hub token is unset or empty."""


class RateLimitedError(PublishError):
    """The target answered 429 and said how long to wait (`retry_after_s`, None: it did not say)."""

    def __init__(self, message: str, retry_after_s: float | None) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


class HubCallError(PublishError):
    """A Hub call failed and its error text contained the token; this copy has it masked."""

    def __init__(self, message: str, transient: bool) -> None:
        super().__init__(message)
        self.transient = transient


@dataclass(frozen=True)
class FileDigest:
    """What identifies a file's content: sha256 (what LFS stores) and the git blob id (what git stores)."""

    sha256: str | None
    git_oid: str | None = None

    def same_content(self, other: FileDigest) -> bool:
        """Compare by sha256 where both sides know it, else by git blob id (the Hub's regular files)."""
        if self.sha256 and other.sha256:
            return self.sha256 == other.sha256
        return bool(self.git_oid) and self.git_oid == other.git_oid


@dataclass(frozen=True)
class Snapshot:
    """A commit and the content of every release file in it."""

    commit: str
    files: Mapping[str, FileDigest]


@dataclass(frozen=True)
class StagedRelease:
    """The staged directory, hashed once: relative POSIX path -> digest."""

    root: Path
    files: Mapping[str, FileDigest]

    @classmethod
    def scan(cls, root: Path) -> StagedRelease:
        root = Path(root)
        if not root.is_dir():
            raise PublishError(f"Staged release directory {root} does not exist")
        files: dict[str, FileDigest] = {}
        for directory, subdirs, names in os.walk(root):
            subdirs.sort()
            for name in sorted(names + [d for d in subdirs if (Path(directory) / d).is_symlink()]):
                path = Path(directory) / name
                relative = path.relative_to(root).as_posix()
                if path.is_symlink() or not path.is_file():
                    raise PublishError(f"Staged file {relative} is not a regular file (symlinks are refused)")
                files[relative] = digest_file(path)
        missing = [name for name in REQUIRED_FILES if name not in files]
        if missing:
            raise PublishError(f"Staged release {root} lacks {', '.join(missing)}")
        if HUB_PLUMBING in files:
            raise PublishError(f"Staged release {root} must not contain {HUB_PLUMBING}: targets manage it")
        return cls(root, files)

    def differences(self, snapshot: Snapshot) -> list[str]:
        """Paths whose content differs between the staged files and a snapshot (empty: identical)."""
        return file_differences(self.files, snapshot)

    @property
    def sha256s(self) -> dict[str, str]:
        """Relative path -> sha256 of every staged file: what verification records and publishing compares."""
        return {path: digest.sha256 or "" for path, digest in self.files.items()}

    @property
    def size_bytes(self) -> int:
        return sum((self.root / path).stat().st_size for path in self.files)


def file_differences(files: Mapping[str, FileDigest], snapshot: Snapshot) -> list[str]:
    """Paths whose content differs between `files` and a snapshot (empty: identical)."""
    changed = [
        f"changed {path}"
        for path, digest in files.items()
        if path in snapshot.files and not digest.same_content(snapshot.files[path])
    ]
    added = [f"new {path}" for path in files if path not in snapshot.files]
    removed = [f"removed {path}" for path in snapshot.files if path not in files]
    return changed + added + removed


def digest_file(path: Path) -> FileDigest:
    """sha256 and git blob id of a file, in one read."""
    sha256 = hashlib.sha256()
    git = hashlib.sha1(b"blob %d\0" % path.stat().st_size)
    with path.open("rb") as handle:
        while chunk := handle.read(CHUNK_BYTES):
            sha256.update(chunk)
            git.update(chunk)
    return FileDigest(sha256.hexdigest(), git.hexdigest())


@dataclass(frozen=True)
class PublishResult:
    repo_id: str
    version: str
    commit: str
    changed: bool
    url: str


@dataclass(frozen=True)
class RetryPolicy:
    """How often, and how patiently, a transient failure is retried.

    Worst case a publish makes `attempts` tries and sleeps at most `max_total_delay_s` between them;
    each try is itself bounded by the target's timeouts. A rate limit is not a failure: when the target
    says how long to wait (the Hub's 429 with `Retry-After`, which can be most of an hour once a repo
    passes its commit rate), the wait is honored and does not use up a try, as long as all such waits
    together stay within `max_rate_limit_wait_s`; beyond it, `RateLimitedError` says so and when to re-run.
    """

    attempts: int = 4
    first_delay_s: float = 2.0
    max_delay_s: float = 30.0
    max_rate_limit_wait_s: float = 3600.0
    sleep: Callable[[float], None] = field(default=time.sleep, compare=False, repr=False)

    def __post_init__(self) -> None:
        if self.attempts < 1:
            raise ValueError(f"RetryPolicy.attempts must be >= 1, got {self.attempts}")
        if not 0 <= self.first_delay_s <= self.max_delay_s:
            raise ValueError("RetryPolicy needs 0 <= first_delay_s <= max_delay_s")
        if self.max_rate_limit_wait_s < 0:
            raise ValueError("RetryPolicy.max_rate_limit_wait_s must be >= 0")

    def delay_s(self, failed_attempt: int) -> float:
        return min(self.max_delay_s, self.first_delay_s * 2 ** (failed_attempt - 1))

    @property
    def max_total_delay_s(self) -> float:
        return sum(self.delay_s(attempt) for attempt in range(1, self.attempts))

    def run(self, step: Callable[[], T], is_transient: Callable[[BaseException], bool]) -> T:
        attempt, waited = 1, 0.0
        while True:
            try:
                return step()
            except Exception as error:
                limited = next((e for e in exception_chain(error) if isinstance(e, RateLimitedError)), None)
                if limited is not None and limited.retry_after_s is not None:
                    wait = limited.retry_after_s
                    if waited + wait > self.max_rate_limit_wait_s:
                        raise RateLimitedError(
                            f"Rate limited: {limited} The target asks to wait {wait:.0f} s, which would make "
                            f"{waited + wait:.0f} s of waiting, beyond the bound of {self.max_rate_limit_wait_s:.0f} s "
                            "(publishing.max_rate_limit_wait_s). Re-run later: publishing resumes where it "
                            "stopped and repeats nothing.", wait) from error
                    logger.warning("Rate limited (%s): waiting %.0f s as the target asks (Retry-After); "
                                   "%.0f of at most %.0f s waited so far",
                                   limited, wait, waited, self.max_rate_limit_wait_s)
                    self.sleep(wait)
                    waited += wait
                    continue
                if attempt >= self.attempts or not is_transient(error):
                    raise
                delay = self.delay_s(attempt)
                logger.warning("Transient failure (%s: %s); retry %d/%d in %.1fs",
                               type(error).__name__, error, attempt, self.attempts - 1, delay)
                self.sleep(delay)
                attempt += 1


class PublishTarget(Protocol):
    """Where a release goes. Revisions are "main", a tag or a commit id, as on the Hub."""

    def prepare_repo(self, repo_id: str, private: bool) -> None:
        """Create the repo if needed; refuse one whose visibility differs from `private`."""

    def snapshot(self, repo_id: str, revision: str) -> Snapshot | None:
        """The commit `revision` points at and its release files, or None if there is none."""

    def commit(self, repo_id: str, release: StagedRelease, parent: Snapshot | None, message: str) -> str:
        """Atomically make `main` hold exactly the release's files; return the new commit id."""

    def tag(self, repo_id: str, version: str, commit: str) -> None:
        """Point tag `version` at `commit`."""

    def url(self, repo_id: str, version: str) -> str:
        """Where people find the published version."""

    def read_file(self, repo_id: str, revision: str, path: str) -> bytes | None:
        """A file of `repo_id` at `revision`, or None when the repo, the revision or the file does not exist."""

    def is_transient(self, error: BaseException) -> bool:
        """Whether retrying after `error` may succeed."""


def publish_release(
    staged: Path | StagedRelease,
    repo_id: str,
    version: str,
    target: PublishTarget,
    private: bool,
    retry: RetryPolicy | None = None,
) -> PublishResult:
    """Publish a staged directory (or one already hashed, e.g. by the publishing gate) as `version` of
    `repo_id`: one commit, then one tag; safe to re-run. The commit is read back and compared, file by
    file, with the staged sha256s, so bytes changed after hashing are never tagged."""
    check_names(repo_id, version)
    release = staged if isinstance(staged, StagedRelease) else StagedRelease.scan(staged)
    logger.info("Publishing %s@%s: %d files, %d bytes",
                repo_id, version, len(release.files), release.size_bytes)
    step = functools.partial(publish_once, release, repo_id, version, target, private)
    return (retry or RetryPolicy()).run(step, target.is_transient)


def publish_once(
    release: StagedRelease, repo_id: str, version: str, target: PublishTarget, private: bool
) -> PublishResult:
    """One idempotent attempt: compare with what is published, then commit and tag what is missing."""
    target.prepare_repo(repo_id, private)
    published = target.snapshot(repo_id, version)
    if published is not None:
        differences = release.differences(published)
        if differences:
            raise ReleaseConflictError(
                f"{repo_id}@{version} is already published (commit {published.commit}) with different "
                f"content ({'; '.join(differences[:5])}{' ...' if len(differences) > 5 else ''}). "
                "A published version is never rewritten: publish under a new version."
            )
        logger.info("%s@%s is already published with identical content: nothing to do", repo_id, version)
        return PublishResult(repo_id, version, published.commit, False, target.url(repo_id, version))
    head = target.snapshot(repo_id, "main")
    if head is not None and not release.differences(head):
        logger.info("main of %s already holds this release (commit %s): tagging it", repo_id, head.commit)
        commit = head.commit
    else:
        commit = target.commit(repo_id, release, head, f"Release {version}")
        committed = target.snapshot(repo_id, commit)
        differences = release.differences(committed) if committed else ["the commit cannot be read back"]
        if differences:
            raise PublishError(f"Commit {commit} on {repo_id} does not hold the staged files: {differences}")
    target.tag(repo_id, version, commit)
    logger.info("Published %s@%s as commit %s", repo_id, version, commit)
    return PublishResult(repo_id, version, commit, True, target.url(repo_id, version))


def check_names(repo_id: str, version: str) -> None:
    if not REPO_ID_PATTERN.fullmatch(repo_id):
        raise PublishError(f"Invalid repo id {repo_id!r}: expected 'namespace/name' (letters, digits, _ . -)")
    if not VERSION_PATTERN.fullmatch(version) or version == "main" or re.fullmatch(r"[0-9a-f]{40}", version):
        raise PublishError(f"Invalid version {version!r}: need a tag name (letters, digits, _ . -), "
                           "not a branch name or a commit id")


# --- Local directory target -------------------------------------------------------------------------


@dataclass(frozen=True)
class LocalTarget:
    """A directory laid out like Hub dataset repos (see the module docstring for the layout)."""

    root: Path

    def repo_path(self, repo_id: str, revision: str = "main") -> Path:
        """The directory holding `repo_id` at `revision` (main, a tag or a commit id)."""
        if revision == "main":
            return Path(self.root) / repo_id
        store = self.store(repo_id)
        tag = store / "tags" / revision
        return tag if tag.is_symlink() else store / "commits" / revision

    def store(self, repo_id: str) -> Path:
        return Path(self.root) / ".revisions" / repo_id

    def prepare_repo(self, repo_id: str, private: bool) -> None:
        store = self.store(repo_id)
        settings = store / "repo.json"
        if settings.exists():
            recorded = json.loads(settings.read_text())["private"]
            if recorded != private:
                raise PublishError(visibility_mismatch(repo_id, recorded, private))
            return
        (store / "commits").mkdir(parents=True, exist_ok=True)
        (store / "tags").mkdir(exist_ok=True)
        store.chmod(0o700 if private else 0o755)
        write_atomically(settings, json.dumps({"private": private}).encode())

    def snapshot(self, repo_id: str, revision: str) -> Snapshot | None:
        path = self.repo_path(repo_id, revision)
        if not path.exists():
            return None
        if revision == "main" and not path.is_symlink():
            raise PublishError(not_managed(path))
        commit_dir = path.resolve()
        digests = json.loads((commit_dir.parent / f"{commit_dir.name}.json").read_text())
        return Snapshot(commit_dir.name, {name: FileDigest(sha) for name, sha in digests.items()})

    def commit(self, repo_id: str, release: StagedRelease, parent: Snapshot | None, message: str) -> str:
        """Copy into a temporary snapshot, rename it into place, then swap the `main` symlink."""
        store = self.store(repo_id)
        digests = {path: digest.sha256 for path, digest in sorted(release.files.items())}
        commit = hashlib.sha1(json.dumps(digests).encode()).hexdigest()
        with self.locked(repo_id):
            for leftover in store.glob("tmp-*"):  # half-written by a killed publish: only we write under the lock
                shutil.rmtree(leftover, ignore_errors=True)
            current = self.snapshot(repo_id, "main")
            if (current.commit if current else None) != (parent.commit if parent else None):
                raise PublishError(f"main of {repo_id} moved during this publish; re-run to publish on top")
            final = store / "commits" / commit
            if not final.exists():
                self.write_snapshot(release, parent, store, final)
            write_atomically(store / "commits" / f"{commit}.json", json.dumps(digests, indent=1).encode())
            main = self.repo_path(repo_id)
            main.parent.mkdir(parents=True, exist_ok=True)
            replace_symlink(main, os.path.relpath(final, main.parent))
        logger.info("%s: %s -> commit %s in %s", repo_id, message, commit, store)
        return commit

    @staticmethod
    def write_snapshot(release: StagedRelease, parent: Snapshot | None, store: Path, final: Path) -> None:
        staging = store / f"tmp-{uuid.uuid4().hex}"
        try:
            for path, digest in release.files.items():
                destination = staging / path
                destination.parent.mkdir(parents=True, exist_ok=True)
                previous = parent.files.get(path) if parent else None
                if previous and previous.same_content(digest):  # snapshots are immutable: share the file
                    os.link(store / "commits" / parent.commit / path, destination)
                else:
                    copy_verified(release.root / path, destination, digest.sha256)
            os.rename(staging, final)
        finally:
            shutil.rmtree(staging, ignore_errors=True)

    def tag(self, repo_id: str, version: str, commit: str) -> None:
        tag = self.store(repo_id) / "tags" / version
        with self.locked(repo_id):
            try:
                os.symlink(os.path.join("..", "commits", commit), tag)
            except FileExistsError:
                existing = tag.resolve().name
                if existing != commit:
                    message = f"Tag {version} of {repo_id} already points at {existing}"
                    raise ReleaseConflictError(message) from None

    def url(self, repo_id: str, version: str) -> str:
        return self.repo_path(repo_id, version).absolute().as_uri()

    def versions(self, repo_id: str) -> list[str]:
        tags = self.store(repo_id) / "tags"
        return sorted(tag.name for tag in tags.iterdir()) if tags.is_dir() else []

    def checkout(self, repo_id: str, version: str, scratch: Path) -> Path:
        """The directory of a published version (read it, never write it: snapshots share files)."""
        return self.repo_path(repo_id, version)

    def replace_versions(self, repo_id: str, releases: Mapping[str, StagedRelease]) -> None:
        """Rewrite published versions (a takedown), each as `replace_version` does."""
        for version, release in releases.items():
            self.replace_version(repo_id, version, release)

    def replace_version(self, repo_id: str, version: str, release: StagedRelease) -> str:
        """Rewrite a published version (a takedown): its tag, and `main` if it pointed at the same commit,
        move to a commit of `release`; the old commit is deleted once nothing points at it. Returns the commit."""
        store = self.store(repo_id)
        digests = {path: digest.sha256 for path, digest in sorted(release.files.items())}
        commit = hashlib.sha1(json.dumps(digests).encode()).hexdigest()
        with self.locked(repo_id):
            old = self.snapshot(repo_id, version)
            final = store / "commits" / commit
            if not final.exists():
                self.write_snapshot(release, None, store, final)
            write_atomically(store / "commits" / f"{commit}.json", json.dumps(digests, indent=1).encode())
            main = self.repo_path(repo_id)
            if old is not None and main.is_symlink() and main.resolve().name == old.commit:
                replace_symlink(main, os.path.relpath(final, main.parent))
            replace_symlink(store / "tags" / version, os.path.join("..", "commits", commit))
            pointed = {tag.resolve().name for tag in (store / "tags").iterdir()} | {main.resolve().name}
            if old is not None and old.commit != commit and old.commit not in pointed:
                shutil.rmtree(store / "commits" / old.commit)
                (store / "commits" / f"{old.commit}.json").unlink()
        logger.info("%s@%s rewritten as commit %s", repo_id, version, commit)
        return commit

    def read_file(self, repo_id: str, revision: str, path: str) -> bytes | None:
        file = self.repo_path(repo_id, revision) / path
        return file.read_bytes() if file.is_file() else None

    def is_transient(self, error: BaseException) -> bool:
        return False  # a local disk error does not go away by waiting

    @contextmanager
    def locked(self, repo_id: str) -> Iterator[None]:
        """One writer per repo at a time (other processes included)."""
        with (self.store(repo_id) / ".lock").open("a") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)


def copy_verified(source: Path, destination: Path, sha256: str) -> None:
    """Copy, fsync, and check the bytes written are the bytes that were hashed when staging."""
    digest = hashlib.sha256()
    with source.open("rb") as reader, destination.open("wb") as writer:
        while chunk := reader.read(CHUNK_BYTES):
            digest.update(chunk)
            writer.write(chunk)
        writer.flush()
        os.fsync(writer.fileno())
    if digest.hexdigest() != sha256:
        raise PublishError(f"{source} changed while it was being published; stage the release again")


def write_atomically(path: Path, content: bytes) -> None:
    temporary = path.with_name(f".{path.name}.{uuid.uuid4().hex}")
    temporary.write_bytes(content)
    os.replace(temporary, path)


def replace_symlink(link: Path, target: str) -> None:
    if link.exists() and not link.is_symlink():
        raise PublishError(not_managed(link))
    temporary = link.with_name(f".{link.name}.{uuid.uuid4().hex}")
    os.symlink(target, temporary)
    os.replace(temporary, link)


def not_managed(path: Path) -> str:
    return f"{path} exists but is not managed by LocalTarget (expected a symlink to a commit)"


def visibility_mismatch(repo_id: str, is_private: bool, want_private: bool) -> str:
    kind = {True: "private", False: "public"}
    return (f"{repo_id} is {kind[is_private]} but this release is {kind[want_private]}: refusing to publish. "
            "Change the repo's visibility deliberately, or publish to another repo.")


# --- Hugging Face Hub target ------------------------------------------------------------------------


@dataclass(frozen=True)
class HubTarget:
    """Dataset repos on the Hub (or a Hub-compatible server at `endpoint`), through `huggingface_hub`.

    The token is read from `token_env` for every call and never kept. `timeout_s` bounds every HTTP
    read, write and connect: huggingface_hub's shared client waits forever by default.

    `transfer` decides how file contents travel, whatever is installed: "lfs" (the LFS batch API and
    plain PUTs, the path the tests exercise) or "xet" (huggingface_hub's Xet storage, needs hf_xet).
    `gated_access`: the repo is public but gated, its files served only to these accounts (granted
    at every publish; any other accepted account is revoked). `terms_gated`: the repo is public but gated
    with automatic approval, so the Hub serves its files to whoever accepts the terms on its card
    (`card.gating`); set before any file is committed, and a repo that cannot be gated is refused. A commit
    holds at most `max_files_per_commit` files (the Hub recommends < 100); a larger release is several commits.
    """

    endpoint: str | None = None
    token_env: str = "HF_TOKEN"
    timeout_s: float = 60.0
    transfer: Literal["lfs", "xet"] = "lfs"
    gated_access: tuple[str, ...] | None = None
    terms_gated: bool = False
    max_files_per_commit: int = 100

    def prepare_repo(self, repo_id: str, private: bool) -> None:
        from huggingface_hub.errors import RepositoryNotFoundError

        if self.gated_access is not None and private:
            raise PublishError(f"{repo_id}: a gated repo is public (gated), not private")
        with self.api() as api:
            try:
                info = api.dataset_info(repo_id, timeout=self.timeout_s)
            except RepositoryNotFoundError:
                api.create_repo(repo_id, repo_type="dataset", private=private, exist_ok=True)
                info = api.dataset_info(repo_id, timeout=self.timeout_s)
            if self.gated_access is not None:
                info = self.set_access(api, repo_id, info)
            elif self.terms_gated and info.gated not in ("auto", "manual"):
                api.update_repo_settings(repo_id, gated="auto", repo_type="dataset")
                info = api.dataset_info(repo_id, timeout=self.timeout_s)
                if info.gated not in ("auto", "manual"):
                    raise PublishError(f"{repo_id} could not be gated (gated={info.gated!r}), so the terms on its "
                                       "card would not be asked for: refusing to publish")
        if bool(info.private) != private:
            raise PublishError(visibility_mismatch(repo_id, bool(info.private), private))

    def set_access(self, api, repo_id: str, info):
        """Gate the repo (before any file is committed) and make its accepted accounts exactly `gated_access`."""
        if info.gated != "manual":
            api.update_repo_settings(repo_id, gated="manual", repo_type="dataset")
            info = api.dataset_info(repo_id, timeout=self.timeout_s)
            if info.gated != "manual":
                raise PublishError(f"{repo_id} could not be gated (gated={info.gated!r}): refusing to publish")
        accepted = {request.username for request in api.list_accepted_access_requests(repo_id, repo_type="dataset")}
        for user in sorted(set(self.gated_access) - accepted):
            api.grant_access(repo_id, user, repo_type="dataset")
        for user in sorted(accepted - set(self.gated_access)):
            api.reject_access_request(repo_id, user, repo_type="dataset",
                                      rejection_reason="not on this export's access list")
        return info

    def snapshot(self, repo_id: str, revision: str) -> Snapshot | None:
        from huggingface_hub import RepoFile
        from huggingface_hub.errors import RepositoryNotFoundError, RevisionNotFoundError

        with self.api() as api:
            try:
                commit = api.dataset_info(repo_id, revision=revision, timeout=self.timeout_s).sha
            except (RepositoryNotFoundError, RevisionNotFoundError):
                return None
            entries = api.list_repo_tree(repo_id, repo_type="dataset", revision=commit, recursive=True)
            files = {
                entry.path: FileDigest(entry.lfs.sha256) if entry.lfs else FileDigest(None, entry.blob_id)
                for entry in entries
                if isinstance(entry, RepoFile) and entry.path != HUB_PLUMBING
            }
        return Snapshot(commit, files)

    def commit(self, repo_id: str, release: StagedRelease, parent: Snapshot | None, message: str,
               branch: str = "main") -> str:
        """One commit, or several of at most `max_files_per_commit` files when the release is larger:
        files `branch` already holds are not sent again, so a re-run after a split commit was cut off
        sends only what is missing; the card and manifest come in the last one."""
        from huggingface_hub import CommitOperationAdd, CommitOperationDelete

        too_large = [path for path in release.files if (release.root / path).stat().st_size > MAX_HUB_FILE_BYTES]
        if too_large:
            raise PublishError(f"{', '.join(too_large)}: larger than the Hub's {MAX_HUB_FILE_BYTES:,} bytes per file; "
                               "write smaller shards (release_build.ROWS_PER_FILE)")
        operations: list = []
        held = parent.files if parent else {}
        last = {"README.md", "manifest.json"}
        for path, digest in sorted(release.files.items(), key=lambda item: (item[0] in last, item[0])):
            if path in held and digest.same_content(held[path]) and path not in last:
                continue
            addition = CommitOperationAdd(path, str(release.root / path))
            addition.upload_info.sha256 = bytes.fromhex(digest.sha256)  # hashed once, when scanned
            operations.append(addition)
        stale = sorted(set(held) - set(release.files))
        operations = [CommitOperationDelete(path) for path in stale] + operations
        parts = [operations[i:i + self.max_files_per_commit]
                 for i in range(0, len(operations), self.max_files_per_commit)] or [[]]
        commit = parent.commit if parent else None
        with self.api() as api:
            for number, part in enumerate(parts, 1):
                title = message if len(parts) == 1 else f"{message} ({number}/{len(parts)})"
                commit = api.create_commit(repo_id, part, commit_message=title, repo_type="dataset",
                                           revision=branch, parent_commit=commit).oid
        return commit

    def versions(self, repo_id: str) -> list[str]:
        """The repo's tags (its published versions); none when the repo does not exist."""
        from huggingface_hub.errors import RepositoryNotFoundError

        with self.api() as api:
            try:
                return sorted(tag.name for tag in api.list_repo_refs(repo_id, repo_type="dataset").tags)
            except RepositoryNotFoundError:
                return []

    def checkout(self, repo_id: str, version: str, scratch: Path) -> Path:
        """The files of a published version, downloaded once under `scratch` (without the Hub's plumbing)."""
        directory = Path(scratch) / "published" / repo_id / version
        if not directory.is_dir():
            partial = directory.with_name(f".{version}.{uuid.uuid4().hex}")
            with self.api() as api:
                api.snapshot_download(repo_id, repo_type="dataset", revision=version, local_dir=partial)
            (partial / HUB_PLUMBING).unlink(missing_ok=True)
            shutil.rmtree(partial / ".cache", ignore_errors=True)  # huggingface_hub's download metadata
            os.rename(partial, directory)
        return directory

    def replace_versions(self, repo_id: str, releases: Mapping[str, StagedRelease]) -> None:
        """Rewrite published versions (a takedown) so that no branch or tag reaches their old bytes.

        Every tag is re-rooted: a temporary branch from it gets the rewritten files (or keeps its own, for a
        version the takedown did not touch, whose history still holds older versions), is super-squashed
        into one commit without parents, and the tag is moved there (deleted, created again). `main` gets the
        rewritten files of the version it holds and is super-squashed, and its tags follow it. Then the LFS
        objects that no branch or tag references anymore are deleted permanently. Versions the takedown
        changes go last, so a run cut off before the end leaves one of them unrewritten, and running the
        command again does it all again."""
        with self.api() as api:
            refs = api.list_repo_refs(repo_id, repo_type="dataset")
            tags = {tag.name: tag.target_commit for tag in refs.tags}
            head = next(branch.target_commit for branch in refs.branches if branch.name == "main")
            on_main = sorted(version for version, commit in tags.items() if commit == head)
            others = sorted((v for v in tags if v not in on_main), key=lambda v: (v in releases, v))
            for version in [v for v in others if v not in releases]:
                self.reroot_tag(api, repo_id, version, tags[version], None)
            main = self.snapshot(repo_id, "main")
            rewritten = next((releases[v] for v in on_main if v in releases), None)
            if rewritten is not None and rewritten.differences(main):
                self.commit(repo_id, rewritten, main, "Takedown: rows removed at the request of the people concerned")
            api.super_squash_history(repo_id, branch="main", repo_type="dataset",
                                     commit_message="History squashed after a takedown")
            squashed = api.dataset_info(repo_id, revision="main", timeout=self.timeout_s).sha
            for version in on_main:
                self.move_tag(api, repo_id, version, squashed)
            for version in [v for v in others if v in releases]:
                self.reroot_tag(api, repo_id, version, tags[version], releases[version])
            self.delete_unreferenced_lfs_files(api, repo_id)

    def reroot_tag(self, api, repo_id: str, version: str, commit: str, release: StagedRelease | None) -> None:
        """Point tag `version` at a parentless commit holding `release` (None: the files of `commit`)."""
        from huggingface_hub.errors import RevisionNotFoundError

        branch = f"takedown-{version}"
        with contextlib.suppress(RevisionNotFoundError):  # left by a run that was cut off
            api.delete_branch(repo_id, branch=branch, repo_type="dataset")
        api.create_branch(repo_id, branch=branch, revision=commit, repo_type="dataset")
        if release is not None:
            self.commit(repo_id, release, self.snapshot(repo_id, commit),
                        f"Release {version}, rewritten: rows removed at the request of the people concerned", branch)
        api.super_squash_history(repo_id, branch=branch, repo_type="dataset", commit_message=f"Release {version}")
        squashed = api.dataset_info(repo_id, revision=branch, timeout=self.timeout_s).sha
        expected = release.files if release is not None else self.snapshot(repo_id, commit).files
        differences = file_differences(expected, self.snapshot(repo_id, squashed))
        if differences:
            raise PublishError(f"{repo_id}@{version}: the rewritten commit {squashed} does not hold the expected "
                               f"files ({'; '.join(differences[:5])}); the tag was not moved")
        self.move_tag(api, repo_id, version, squashed)
        api.delete_branch(repo_id, branch=branch, repo_type="dataset")

    def move_tag(self, api, repo_id: str, version: str, commit: str) -> None:
        api.delete_tag(repo_id, tag=version, repo_type="dataset")
        api.create_tag(repo_id, tag=version, revision=commit, repo_type="dataset", tag_message=f"Release {version}")

    def delete_unreferenced_lfs_files(self, api, repo_id: str) -> None:
        """Permanently delete the repo's LFS objects that no branch or tag holds (the rewritten versions' old
        data files), so their bytes leave the Hub's storage rather than wait for its garbage collection."""
        refs = api.list_repo_refs(repo_id, repo_type="dataset")
        held = {digest.sha256 for ref in [*refs.branches, *refs.tags]
                for digest in self.snapshot(repo_id, ref.target_commit).files.values()}
        stale = [lfs for lfs in api.list_lfs_files(repo_id, repo_type="dataset") if lfs.file_oid not in held]
        if stale:
            api.permanently_delete_lfs_files(repo_id, stale, repo_type="dataset")
            logger.info("%s: %d LFS objects no branch or tag holds deleted", repo_id, len(stale))

    def tag(self, repo_id: str, version: str, commit: str) -> None:
        with self.api() as api:
            api.create_tag(repo_id, tag=version, revision=commit, repo_type="dataset",
                           tag_message=f"Release {version}")

    def read_file(self, repo_id: str, revision: str, path: str) -> bytes | None:
        from huggingface_hub.errors import (
            EntryNotFoundError,
            LocalEntryNotFoundError,
            RepositoryNotFoundError,
            RevisionNotFoundError,
        )

        with self.api() as api, tempfile.TemporaryDirectory() as cache:
            try:
                local = api.hf_hub_download(repo_id, path, repo_type="dataset", revision=revision, cache_dir=cache)
            except LocalEntryNotFoundError:
                raise  # the Hub could not be reached: not the same as "no such file"
            except (RepositoryNotFoundError, RevisionNotFoundError, EntryNotFoundError):
                return None
            return Path(local).read_bytes()

    def url(self, repo_id: str, version: str) -> str:
        from huggingface_hub import constants

        return f"{self.endpoint or constants.ENDPOINT}/datasets/{repo_id}/tree/{version}"

    def is_transient(self, error: BaseException) -> bool:
        import httpx2
        from huggingface_hub.errors import HfHubHTTPError

        for cause in exception_chain(error):
            if isinstance(cause, HubCallError | RateLimitedError):
                return cause.transient if isinstance(cause, HubCallError) else True
            if isinstance(cause, httpx2.TimeoutException | httpx2.NetworkError | httpx2.RemoteProtocolError):
                return True
            if isinstance(cause, HfHubHTTPError) and cause.response is not None:
                return cause.response.status_code in TRANSIENT_STATUS_CODES
        return False

    @contextmanager
    def api(self) -> Iterator:
        """An HfApi holding the token for one block of calls; errors leave with the token masked."""
        from huggingface_hub import HfApi

        token = os.environ.get(self.token_env, "").strip()
        if not token:
            raise MissingTokenError(
                f"${self.token_env} is not set: publishing to the Hub needs a write token in that variable"
            )
        bound_http_timeouts(self.timeout_s)
        with (secrets_masked([token], lambda text, error: HubCallError(text, self.is_transient(error))),
              transfer_mode(self.transfer)):
            yield HfApi(endpoint=self.endpoint, token=token)


@contextmanager
def transfer_mode(mode: str) -> Iterator[None]:
    """Uploads through LFS or Xet as decided, not as installed: huggingface_hub uploads through Xet
    whenever hf_xet is importable, unless its HF_HUB_DISABLE_XET constant says otherwise."""
    from huggingface_hub import constants

    if mode == "xet":
        import hf_xet  # noqa: F401 - the Xet mode needs it; fail here, clearly, when it is missing
    before = constants.HF_HUB_DISABLE_XET
    constants.HF_HUB_DISABLE_XET = mode == "lfs"
    try:
        yield
    finally:
        constants.HF_HUB_DISABLE_XET = before


def raise_on_rate_limit(response) -> None:
    """A 429 leaves huggingface_hub at once, as RateLimitedError with the wait the Hub asked for.

    The library would otherwise sleep out any `Retry-After` itself, however long, within a single
    call; raised here, the wait goes through `RetryPolicy`, which bounds it and says so.
    """
    if response.status_code != 429:
        return
    from huggingface_hub.utils import parse_ratelimit_headers

    limit = parse_ratelimit_headers(response.headers)
    wait = retry_after_s(response.headers.get("retry-after"))
    if wait is None and limit is not None and limit.remaining == 0:
        wait = float(limit.reset_in_seconds)
    raise RateLimitedError(f"{response.request.method} {response.request.url.path} answered 429 "
                           f"({response.headers.get('x-error-message', 'too many requests')}).", wait)


def retry_after_s(value: str | None) -> float | None:
    """`Retry-After` as seconds: a number of seconds or an HTTP date (RFC 9110); None if absent or unreadable."""
    if not value:
        return None
    if value.strip().isdigit():
        return float(value.strip())
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, (when - datetime.datetime.now(datetime.UTC)).total_seconds())


def exception_chain(error: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__


def bound_http_timeouts(timeout_s: float) -> None:
    """Give huggingface_hub's shared HTTP client a timeout that even calls passing `timeout=None` obey.

    The library's client is process-wide, so this is a process-wide setting; it is installed again
    only when the value changes.
    """
    import httpx2
    from huggingface_hub.utils import set_client_factory
    from huggingface_hub.utils._http import default_client_factory

    if INSTALLED_HTTP_TIMEOUT.get("seconds") == timeout_s:
        return

    def fill_missing_timeouts(request: httpx2.Request) -> None:
        timeouts = request.extensions.get("timeout", {})
        request.extensions["timeout"] = {
            phase: timeout_s if timeouts.get(phase) is None else timeouts[phase]
            for phase in ("connect", "read", "write", "pool")
        }

    def client_factory() -> httpx2.Client:
        client = default_client_factory()
        client.timeout = httpx2.Timeout(timeout_s)
        client.event_hooks = {**client.event_hooks,
                              "request": [*client.event_hooks["request"], fill_missing_timeouts],
                              "response": [*client.event_hooks.get("response", []), raise_on_rate_limit]}
        return client

    set_client_factory(client_factory)
    INSTALLED_HTTP_TIMEOUT["seconds"] = timeout_s
