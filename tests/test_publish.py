"""Publishing: local directory and Hub targets, idempotency, conflicts, failures, secrets.

The Hub side runs the real `huggingface_hub` client against `tests/hubserver.py` (a local server
speaking the Hub's wire protocol, LFS included). The public view is checked the way the public
reads it: `datasets.load_dataset(repo, config, revision=tag)` in a fresh interpreter, configured
through the environment like any user (HF_ENDPOINT, HF_TOKEN, HF_HOME, HF_HUB_DISABLE_XET).
"""

from __future__ import annotations

import datetime
import hashlib
import json
import logging
import os
import struct
import subprocess
import sys
import time
import traceback
import zlib
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from huggingface_hub import HfApi, RepoFile, RepoFolder, get_session
from huggingface_hub import constants as hf_constants
from huggingface_hub.errors import (
    GatedRepoError,
    HfHubHTTPError,
    RemoteEntryNotFoundError,
    RepositoryNotFoundError,
    RevisionNotFoundError,
)

from pipeline.publish import (
    HubTarget,
    LocalTarget,
    MissingTokenError,
    PublishError,
    RateLimitedError,
    ReleaseConflictError,
    RetryPolicy,
    StagedRelease,
    publish_once,
    publish_release,
    retry_after_s,
)
from tests.hubserver import HubServer

TOKEN = "hf_arenaTestWriteToken0123456789abcdef"
REPO = "arena-provider/early-access"
FAST_RETRY = RetryPolicy(attempts=3, first_delay_s=0.01, max_delay_s=0.05)
NO_RETRY = RetryPolicy(attempts=1)

CARD = """---
license: cc-by-4.0
task_categories:
- text-generation
configs:
- config_name: battles
  data_files:
  - split: train
    path: data/battles/*.parquet
- config_name: conversations
  data_files:
  - split: train
    path: data/conversations/*.parquet
---
# Arena release {version}
"""

LOADER = """
import json, sys
import datasets
results = []
for path, config, revision in json.loads(sys.argv[1]):
    try:
        rows = datasets.load_dataset(path, config, revision=revision, split="train").to_list()
        results.append({"rows": rows})
    except Exception as error:
        results.append({"error": type(error).__name__})
print(json.dumps(results))
"""


def battles(version: str) -> list[dict]:
    winners = ["model_a", "tie"] if version == "v1" else ["model_b", "tie", "model_a"]
    return [{"question_id": f"{version}-q{i}", "model_a": "alpha", "model_b": "anonymous", "winner": winner}
            for i, winner in enumerate(winners)]


def conversations(version: str) -> list[dict]:
    return [{"conversation_id": f"{version}-c0", "model": "alpha", "turn": 1}]


def tiny_png() -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", 1, 1, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\x00\x80")) + chunk(
        b"IEND", b"")


def stage(directory: Path, version: str) -> Path:
    """A staged release laid out like the repo: card, manifest, two Parquet configs, an image."""
    for config, rows in (("battles", battles(version)), ("conversations", conversations(version))):
        (directory / "data" / config).mkdir(parents=True)
        shard = directory / "data" / config / "train-00000-of-00001.parquet"
        pq.write_table(pa.Table.from_pylist(rows), shard)
    (directory / "images").mkdir()
    (directory / "images" / "leaderboard.png").write_bytes(tiny_png())
    (directory / "README.md").write_text(CARD.format(version=version))
    manifest = {"version": version, "configs": ["battles", "conversations"]}
    (directory / "manifest.json").write_text(json.dumps(manifest))
    return directory


@pytest.fixture
def staged(tmp_path: Path):
    return lambda version, name=None: stage(tmp_path / "staged" / (name or version), version)


