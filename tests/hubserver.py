"""A local Hugging Face Hub-compatible HTTP server for tests.

It speaks the wire protocol that the real `huggingface_hub` client and `datasets.load_dataset` use
for dataset repos (the routes listed in REFERENCE §6), with git-like semantics: every repo is a set
of immutable commits, branches and tags point at commits, files are regular git blobs or LFS objects
(uploaded through the LFS batch API and a PUT to the returned href), and every read resolves a
branch, tag or commit id. Private repos answer 401 `RepoNotFound` without a valid token, as the Hub
does. Fault knobs (`HubServer.inject`) make a chosen call fail, stall, or fail after applying its
change (a lost response), so resilience tests can drive the client through real failures.

Permissions follow the Hub's: a token belongs to a user and is a write token unless listed in
`read_only_tokens`; a user may write to (and read the private repos of) its own namespace and the
organizations it is a member of (`orgs`). A gated repo is public, but its files are served only to
members of its namespace and to the users granted access (`/user-access-request/grant`). A
non-member asking for a private repo gets 404 `RepoNotFound`, an anonymous caller 401.

Out of scope: model and Space repos, pull requests, Xet storage (a client in Xet mode fails at its
first Xet call; `state.transfers_offered` records what each LFS batch request offered). The server
binds 127.0.0.1 on an ephemeral port and runs in a daemon thread:
`with HubServer(tokens={token: user}, orgs={org: {user}}) as hub: ... hub.url ...`.
"""

from __future__ import annotations

import base64
import contextlib
import fnmatch
import hashlib
import itertools
import json
import re
import socket
import threading
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import MappingProxyType
from urllib.parse import parse_qs, unquote, urlsplit

import yaml

# What the Hub writes as the first commit of a new dataset repo (abridged to the patterns tests need:
# binary data formats go to LFS, text stays a regular git blob).
DEFAULT_GITATTRIBUTES = "".join(
    f"{pattern} filter=lfs diff=lfs merge=lfs -text\n"
    for pattern in (
        "*.7z", "*.arrow", "*.bin", "*.bz2", "*.gz", "*.h5", "*.jpeg", "*.jpg", "*.lz4", "*.mp3",
        "*.npy", "*.npz", "*.parquet", "*.pkl", "*.png", "*.pt", "*.safetensors", "*.tar", "*.wav",
        "*.webp", "*.zip", "*.zst",
    )
)
LFS_SIZE_THRESHOLD = 10 * 1024 * 1024  # the Hub sends anything this large to LFS whatever its name