@pytest.fixture
def hub(monkeypatch: pytest.MonkeyPatch):
    """A test Hub, and the client configured for it as HF_ENDPOINT / HF_HUB_DISABLE_XET would at import.

    huggingface_hub reads those variables once, when first imported (possibly by another test
    module), so the same settings are applied to its `constants` for the duration of a test.
    """
    with HubServer(tokens={TOKEN: "arena-bot"}, orgs={"arena-provider": {"arena-bot"}}) as server:
        monkeypatch.setenv("HF_TOKEN", TOKEN)
        monkeypatch.setattr(hf_constants, "ENDPOINT", server.url)
        monkeypatch.setattr(hf_constants, "HUGGINGFACE_CO_URL_TEMPLATE",
                            server.url + "/{repo_id}/resolve/{revision}/{filename}")
        monkeypatch.setattr(hf_constants, "HF_HUB_DISABLE_XET", True)
        yield server


def load_public(requests: list[tuple[str, str, str | None]], home: Path, endpoint: str | None = None,
                token: str | None = None) -> list[dict]:
    """`load_dataset(path, config, revision=...)` for each request, in a fresh interpreter."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("HF_")}
    env |= {"HF_HOME": str(home), "HF_HUB_DISABLE_XET": "1", "HF_HUB_DISABLE_TELEMETRY": "1"}
    env |= {"HF_ENDPOINT": endpoint} if endpoint else {"HF_HUB_OFFLINE": "1"}
    env |= {"HF_TOKEN": token} if token else {}
    done = subprocess.run([sys.executable, "-c", LOADER, json.dumps(requests)], env=env, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def main_files(hub: HubServer) -> set[str]:
    repo = hub.repo(REPO)
    return set(repo.commits[repo.branches["main"]].files)


# --- Local directory target -------------------------------------------------------------------------


def test_local_target_keeps_every_version_loadable(tmp_path: Path, staged) -> None:
    target = LocalTarget(tmp_path / "releases")
    first = publish_release(staged("v1"), REPO, "v1", target, private=False)
    second = publish_release(staged("v2"), REPO, "v2", target, private=False)

    assert first.changed and second.changed and first.commit != second.commit
    main = target.repo_path(REPO)
    assert main.is_symlink() and main.resolve() == target.repo_path(REPO, "v2").resolve()
    assert sorted(p.relative_to(main).as_posix() for p in main.rglob("*") if p.is_file()) == [
        "README.md", "data/battles/train-00000-of-00001.parquet",
        "data/conversations/train-00000-of-00001.parquet", "images/leaderboard.png", "manifest.json"]
    # Unchanged files are shared between immutable snapshots, not copied again.
    image = "images/leaderboard.png"
    assert (target.repo_path(REPO, "v1") / image).stat().st_ino == (main / image).stat().st_ino
    assert first.url == target.repo_path(REPO, "v1").absolute().as_uri()

    v1_path, v2_path = str(target.repo_path(REPO, "v1")), str(target.repo_path(REPO, "v2"))
    v1, v2, v2_conversations = load_public(
        [(v1_path, "battles", None), (v2_path, "battles", None), (v2_path, "conversations", None)],
        tmp_path / "hf-home")
    assert v1 == {"rows": battles("v1")}
    assert v2 == {"rows": battles("v2")}
    assert v2_conversations == {"rows": conversations("v2")}


def test_local_failed_publish_leaves_nothing_visible_and_retry_succeeds(tmp_path: Path, staged) -> None:
    target = LocalTarget(tmp_path / "releases")
    publish_release(staged("v1"), REPO, "v1", target, private=False)
    release = StagedRelease.scan(staged("v2"))
    shard = release.root / "data" / "battles" / "train-00000-of-00001.parquet"
    original = shard.read_bytes()
    shard.write_bytes(original + b"changed after staging")  # the copy no longer matches what was hashed

    with pytest.raises(PublishError, match="changed while it was being published"):
        publish_once(release, REPO, "v2", target, private=False)

    store = target.store(REPO)
    assert target.snapshot(REPO, "v2") is None
    assert target.repo_path(REPO).resolve() == target.repo_path(REPO, "v1").resolve()
    assert sorted(p.name for p in store.iterdir()) == [".lock", "commits", "repo.json", "tags"]
    assert len([p for p in (store / "commits").iterdir() if p.is_dir()]) == 1

    shard.write_bytes(original)
    assert publish_release(release.root, REPO, "v2", target, private=False).changed
    assert target.repo_path(REPO).resolve() == target.repo_path(REPO, "v2").resolve()


def test_local_private_repo_is_owner_only(tmp_path: Path, staged) -> None:
    target = LocalTarget(tmp_path / "releases")
    publish_release(staged("v1"), REPO, "v1", target, private=True)
    assert target.store(REPO).stat().st_mode & 0o777 == 0o700


# --- Both targets: idempotency, conflicts, visibility ------------------------------------------------


@pytest.fixture(params=["local", "hub"])
def target(request: pytest.FixtureRequest, tmp_path: Path):
    if request.param == "local":
        return LocalTarget(tmp_path / "releases")
    server = request.getfixturevalue("hub")
    return HubTarget(endpoint=server.url)


def test_republishing_identical_content_changes_nothing(target, staged) -> None:
    first = publish_release(staged("v1"), REPO, "v1", target, private=True)
    again = publish_release(staged("v1", name="v1-restaged"), REPO, "v1", target, private=True)

    assert first.changed and not again.changed
    assert again.commit == first.commit == target.snapshot(REPO, "main").commit


def test_different_content_under_a_published_version_is_refused(target, staged) -> None:
    first = publish_release(staged("v1"), REPO, "v1", target, private=True)

    with pytest.raises(ReleaseConflictError, match=r"already published.*changed data/battles/train"):
        publish_release(staged("v2"), REPO, "v1", target, private=True)

    assert target.snapshot(REPO, "v1").commit == first.commit
    assert target.snapshot(REPO, "main").commit == first.commit


def test_a_published_file_reads_back_at_any_revision_and_a_missing_one_is_none(target, staged) -> None:
    assert target.read_file(REPO, "main", "manifest.json") is None  # no repo yet
    publish_release(staged("v1"), REPO, "v1", target, private=True)
    publish_release(staged("v2"), REPO, "v2", target, private=True)
    for revision in ("v1", "v2", "main"):
        manifest = json.loads(target.read_file(REPO, revision, "manifest.json"))
        assert manifest["version"] == {"main": "v2"}.get(revision, revision)
    assert target.read_file(REPO, "main", "no-such-file.json") is None
    assert target.read_file(REPO, "v3", "manifest.json") is None


def test_visibility_mismatch_is_refused(target, staged) -> None:
    publish_release(staged("v1"), REPO, "v1", target, private=False)
    with pytest.raises(PublishError, match="is public but this release is private"):
        publish_release(staged("v2"), REPO, "v2", target, private=True)


# --- Hub target ---------------------------------------------------------------------------------------


def test_hub_release_is_one_commit_with_lfs_shards_and_loads_by_tag(hub: HubServer, tmp_path: Path,
                                                                    staged) -> None:
    target = HubTarget(endpoint=hub.url)
    first = publish_release(staged("v1"), REPO, "v1", target, private=True)
    publish_release(staged("v2"), REPO, "v2", target, private=True)

    repo = hub.repo(REPO)
    assert repo.private and repo.tags == {"v1": first.commit, "v2": repo.branches["main"]}
    assert len([call for call in hub.calls("commit") if call.status == 200]) == 2  # one commit per release
    shard = repo.commits[first.commit].files["data/battles/train-00000-of-00001.parquet"]
    assert shard.lfs_oid is not None and repo.commits[first.commit].files["README.md"].lfs_oid is None
    assert first.url == f"{hub.url}/datasets/{REPO}/tree/v1"

    requests = [(REPO, "battles", "v1"), (REPO, "battles", "v2"), (REPO, "conversations", "v1")]
    with_token = load_public(requests, tmp_path / "home-a", endpoint=hub.url, token=TOKEN)
    assert with_token == [{"rows": battles("v1")}, {"rows": battles("v2")}, {"rows": conversations("v1")}]
    without_token = load_public(requests[:1], tmp_path / "home-b", endpoint=hub.url)
    assert without_token == [{"error": "DatasetNotFoundError"}]  # private: invisible without a token


def test_hub_identical_republish_makes_no_write_call(hub: HubServer, staged) -> None:
    target = HubTarget(endpoint=hub.url)
    publish_release(staged("v1"), REPO, "v1", target, private=True)
    before = len(hub.requests)

    assert not publish_release(staged("v1", name="again"), REPO, "v1", target, private=True).changed
    writes = {"create_repo", "preupload", "lfs_batch", "lfs_put", "commit", "tag"}
    assert not [call for call in hub.requests[before:] if call.route in writes]


def test_hub_failed_commit_leaves_no_release_and_retry_succeeds(hub: HubServer, staged) -> None:
    target, release = HubTarget(endpoint=hub.url), staged("v1")
    hub.inject("commit", status=500)

    with pytest.raises(HfHubHTTPError, match="500"):
        publish_release(release, REPO, "v1", target, private=True, retry=NO_RETRY)
    assert main_files(hub) == {".gitattributes"} and hub.repo(REPO).tags == {}  # uploaded LFS objects: hidden

    result = publish_release(release, REPO, "v1", target, private=True, retry=NO_RETRY)
    assert result.changed and hub.repo(REPO).tags == {"v1": result.commit}
    assert len([call for call in hub.calls("lfs_put") if call.status == 200]) == 3  # not uploaded twice


def test_hub_transient_errors_are_retried_within_the_policy(hub: HubServer, staged) -> None:
    target = HubTarget(endpoint=hub.url)
    hub.inject("commit", status=503, times=2)

    result = publish_release(staged("v1"), REPO, "v1", target, private=True, retry=FAST_RETRY)

    assert result.changed
    assert [call.status for call in hub.calls("commit")] == [503, 503, 200]

    hub.inject("commit", status=503, times=5)
    with pytest.raises(HfHubHTTPError, match="503"):
        publish_release(staged("v2"), REPO, "v2", target, private=True, retry=FAST_RETRY)
    assert len(hub.calls("commit")) == 3 + FAST_RETRY.attempts  # bounded: no more tries than the policy


def test_hub_lfs_upload_error_is_retried(hub: HubServer, staged) -> None:
    hub.inject("lfs_put", status=500)  # huggingface_hub's own bounded backoff retries the PUT (after 1 s)
    target = HubTarget(endpoint=hub.url)
    result = publish_release(staged("v1"), REPO, "v1", target, private=True, retry=FAST_RETRY)
    assert result.changed and 500 in [call.status for call in hub.calls("lfs_put")]


def test_hub_lost_commit_answer_is_not_committed_twice(hub: HubServer, staged) -> None:
    hub.inject("commit", status=502, apply_first=True)  # the commit lands, its answer is lost

    target = HubTarget(endpoint=hub.url)
    result = publish_release(staged("v1"), REPO, "v1", target, private=True, retry=FAST_RETRY)

    repo = hub.repo(REPO)
    assert len(repo.commits) == 2  # the repo's first commit and this release's, nothing more
    assert repo.tags == {"v1": result.commit} and repo.branches["main"] == result.commit


def test_hub_stalled_call_times_out_and_is_retried(hub: HubServer, staged) -> None:
    hub.inject("commit", hang_s=5.0)
    started = time.monotonic()

    target = HubTarget(endpoint=hub.url, timeout_s=0.5)
    result = publish_release(staged("v1"), REPO, "v1", target, private=True, retry=FAST_RETRY)

    assert result.changed and time.monotonic() - started < 4.0


def test_hub_tag_failure_after_commit_is_finished_by_a_retry(hub: HubServer, staged) -> None:
    target, release = HubTarget(endpoint=hub.url), staged("v1")
    hub.inject("tag", status=500)
    with pytest.raises(HfHubHTTPError, match="500"):
        publish_release(release, REPO, "v1", target, private=True, retry=NO_RETRY)
    assert hub.repo(REPO).tags == {}

    result = publish_release(release, REPO, "v1", target, private=True, retry=NO_RETRY)

    assert result.changed and hub.repo(REPO).tags == {"v1": hub.repo(REPO).branches["main"]}
    assert len([call for call in hub.calls("commit") if call.status == 200]) == 1


def test_hub_repo_with_card_terms_is_gated_before_its_first_file(hub: HubServer, staged, tmp_path: Path) -> None:
    """A release whose card states gating terms (`card.gating`) is published to a gated repo: the Hub asks for
    the terms before serving a file, so the card's claim holds from the first commit on."""
    publish_release(staged("v1"), "arena-bot/terms", "v1", HubTarget(endpoint=hub.url, terms_gated=True),
                    private=False)
    settings = [i for i, call in enumerate(hub.requests) if call.route == "settings"]
    commits = [i for i, call in enumerate(hub.requests) if call.route == "commit"]
    assert hub.repo("arena-bot/terms").gated == "auto" and settings and settings[0] < commits[0]
    with pytest.raises(GatedRepoError):
        HfApi(endpoint=hub.url, token=False).hf_hub_download("arena-bot/terms", "README.md", repo_type="dataset",
                                                             revision="v1", cache_dir=tmp_path / "anonymous")