class HubError(Exception):
    """An error answer: HTTP status, the Hub's `X-Error-Code` (if any) and a message."""

    def __init__(self, status: int, message: str, code: str | None = None,
                 headers: Mapping[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.headers = dict(headers or {})


@dataclass(frozen=True)
class Blob:
    """One file in a commit. `git_oid` is the id git stores (for LFS files: the pointer's id)."""

    content: bytes
    git_oid: str
    lfs_oid: str | None = None
    pointer_size: int | None = None

    @property
    def size(self) -> int:
        return len(self.content)


@dataclass(frozen=True)
class Commit:
    oid: str
    parent: str | None
    title: str
    date: str
    files: Mapping[str, Blob]


@dataclass
class Repo:
    repo_id: str
    private: bool
    created_at: str
    gated: str | bool = False  # False, "auto" or "manual"
    granted: set[str] = field(default_factory=set)  # users whose access request is accepted
    commits: dict[str, Commit] = field(default_factory=dict)
    branches: dict[str, str] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)
    lfs_files: dict[str, dict] = field(default_factory=dict)  # LFS objects pushed to this repo, by sha256

    def reachable(self) -> set[str]:
        """Commits some branch or tag reaches (itself or through parents): what the repo still serves."""
        seen: set[str] = set()
        for oid in [*self.branches.values(), *self.tags.values()]:
            while oid is not None and oid not in seen:
                seen.add(oid)
                oid = self.commits[oid].parent
        return seen

    def resolve(self, revision: str) -> Commit:
        """A branch, a tag or a full commit id, as the Hub resolves a revision."""
        oid = self.branches.get(revision) or self.tags.get(revision) or revision
        if oid not in self.commits:
            raise HubError(404, f"Invalid rev id: {revision}", "RevisionNotFound")
        return self.commits[oid]


@dataclass
class Fault:
    """Make calls to one route misbehave: let `after` calls through, then hit the next `times` calls.

    A hit call stalls `hang_s` seconds (so a client with a shorter timeout gives up), applies its
    change first when `apply_first` (the change lands but the answer is lost), then answers `status`
    with `message` as the error text and `headers` (e.g. a 429 with `Retry-After`), to test what a client
    does with what a server says.
    """

    route: str
    status: int = 500
    after: int = 0
    times: int = 1
    hang_s: float = 0.0
    apply_first: bool = False
    message: str | None = None
    headers: dict[str, str] = field(default_factory=dict)
    seen: int = 0

    def hits(self) -> bool:
        self.seen += 1
        return self.after < self.seen <= self.after + self.times


@dataclass(frozen=True)
class Caller:
    """Who a token belongs to, and whether it is a write token."""

    name: str
    can_write: bool


@dataclass(frozen=True)
class RequestRecord:
    method: str
    path: str
    route: str
    status: int
    authenticated: bool


def git_blob_oid(content: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(content) + content).hexdigest()


def lfs_pointer(sha256: str, size: int) -> bytes:
    return f"version https://git-lfs.github.com/spec/v1\noid sha256:{sha256}\nsize {size}\n".encode()


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def lfs_patterns(gitattributes: bytes | None) -> list[str]:
    if gitattributes is None:
        return []
    return [
        line.split()[0]
        for line in gitattributes.decode(errors="replace").splitlines()
        if "filter=lfs" in line and not line.lstrip().startswith("#")
    ]


def wants_lfs(path: str, size: int, patterns: list[str]) -> bool:
    name = path.rsplit("/", 1)[-1]
    return size >= LFS_SIZE_THRESHOLD or any(
        fnmatch.fnmatch(name, pattern) or fnmatch.fnmatch(path, pattern) for pattern in patterns
    )


def card_data(commit: Commit) -> dict | None:
    """The YAML header of README.md, as the Hub reports it in `cardData`."""
    readme = commit.files.get("README.md")
    if readme is None:
        return None
    match = re.match(r"^---\s*\n(.*?)\n---\s*(\n|$)", readme.content.decode(errors="replace"), re.S)
    loaded = yaml.safe_load(match.group(1)) if match else None
    return loaded if isinstance(loaded, dict) else None


class HubState:
    """Repos, LFS storage, faults and the request log, shared by all handler threads under one lock."""

    def __init__(self, tokens: Mapping[str, str], orgs: Mapping[str, Iterable[str]],
                 read_only_tokens: Iterable[str]) -> None:
        self.tokens = dict(tokens)
        self.orgs = {org: set(members) for org, members in orgs.items()}
        self.read_only_tokens = set(read_only_tokens)
        self.transfers_offered: list[list[str]] = []
        self.repos: dict[str, Repo] = {}
        self.lfs_objects: dict[str, bytes] = {}
        self.upload_tickets: dict[str, tuple[str, int]] = {}
        self.faults: list[Fault] = []
        self.requests: list[RequestRecord] = []
        self.lock = threading.RLock()
        self.stopping = threading.Event()
        self._commit_counter = itertools.count(1)

    def user_for(self, authorization: str | None) -> Caller | None:
        """The user a bearer token belongs to; a token the Hub does not know is refused outright."""
        if not authorization:
            return None
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() != "bearer" or token not in self.tokens:
            raise HubError(401, "Invalid credentials in Authorization header")
        return Caller(self.tokens[token], token not in self.read_only_tokens)

    def is_member(self, user: Caller | None, namespace: str) -> bool:
        return user is not None and (user.name == namespace or user.name in self.orgs.get(namespace, ()))

    def require_write(self, user: Caller | None, namespace: str) -> None:
        if user is None:
            raise HubError(401, "You must be authenticated to write to a repo")
        if not self.is_member(user, namespace):
            raise HubError(403, f"You don't have the rights to write to the namespace {namespace}")
        if not user.can_write:
            raise HubError(403, "This is a read-only token: it cannot write")

    def repo(self, repo_id: str, user: Caller | None, write: bool = False) -> Repo:
        repo = self.repos.get(repo_id)
        namespace = repo_id.split("/")[0]
        if repo is None or (repo.private and not self.is_member(user, namespace)):
            raise HubError(401 if user is None else 404, "Repository not found", "RepoNotFound")
        if write:
            self.require_write(user, namespace)
        return repo

    def require_file_access(self, repo: Repo, user: Caller | None) -> None:
        """A gated repo's files: members of its namespace and granted users only."""
        if repo.gated and not self.is_member(user, repo.repo_id.split("/")[0]) and (
                user is None or user.name not in repo.granted):
            raise HubError(401 if user is None else 403,
                           f"Access to dataset {repo.repo_id} is restricted. You must have access to it.", "GatedRepo")

    def new_commit(self, repo: Repo, parent: Commit | None, title: str, files: dict[str, Blob]) -> Commit:
        parent_oid = parent.oid if parent else None
        tree = sorted((path, blob.git_oid) for path, blob in files.items())
        seed = json.dumps([parent_oid, title, tree, next(self._commit_counter)]).encode()
        commit = Commit(hashlib.sha1(seed).hexdigest(), parent_oid, title, now_iso(), MappingProxyType(files))
        repo.commits[commit.oid] = commit
        return commit

    def take_fault(self, route: str) -> Fault | None:
        with self.lock:
            hit = [fault for fault in self.faults if fault.route == route and fault.hits()]
        return hit[0] if hit else None


Route = tuple[str, re.Pattern[str], str]
REPO = r"(?P<repo>[^/]+/[^/]+)"
REV = r"(?P<rev>[^/]+)"
ROUTES: list[Route] = [
    (method, re.compile(pattern), name)
    for method, pattern, name in [
        ("POST", r"/api/repos/create", "create_repo"),
        ("GET", rf"/api/datasets/{REPO}(?:/revision/{REV})?", "repo_info"),
        ("POST", r"/api/validate-yaml", "validate_yaml"),
        ("POST", rf"/api/datasets/{REPO}/preupload/{REV}", "preupload"),
        ("POST", rf"/datasets/{REPO}\.git/info/lfs/objects/batch", "lfs_batch"),
        ("PUT", r"/lfs-upload/(?P<ticket>[0-9a-f]+)", "lfs_put"),
        ("POST", r"/lfs-verify", "lfs_verify"),
        ("POST", rf"/api/datasets/{REPO}/commit/{REV}", "commit"),
        ("POST", rf"/api/datasets/{REPO}/tag/{REV}", "tag"),
        ("DELETE", rf"/api/datasets/{REPO}/tag/{REV}", "delete_tag"),
        ("POST", rf"/api/datasets/{REPO}/branch/{REV}", "create_branch"),
        ("DELETE", rf"/api/datasets/{REPO}/branch/{REV}", "delete_branch"),
        ("POST", rf"/api/datasets/{REPO}/super-squash/{REV}", "super_squash"),
        ("GET", rf"/api/datasets/{REPO}/lfs-files", "lfs_files"),
        ("POST", rf"/api/datasets/{REPO}/lfs-files/batch", "delete_lfs_files"),
        ("GET", rf"/api/datasets/{REPO}/refs", "refs"),
        ("GET", rf"/api/datasets/{REPO}/tree/{REV}(?:/(?P<path>.*))?", "tree"),
        ("POST", rf"/api/datasets/{REPO}/paths-info/{REV}", "paths_info"),
        ("PUT", rf"/api/datasets/{REPO}/settings", "settings"),
        ("POST", rf"/api/datasets/{REPO}/user-access-request/grant", "grant_access"),
        ("POST", rf"/api/datasets/{REPO}/user-access-request/handle", "handle_access"),
        ("GET", rf"/api/datasets/{REPO}/user-access-request/(?P<status>accepted|pending|rejected)",
         "access_requests"),
        ("HEAD", rf"/datasets/{REPO}/resolve/{REV}/(?P<path>.+)", "resolve"),
        ("GET", rf"/datasets/{REPO}/resolve/{REV}/(?P<path>.+)", "resolve"),
    ]
]


@dataclass
class Reply:
    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)

    @classmethod
    def json(cls, value: object, status: int = 200, headers: dict[str, str] | None = None) -> Reply:
        headers = {"Content-Type": "application/json", **(headers or {})}
        return cls(status, json.dumps(value).encode(), headers)

    @classmethod
    def error(cls, error: HubError) -> Reply:
        """How the Hub reports errors: JSON body, X-Error-Message, and X-Error-Code when it has one."""
        headers = {"X-Error-Message": str(error).encode("ascii", "backslashreplace").decode(), **error.headers}
        if error.code:
            headers["X-Error-Code"] = error.code
        return cls.json({"error": str(error)}, error.status, headers)


class HubHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body go out as separate writes: no 40 ms delayed-ACK stalls
    server: HubHTTPServer

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - stdlib signature
        """Quiet: the request log (`HubServer.requests`) records every call instead."""

    def do_GET(self) -> None:
        self.dispatch()

    do_HEAD = do_POST = do_PUT = do_DELETE = do_GET

    def dispatch(self) -> None:
        state = self.server.state
        split = urlsplit(self.path)
        self.query = parse_qs(split.query)
        body = self.read_body()  # drained even when the answer is an error, so keep-alive stays in sync
        route, params = self.match(split.path)
        user: Caller | None = None
        try:
            user = state.user_for(self.headers.get("Authorization"))
            if route is None:
                raise HubError(404, f"No route for {self.command} {split.path}")
            fault = state.take_fault(route)
            if fault is not None and fault.hang_s:
                state.stopping.wait(fault.hang_s)
            if fault is not None and not fault.apply_first:
                raise HubError(fault.status, fault.message or f"injected fault on {route}", headers=fault.headers)
            handler: Callable[..., Reply] = getattr(self, f"route_{route}")
            with state.lock:
                reply = handler(body=body, user=user, **params)
            if fault is not None:
                raise HubError(fault.status, fault.message or f"injected fault on {route} after applying it",
                               headers=fault.headers)
        except HubError as error:
            reply = Reply.error(error)
        except Exception as error:  # malformed input or a bug here: answer loudly rather than drop the line
            reply = Reply.error(HubError(500, f"test server failure: {type(error).__name__}: {error}"))
        with state.lock:
            record = RequestRecord(self.command, self.path, route or "?", reply.status, user is not None)
            state.requests.append(record)
        self.send(reply)

    def match(self, path: str) -> tuple[str | None, dict[str, str]]:
        for method, pattern, name in ROUTES:
            found = pattern.fullmatch(path)
            if found and method == self.command:
                groups = found.groupdict().items()
                return name, {key: unquote(value) for key, value in groups if value is not None}
        return None, {}

    def read_body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks = []
            while size := int(self.rfile.readline().split(b";")[0].strip() or b"0", 16):
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
            while self.rfile.readline().strip():  # trailers, then the blank line
                pass
            return b"".join(chunks)
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def send(self, reply: Reply) -> None:
        try:
            self.send_response(reply.status)
            headers = {"Content-Length": str(len(reply.body)), **reply.headers}
            for key, value in headers.items():
                self.send_header(key, value)
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(reply.body)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up (a timeout test): nothing left to tell it

    def json_body(self, body: bytes) -> dict:
        try:
            value = json.loads(body or b"{}")
        except json.JSONDecodeError as error:
            raise HubError(400, f"Invalid JSON body: {error}") from None
        if not isinstance(value, dict):
            raise HubError(400, "Expected a JSON object")
        return value

    @property
    def base_url(self) -> str:
        return self.server.url

    # --- repos -------------------------------------------------------------------------------

    def route_create_repo(self, body: bytes, user: Caller | None) -> Reply:
        if user is None:
            raise HubError(401, "You must be authenticated to create a repo")
        payload = self.json_body(body)
        if payload.get("type") != "dataset":
            raise HubError(400, "This test server only hosts dataset repos")
        namespace = payload.get("organization") or user.name
        repo_id = f"{namespace}/{payload['name']}"
        url = f"{self.base_url}/datasets/{repo_id}"
        state = self.server.state
        state.require_write(user, namespace)
        if repo_id in state.repos:
            raise HubError(409, "You already created this dataset repo")
        private = payload.get("visibility") == "private" or bool(payload.get("private"))
        repo = Repo(repo_id, private, now_iso())
        gitattributes = DEFAULT_GITATTRIBUTES.encode()
        first = state.new_commit(repo, None, "initial commit",
                                 {".gitattributes": Blob(gitattributes, git_blob_oid(gitattributes))})
        repo.branches["main"] = first.oid
        state.repos[repo_id] = repo
        return Reply.json({"url": url, "name": repo_id, "id": repo_id})

    def route_repo_info(self, body: bytes, user: Caller | None, repo: str, rev: str = "main") -> Reply:
        hub_repo = self.server.state.repo(repo, user)
        commit = hub_repo.resolve(rev)
        return Reply.json({
            "_id": hashlib.sha1(repo.encode()).hexdigest()[:24],
            "id": repo,
            "author": repo.split("/")[0],
            "sha": commit.oid,
            "createdAt": hub_repo.created_at,
            "lastModified": commit.date,
            "private": hub_repo.private,
            "gated": hub_repo.gated,
            "disabled": False,
            "downloads": 0,
            "likes": 0,
            "tags": [],
            "cardData": card_data(commit),
            "siblings": [{"rfilename": path} for path in sorted(commit.files)],
        })

    def route_validate_yaml(self, body: bytes, user: Caller | None) -> Reply:
        """Check the card's YAML header parses to a mapping and its `configs` are well formed."""
        content = self.json_body(body).get("content", "")
        match = re.match(r"^---\s*\n(.*?)\n---\s*(\n|$)", content, re.S)
        errors: list[str] = []
        try:
            metadata = yaml.safe_load(match.group(1)) if match else {}
        except yaml.YAMLError as error:
            metadata, errors = {}, [f"Invalid YAML: {error}"]
        if not isinstance(metadata, dict):
            errors.append("The YAML header must be a mapping")
        else:
            for config in metadata.get("configs") or []:
                if not isinstance(config, dict) or "config_name" not in config or "data_files" not in config:
                    errors.append(f"Each entry of 'configs' needs config_name and data_files: {config!r}")
        if errors:
            return Reply.json({"errors": [{"message": message} for message in errors]}, 400)
        warnings = [] if match else [{"message": "Empty or missing yaml metadata in repo card"}]
        return Reply.json({"errors": [], "warnings": warnings})

    # --- settings and gated access ------------------------------------------------------------

    def route_settings(self, body: bytes, user: Caller | None, repo: str) -> Reply:
        hub_repo = self.server.state.repo(repo, user, write=True)
        payload = self.json_body(body)
        if "gated" in payload:
            if payload["gated"] not in ("auto", "manual", False):
                raise HubError(400, f"Invalid gated value {payload['gated']!r}")
            hub_repo.gated = payload["gated"]
        if "visibility" in payload:
            hub_repo.private = payload["visibility"] == "private"
        return Reply.json({})

    def route_grant_access(self, body: bytes, user: Caller | None, repo: str) -> Reply:
        hub_repo = self.server.state.repo(repo, user, write=True)
        if not hub_repo.gated:
            raise HubError(400, "This repository is not gated")
        name = self.json_body(body).get("user")
        if not name:
            raise HubError(400, "Missing user")
        if name in hub_repo.granted:
            raise HubError(409, f"{name} already has access")
        hub_repo.granted.add(name)
        return Reply.json({"user": name, "status": "accepted"})

    def route_handle_access(self, body: bytes, user: Caller | None, repo: str) -> Reply:
        hub_repo = self.server.state.repo(repo, user, write=True)
        payload = self.json_body(body)
        if payload.get("status") == "accepted":
            hub_repo.granted.add(payload["user"])
        else:
            hub_repo.granted.discard(payload["user"])
        return Reply.json({})

    def route_access_requests(self, body: bytes, user: Caller | None, repo: str, status: str) -> Reply:
        hub_repo = self.server.state.repo(repo, user, write=True)
        names = sorted(hub_repo.granted) if status == "accepted" else []
        return Reply.json([{"user": {"user": name}, "requestId": hashlib.sha1(name.encode()).hexdigest()[:24],
                            "status": status, "timestamp": hub_repo.created_at} for name in names])

    # --- uploads -----------------------------------------------------------------------------

    def route_preupload(self, body: bytes, user: Caller | None, repo: str, rev: str) -> Reply:
        hub_repo = self.server.state.repo(repo, user, write=True)
        commit = hub_repo.resolve(rev)
        gitattributes = commit.files.get(".gitattributes")
        patterns = lfs_patterns(gitattributes.content if gitattributes else None)
        answers = []
        for file in self.json_body(body).get("files", []):
            lfs = wants_lfs(file["path"], int(file["size"]), patterns)
            existing = commit.files.get(file["path"])
            remote_oid = None if existing is None else (existing.lfs_oid if lfs else existing.git_oid)
            answers.append({"path": file["path"], "uploadMode": "lfs" if lfs else "regular",
                            "shouldIgnore": False, "oid": remote_oid})
        return Reply.json({"files": answers, "commitOid": commit.oid})

    def route_lfs_batch(self, body: bytes, user: Caller | None, repo: str) -> Reply:
        state = self.server.state
        state.repo(repo, user, write=True)
        payload = self.json_body(body)
        state.transfers_offered.append(list(payload.get("transfers", ["basic"])))
        if payload.get("operation") != "upload" or "basic" not in payload.get("transfers", ["basic"]):
            raise HubError(400, "Only basic LFS uploads are supported")
        objects = []
        for item in payload.get("objects", []):
            oid, size = item["oid"], int(item["size"])
            entry: dict = {"oid": oid, "size": size, "authenticated": True}
            if oid not in state.lfs_objects:  # already stored: no action, the client skips the upload
                ticket = uuid.uuid4().hex
                state.upload_tickets[ticket] = (oid, size)
                entry["actions"] = {
                    "upload": {"href": f"{self.base_url}/lfs-upload/{ticket}"},
                    "verify": {"href": f"{self.base_url}/lfs-verify"},
                }
            objects.append(entry)
        return Reply.json({"transfer": "basic", "objects": objects}, 200,
                          {"Content-Type": "application/vnd.git-lfs+json"})

    def route_lfs_put(self, body: bytes, user: Caller | None, ticket: str) -> Reply:
        """The upload href stands for a pre-signed storage URL: the ticket authorises it, not a token."""
        state = self.server.state
        if ticket not in state.upload_tickets:
            raise HubError(403, "Unknown or expired upload URL")
        oid, size = state.upload_tickets[ticket]
        if len(body) != size or hashlib.sha256(body).hexdigest() != oid:
            raise HubError(400, f"Uploaded content does not match oid {oid} / size {size}")
        state.lfs_objects[oid] = body
        del state.upload_tickets[ticket]
        return Reply()

    def route_lfs_verify(self, body: bytes, user: Caller | None) -> Reply:
        payload = self.json_body(body)
        stored = self.server.state.lfs_objects.get(payload.get("oid", ""))
        if stored is None or len(stored) != int(payload.get("size", -1)):
            raise HubError(404, f"LFS object {payload.get('oid')} not found")
        return Reply.json({"oid": payload["oid"], "size": len(stored)})

    # --- commits and refs --------------------------------------------------------------------

    def route_commit(self, body: bytes, user: Caller | None, repo: str, rev: str) -> Reply:
        state = self.server.state
        hub_repo = state.repo(repo, user, write=True)
        if self.flag("create_pr"):
            raise HubError(400, "This test server does not support pull requests")
        if rev not in hub_repo.branches:
            is_tag = rev in hub_repo.tags
            raise HubError(400 if is_tag else 404, f"Cannot commit to '{rev}': not a branch",
                           None if is_tag else "RevisionNotFound")
        lines = [json.loads(line) for line in body.splitlines() if line.strip()]
        if not lines or lines[0].get("key") != "header":
            raise HubError(400, "The first NDJSON line must be the commit header")
        header = lines[0]["value"]
        parent = hub_repo.commits[hub_repo.branches[rev]]
        if header.get("parentCommit") not in (None, parent.oid):
            raise HubError(412, "A commit has happened since. Please refresh and try again.")
        files = dict(parent.files)
        for line in lines[1:]:
            self.apply_operation(files, line.get("key"), line.get("value") or {}, hub_repo.lfs_files, rev)
        commit = state.new_commit(hub_repo, parent, header.get("summary") or "", files)
        hub_repo.branches[rev] = commit.oid
        return Reply.json({"commitUrl": f"{self.base_url}/datasets/{repo}/commit/{commit.oid}",
                           "commitOid": commit.oid, "pullRequestUrl": None})

    def apply_operation(self, files: dict[str, Blob], key: str | None, value: dict,
                        lfs_files: dict[str, dict], ref: str) -> None:
        path = value.get("path", "")
        if key == "file":
            if value.get("encoding") != "base64":
                raise HubError(400, f"Unsupported encoding for {path}")
            content = base64.b64decode(value["content"])
            files[path] = Blob(content, git_blob_oid(content))
        elif key == "lfsFile":
            content = self.server.state.lfs_objects.get(value.get("oid", ""))
            if content is None or value.get("algo", "sha256") != "sha256":
                raise HubError(400, f"LFS object for {path} was never uploaded")
            lfs_files.setdefault(value["oid"], {"fileOid": value["oid"], "oid": value["oid"], "filename": path,
                                                "size": len(content), "pushedAt": now_iso(), "ref": ref})
            pointer = lfs_pointer(value["oid"], len(content))
            files[path] = Blob(content, git_blob_oid(pointer), value["oid"], len(pointer))
        elif key == "deletedFile":
            if files.pop(path, None) is None:
                raise HubError(404, f"A file with this name doesn't exist: {path}", "EntryNotFound")
        elif key == "deletedFolder":
            prefix = path.rstrip("/") + "/"
            doomed = [name for name in files if name.startswith(prefix)]
            if not doomed:
                raise HubError(404, f"A folder with this name doesn't exist: {path}", "EntryNotFound")
            for name in doomed:
                del files[name]
        else:
            raise HubError(400, f"Unsupported commit operation: {key}")

    def route_tag(self, body: bytes, user: Caller | None, repo: str, rev: str) -> Reply:
        hub_repo = self.server.state.repo(repo, user, write=True)
        commit = hub_repo.resolve(rev)
        tag = self.json_body(body).get("tag")
        if not tag or not re.fullmatch(r"[A-Za-z0-9._\-]+", tag):
            raise HubError(400, f"Invalid tag name: {tag!r}")
        if tag in hub_repo.tags or tag in hub_repo.branches:
            raise HubError(409, f"Tag {tag} already exists")
        hub_repo.tags[tag] = commit.oid
        return Reply.json({"name": tag, "ref": f"refs/tags/{tag}", "targetCommit": commit.oid})

    def route_delete_tag(self, body: bytes, user: Caller | None, repo: str, rev: str) -> Reply:
        hub_repo = self.server.state.repo(repo, user, write=True)
        if hub_repo.tags.pop(rev, None) is None:
            raise HubError(404, f"Invalid rev id: {rev}", "RevisionNotFound")
        return Reply()

    def route_create_branch(self, body: bytes, user: Caller | None, repo: str, rev: str) -> Reply:
        hub_repo = self.server.state.repo(repo, user, write=True)
        if rev in hub_repo.branches or rev in hub_repo.tags:
            raise HubError(409, f"Reference already exists: {rev}")
        if not re.fullmatch(r"[A-Za-z0-9._\-]+", rev):
            raise HubError(400, f"Invalid reference for a branch: {rev}")
        hub_repo.branches[rev] = hub_repo.resolve(self.json_body(body).get("startingPoint") or "main").oid
        return Reply.json({})

    def route_delete_branch(self, body: bytes, user: Caller | None, repo: str, rev: str) -> Reply:
        hub_repo = self.server.state.repo(repo, user, write=True)
        if rev == "main":
            raise HubError(403, "You cannot delete the default branch")
        if hub_repo.branches.pop(rev, None) is None:
            raise HubError(404, f"Invalid rev id: {rev}", "RevisionNotFound")
        return Reply()

    def route_super_squash(self, body: bytes, user: Caller | None, repo: str, rev: str) -> Reply:
        """The branch's head becomes one commit without parents holding the same files."""
        state = self.server.state
        hub_repo = state.repo(repo, user, write=True)
        if rev not in hub_repo.branches:
            if rev in hub_repo.tags:
                raise HubError(400, "Invalid reference for a branch: you cannot squash history on tags")
            raise HubError(404, f"Invalid rev id: {rev}", "RevisionNotFound")
        head = hub_repo.commits[hub_repo.branches[rev]]
        squashed = state.new_commit(hub_repo, None, self.json_body(body).get("message") or "Super-squash",
                                    dict(head.files))
        hub_repo.branches[rev] = squashed.oid
        return Reply.json({"commitId": squashed.oid})

    def route_lfs_files(self, body: bytes, user: Caller | None, repo: str) -> Reply:
        """The LFS objects stored for the repo, whatever commit references them (one page)."""
        hub_repo = self.server.state.repo(repo, user, write=True)
        return Reply.json(sorted(hub_repo.lfs_files.values(), key=lambda item: item["fileOid"]))

    def route_delete_lfs_files(self, body: bytes, user: Caller | None, repo: str) -> Reply:
        """Delete LFS objects for good; with `rewriteHistory`, the commits that referenced them go too, as the
        Hub rewrites them (here: only commits no branch or tag reaches may reference them)."""
        state = self.server.state
        hub_repo = state.repo(repo, user, write=True)
        deletions = self.json_body(body).get("deletions") or {}
        doomed = set(deletions.get("sha") or [])
        unknown = doomed - set(hub_repo.lfs_files)
        if unknown:
            raise HubError(404, f"LFS files not found: {sorted(unknown)}")
        reachable = hub_repo.reachable()
        used = {oid for oid in reachable for blob in hub_repo.commits[oid].files.values() if blob.lfs_oid in doomed}
        if used:
            raise HubError(409, f"LFS files still referenced by commits a branch or tag reaches: {sorted(used)}")
        for sha in doomed:
            del hub_repo.lfs_files[sha]
            if not any(sha in other.lfs_files for other in state.repos.values()):
                state.lfs_objects.pop(sha, None)
        if deletions.get("rewriteHistory"):
            for oid in set(hub_repo.commits) - reachable:
                if any(blob.lfs_oid in doomed for blob in hub_repo.commits[oid].files.values()):
                    del hub_repo.commits[oid]
        return Reply()

    def route_refs(self, body: bytes, user: Caller | None, repo: str) -> Reply:
        hub_repo = self.server.state.repo(repo, user)

        def refs(kind: str, names: dict[str, str]) -> list[dict]:
            return [{"name": name, "ref": f"refs/{kind}/{name}", "targetCommit": oid}
                    for name, oid in sorted(names.items())]

        return Reply.json({"branches": refs("heads", hub_repo.branches), "tags": refs("tags", hub_repo.tags),
                           "converts": [], "pullRequests": []})

    # --- reads -------------------------------------------------------------------------------

    def entries(self, commit: Commit, expand: bool) -> dict[str, dict]:
        """Every file and folder of a commit as the tree API describes it, keyed by path."""
        last_commit = {"id": commit.oid, "title": commit.title, "date": commit.date} if expand else None
        entries: dict[str, dict] = {}
        for path, blob in commit.files.items():
            entry: dict = {"type": "file", "oid": blob.git_oid, "size": blob.size, "path": path}
            if blob.lfs_oid:
                entry["lfs"] = {"oid": blob.lfs_oid, "size": blob.size, "pointerSize": blob.pointer_size}
            if last_commit:
                entry["lastCommit"] = last_commit
            entries[path] = entry
            parts = path.split("/")
            for depth in range(1, len(parts)):
                folder = "/".join(parts[:depth])
                entries.setdefault(folder, {"type": "directory", "size": 0, "path": folder})
        for path, entry in entries.items():
            if entry["type"] == "directory":
                children = sorted((p, b.git_oid) for p, b in commit.files.items() if p.startswith(path + "/"))
                entry["oid"] = hashlib.sha1(json.dumps(children).encode()).hexdigest()
                if last_commit:
                    entry["lastCommit"] = last_commit
        return entries

    def route_tree(self, body: bytes, user: Caller | None, repo: str, rev: str, path: str = "") -> Reply:
        commit = self.server.state.repo(repo, user).resolve(rev)
        expand = self.flag("expand")
        entries = self.entries(commit, expand)
        path = path.strip("/")
        if path and entries.get(path, {}).get("type") != "directory":
            raise HubError(404, f"{path} does not exist on {rev}", "EntryNotFound")
        prefix = f"{path}/" if path else ""
        recursive = self.flag("recursive")
        listing = [entry for name, entry in sorted(entries.items())
                   if name.startswith(prefix) and (recursive or "/" not in name[len(prefix):])]
        page_size = self.server.page_size
        start = int(self.query.get("cursor", ["0"])[0])
        headers = {}
        if start + page_size < len(listing):
            query = f"recursive={recursive}&expand={expand}&cursor={start + page_size}".lower()
            headers["Link"] = f'<{self.base_url}{urlsplit(self.path).path}?{query}>; rel="next"'
        return Reply.json(listing[start:start + page_size], 200, headers)

    def route_paths_info(self, body: bytes, user: Caller | None, repo: str, rev: str) -> Reply:
        commit = self.server.state.repo(repo, user).resolve(rev)
        if self.headers.get("Content-Type", "").startswith("application/json"):
            payload = self.json_body(body)
            paths, expand = payload.get("paths", []), bool(payload.get("expand"))
        else:
            form = parse_qs(body.decode())
            paths, expand = form.get("paths", []), form.get("expand", ["False"])[0].lower() == "true"
        entries = self.entries(commit, expand)
        return Reply.json([entries[path.strip("/")] for path in paths if path.strip("/") in entries])

    def route_resolve(self, body: bytes, user: Caller | None, repo: str, rev: str, path: str) -> Reply:
        hub_repo = self.server.state.repo(repo, user)
        self.server.state.require_file_access(hub_repo, user)
        commit = hub_repo.resolve(rev)
        blob = commit.files.get(path)
        if blob is None:
            raise HubError(404, f"Entry not found: {path}", "EntryNotFound")
        etag = f'"{blob.lfs_oid or blob.git_oid}"'
        headers = {"X-Repo-Commit": commit.oid, "ETag": etag, "Accept-Ranges": "bytes",
                   "Content-Type": "application/octet-stream", "Last-Modified": formatdate(usegmt=True)}
        if blob.lfs_oid:
            headers |= {"X-Linked-Etag": etag, "X-Linked-Size": str(blob.size)}
        content, status = blob.content, 200
        if requested := self.headers.get("Range"):
            start, end = self.byte_range(requested, blob.size)
            content, status = content[start:end + 1], 206
            headers["Content-Range"] = f"bytes {start}-{end}/{blob.size}"
        return Reply(status, content, headers)

    @staticmethod
    def byte_range(header: str, size: int) -> tuple[int, int]:
        found = re.fullmatch(r"bytes=(\d*)-(\d*)", header.strip())
        if not found or not any(found.groups()):
            raise HubError(416, f"Unsupported Range header: {header}")
        first, last = found.groups()
        if not first:  # a suffix: the last N bytes
            return max(size - int(last), 0), size - 1
        start, end = int(first), min(int(last) if last else size - 1, size - 1)
        if start >= size or start > end:
            raise HubError(416, f"Range {header} is outside the file ({size} bytes)")
        return start, end

    def flag(self, name: str) -> bool:
        return self.query.get(name, ["false"])[0].lower() in ("1", "true")


class HubHTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False  # a stalled (fault-injected) handler must not hold up shutdown

    def __init__(self, state: HubState, page_size: int) -> None:
        super().__init__(("127.0.0.1", 0), HubHandler)
        self.state = state
        self.page_size = page_size
        self.url = f"http://127.0.0.1:{self.server_address[1]}"
        self.connections: set[socket.socket] = set()

    def get_request(self) -> tuple[socket.socket, tuple]:
        connection, address = super().get_request()
        with self.state.lock:
            self.connections.add(connection)
        return connection, address

    def shutdown_request(self, request: socket.socket) -> None:  # type: ignore[override]
        with self.state.lock:
            self.connections.discard(request)
        super().shutdown_request(request)

    def server_close(self) -> None:
        """Also end kept-alive connections: a later server on the same port must not inherit them."""
        super().server_close()
        with self.state.lock:
            open_connections = list(self.connections)
        for connection in open_connections:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)


class HubServer:
    """The test Hub: start it (or use it as a context manager), point clients at `url`."""

    def __init__(self, tokens: Mapping[str, str], page_size: int = 1000,
                 orgs: Mapping[str, Iterable[str]] | None = None, read_only_tokens: Iterable[str] = ()) -> None:
        self.state = HubState(tokens, orgs or {}, read_only_tokens)
        self.httpd = HubHTTPServer(self.state, page_size)
        self.url = self.httpd.url
        self._thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05},
                                        name="hubserver", daemon=True)

    def __enter__(self) -> HubServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.state.stopping.set()
        self.httpd.shutdown()
        self.httpd.server_close()
        self._thread.join(timeout=5)

    def inject(self, route: str, **knobs: object) -> Fault:
        """Add a fault on `route` (a name from ROUTES, e.g. "commit", "lfs_put", "tag")."""
        if route not in {name for _, _, name in ROUTES}:
            raise ValueError(f"Unknown route {route!r}")
        fault = Fault(route, **knobs)  # type: ignore[arg-type]
        with self.state.lock:
            self.state.faults.append(fault)
        return fault

    @property
    def requests(self) -> list[RequestRecord]:
        with self.state.lock:
            return list(self.state.requests)

    def calls(self, route: str) -> list[RequestRecord]:
        return [record for record in self.requests if record.route == route]

    def repo(self, repo_id: str) -> Repo:
        with self.state.lock:
            return self.state.repos[repo_id]