def test_hub_publish_needs_a_token_and_private_repos_refuse_anonymous_reads(
        hub: HubServer, staged, monkeypatch: pytest.MonkeyPatch) -> None:
    publish_release(staged("v1"), REPO, "v1", HubTarget(endpoint=hub.url), private=True)
    monkeypatch.delenv("HF_TOKEN")
    calls_before = len(hub.requests)

    release = staged("v2")
    with pytest.raises(MissingTokenError, match=r"\$HF_TOKEN is not set"):
        publish_release(release, REPO, "v2", HubTarget(endpoint=hub.url), private=True)
    assert len(hub.requests) == calls_before  # refused before contacting the Hub
    with pytest.raises(RepositoryNotFoundError):
        HfApi(endpoint=hub.url, token=False).dataset_info(REPO)
    anonymous = hub.requests[-1]
    assert (anonymous.route, anonymous.status, anonymous.authenticated) == ("repo_info", 401, False)
    monkeypatch.setenv("PROVIDER_TOKEN", TOKEN)
    provider_target = HubTarget(hub.url, token_env="PROVIDER_TOKEN")
    assert publish_release(release, REPO, "v2", provider_target, private=True).changed


def test_token_never_reaches_logs_output_or_errors(hub: HubServer, staged, caplog: pytest.LogCaptureFixture,
                                                   capfd: pytest.CaptureFixture,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    caplog.set_level(logging.DEBUG)
    caplog.set_level(logging.DEBUG, logger="huggingface_hub")  # the library sets its own level
    monkeypatch.setattr(hf_constants, "HF_DEBUG", True)  # the client logs each request as curl
    target = HubTarget(endpoint=hub.url)
    errors: list[BaseException] = []

    publish_release(staged("v1"), REPO, "v1", target, private=True)
    hub.inject("commit", status=500)
    with pytest.raises(HfHubHTTPError) as failed_commit:
        publish_release(staged("v2"), REPO, "v2", target, private=True, retry=NO_RETRY)
    errors.append(failed_commit.value)
    monkeypatch.setenv("HF_TOKEN", TOKEN[::-1])  # a token the Hub does not know
    with pytest.raises(HfHubHTTPError, match="Invalid credentials") as refused:
        publish_release(staged("v3"), REPO, "v3", target, private=True, retry=NO_RETRY)
    errors.append(refused.value)

    shown = "".join("".join(traceback.format_exception(error)) for error in errors)
    captured = capfd.readouterr()
    assert "Send: curl" in caplog.text + captured.err  # the client's debug logging was really on
    for text in (caplog.text, captured.out, captured.err, shown):
        assert TOKEN not in text and TOKEN[::-1] not in text


def test_a_server_echoing_the_token_gets_it_masked_in_errors(hub: HubServer, staged) -> None:
    target = HubTarget(endpoint=hub.url)
    hub.inject("repo_info", status=503, message=f"upstream rejected Authorization: Bearer {TOKEN}")

    with pytest.raises(PublishError) as raised:
        publish_release(staged("v1"), REPO, "v1", target, private=True, retry=NO_RETRY)

    assert TOKEN not in "".join(traceback.format_exception(raised.value))
    assert "Bearer ***" in str(raised.value) and target.is_transient(raised.value)


def test_hub_server_speaks_ranges_etags_and_error_codes(hub: HubServer, staged) -> None:
    """The test server itself, through the client's own HTTP session and file-metadata reader."""
    release = staged("v1")
    publish_release(release, REPO, "v1", HubTarget(endpoint=hub.url), private=True)
    shard = "data/battles/train-00000-of-00001.parquet"
    content = (release / shard).read_bytes()
    release_files = {path.relative_to(release).as_posix() for path in release.rglob("*") if path.is_file()}
    url = f"{hub.url}/datasets/{REPO}/resolve/v1/{shard}"
    api = HfApi(endpoint=hub.url, token=TOKEN)

    metadata = api.get_hf_file_metadata(url=url)
    assert metadata.etag == hashlib.sha256(content).hexdigest() and metadata.size == len(content)
    assert metadata.commit_hash == hub.repo(REPO).tags["v1"]
    partial = get_session().get(url, headers={"Authorization": f"Bearer {TOKEN}", "Range": "bytes=100-149"})
    assert partial.status_code == 206 and partial.content == content[100:150]
    assert partial.headers["Content-Range"] == f"bytes 100-149/{len(content)}"
    with pytest.raises(RemoteEntryNotFoundError):
        api.get_hf_file_metadata(url=url.replace(shard, "missing.parquet"))
    readme, data = api.get_paths_info(REPO, ["README.md", "data", "absent"], repo_type="dataset", revision="v1")
    assert isinstance(readme, RepoFile) and readme.lfs is None and isinstance(data, RepoFolder)
    hub.httpd.page_size = 2  # the tree listing now spans pages linked by Link headers
    listed = api.list_repo_tree(REPO, repo_type="dataset", revision="v1", recursive=True)
    assert {entry.path for entry in listed if isinstance(entry, RepoFile)} == {".gitattributes", *release_files}
    with pytest.raises(RevisionNotFoundError):
        next(iter(api.list_repo_tree(REPO, repo_type="dataset", revision="v9")))
    with pytest.raises(RepositoryNotFoundError):
        HfApi(endpoint=hub.url, token=False).get_hf_file_metadata(url=url)


# --- Validation and policy ------------------------------------------------------------------------------


@pytest.mark.parametrize(("repo_id", "version", "message"), [
    ("../escape", "v1", "Invalid repo id"),
    ("org/..", "v1", "Invalid repo id"),
    ("org/name", "main", "Invalid version"),
    ("org/name", "a" * 40, "Invalid version"),
    ("org/name", "v1/../x", "Invalid version"),
])
def test_bad_names_are_refused(tmp_path: Path, staged, repo_id: str, version: str, message: str) -> None:
    with pytest.raises(PublishError, match=message):
        publish_release(staged("v1"), repo_id, version, LocalTarget(tmp_path / "out"), private=False)


def test_incomplete_or_unsafe_staged_dirs_are_refused(tmp_path: Path, staged) -> None:
    target = LocalTarget(tmp_path / "out")
    missing = staged("v1", name="missing")
    (missing / "manifest.json").unlink()
    with pytest.raises(PublishError, match="lacks manifest.json"):
        publish_release(missing, REPO, "v1", target, private=False)
    linked = staged("v1", name="linked")
    (linked / "data" / "secret.parquet").symlink_to(tmp_path / "elsewhere.parquet")
    with pytest.raises(PublishError, match="symlinks are refused"):
        publish_release(linked, REPO, "v1", target, private=False)
    assert not target.repo_path(REPO).exists()


def test_retry_policy_is_bounded_and_skips_permanent_errors() -> None:
    policy = RetryPolicy(attempts=5, first_delay_s=1.0, max_delay_s=4.0)
    assert [policy.delay_s(attempt) for attempt in range(1, 5)] == [1.0, 2.0, 4.0, 4.0]
    assert policy.max_total_delay_s == 11.0
    calls: list[int] = []

    def permanent_failure() -> None:
        calls.append(1)
        raise ValueError("not transient")

    with pytest.raises(ValueError):
        policy.run(permanent_failure, is_transient=lambda error: False)
    assert calls == [1]
    with pytest.raises(ValueError, match="attempts"):
        RetryPolicy(attempts=0)


# --- rate limits ---------------------------------------------------------------------------------


def test_hub_rate_limit_waits_as_long_as_retry_after_asks_without_using_a_try(hub: HubServer, staged) -> None:
    slept: list[float] = []
    patient = RetryPolicy(attempts=1, max_rate_limit_wait_s=3600, sleep=slept.append)
    hub.inject("commit", status=429, headers={"Retry-After": "2580"}, message="retry in 43 minutes")
    hub.inject("lfs_batch", status=429, headers={"Retry-After": "7"})  # where huggingface_hub would sleep itself

    result = publish_release(staged("v1"), REPO, "v1", HubTarget(endpoint=hub.url), private=True, retry=patient)

    assert result.changed and slept == [7.0, 2580.0]
    assert [call.status for call in hub.calls("commit")] == [429, 200]


def test_hub_rate_limit_beyond_the_bound_stops_with_a_clear_message(hub: HubServer, staged) -> None:
    slept: list[float] = []
    bounded = RetryPolicy(attempts=4, max_rate_limit_wait_s=600, sleep=slept.append)
    hub.inject("commit", status=429, headers={"Retry-After": "2580"}, times=3)

    with pytest.raises(RateLimitedError, match=r"asks to wait 2580 s.*bound of 600 s.*Re-run later") as raised:
        publish_release(staged("v1"), REPO, "v1", HubTarget(endpoint=hub.url), private=True, retry=bounded)

    assert raised.value.retry_after_s == 2580 and slept == []
    assert len(hub.calls("commit")) == 1  # no blind retries into a rate limit


def test_rate_limit_waits_add_up_against_the_bound() -> None:
    slept: list[float] = []
    policy = RetryPolicy(attempts=1, max_rate_limit_wait_s=25, sleep=slept.append)
    answers = iter([RateLimitedError("429", 10.0), RateLimitedError("429", 10.0), RateLimitedError("429", 10.0)])

    def step() -> None:
        raise next(answers)

    with pytest.raises(RateLimitedError, match="30 s of waiting"):
        policy.run(step, is_transient=lambda error: True)
    assert slept == [10.0, 10.0]


def test_retry_after_reads_seconds_and_http_dates() -> None:
    from email.utils import format_datetime

    later = format_datetime(datetime.datetime.now(datetime.UTC) + datetime.timedelta(seconds=120), usegmt=True)
    assert retry_after_s("43") == 43.0
    assert 110 <= retry_after_s(later) <= 120
    assert retry_after_s(None) is None and retry_after_s("soon") is None
