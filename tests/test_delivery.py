"""Provider deliveries: the config refuses setups where one provider could read another's export; on the
test Hub (per-token permissions) and on an S3 endpoint (moto), each provider reads its own export and
not the others'; publishing several repos is resumable; large releases split into commits the Hub accepts."""

from __future__ import annotations

import json
import stat
import urllib.request
from pathlib import Path

import pyarrow as pa
import pytest
from battle_fixtures import (
    LEADERBOARD,
    PROVIDERS,
    example_config_data,
    make_battles,
    make_conversations,
)
from huggingface_hub import HfApi
from huggingface_hub import constants as hf_constants
from huggingface_hub.errors import GatedRepoError, HfHubHTTPError, RepositoryNotFoundError
from pydantic import ValidationError

from pipeline.delivery import deliver_exports
from pipeline.manifest import MANIFEST_NAME
from pipeline.publish import HubTarget, PublishError, ReleaseConflictError, RetryPolicy, publish_release
from pipeline.release import ReleaseWorkspace, publish, verify, verify_provider_exports
from pipeline.release_build import build_release, select_share, write_table
from pipeline.release_config import ReleaseConfig, Salt
from tests.hubserver import HubServer
from tests.s3server import s3_endpoint

SALT = Salt(b"delivery-test-salt-0123456789abcdef", "env:ARENA_RELEASE_SALT", "ARENA_RELEASE_SALT")
FAST = RetryPolicy(attempts=1)
PUBLIC = "lmarena/chatbot-arena"
TOKENS = {  # token -> user
    "hf_publisher000000000000000000000000": "arena-bot",  # writes the public repo and the gated one
    "hf_openaiwriter00000000000000000000": "arena-for-openai",  # writes the openai namespace only
    "hf_anthropicwriter000000000000000000": "arena-for-anthropic",
    "hf_openaireader00000000000000000000": "openai-researcher",  # a provider's own people, read-only
    "hf_anthropicreader0000000000000000": "anthropic-researcher",
    "hf_alphareader000000000000000000000": "alpha-researcher",
}
TOKEN_OF = {user: token for token, user in TOKENS.items()}
ORGS = {
    "lmarena": {"arena-bot"},
    "openai-arena": {"arena-for-openai", "openai-researcher"},
    "anthropic-arena": {"arena-for-anthropic", "anthropic-researcher"},
}
READ_ONLY = {TOKEN_OF[user] for user in ("openai-researcher", "anthropic-researcher", "alpha-researcher")}
DELIVERIES = {
    "openai": {"kind": "hub", "repo_id": "openai-arena/arena-early-access", "token_env": "OPENAI_HF_TOKEN"},
    "anthropic": {"kind": "hub", "repo_id": "anthropic-arena/arena-early-access", "token_env": "ANTHROPIC_HF_TOKEN"},
    "alpha-labs": {"kind": "gated", "repo_id": "lmarena/alpha-labs-early-access", "access": ["alpha-researcher"]},
}


def config_data(**overrides) -> dict:
    data = example_config_data()
    data["leaderboard"] = {"models": LEADERBOARD}
    data["providers"] = PROVIDERS
    data["sampling_salt"] = {"env": "ARENA_RELEASE_SALT"}
    data["targets"] = [{"kind": "hub", "repo_id": PUBLIC}]
    data["deliveries"] = json.loads(json.dumps(DELIVERIES))
    data["verify"] |= {"canary_file": None, "pii_ground_truth": None,
                       "waivers": {"canaries": "no raw-IP list for fixtures", "pii": "no PII planted in fixtures"}}
    return data | overrides


# ---------------------------------------------------------------------------------------- config


def test_a_setup_where_no_provider_reads_anothers_export_is_accepted():
    config = ReleaseConfig.model_validate(config_data())
    assert config.deliveries["alpha-labs"].access == ["alpha-researcher"]
    assert config.public_view()["deliveries"] == {"count": 3}


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda d: d["deliveries"]["anthropic"].update(repo_id="openai-arena/anthropic-export"),
         "namespace openai-arena is one provider's"),
        (lambda d: d["deliveries"]["anthropic"].update(token_env="OPENAI_HF_TOKEN"), "both are written with"),
        (lambda d: d["deliveries"]["openai"].update(repo_id="lmarena/openai-early-access"),
         "in the public repo's namespace"),
        (lambda d: d["deliveries"]["openai"].update(token_env="HF_TOKEN"), "also the public target's token"),
        (lambda d: d["deliveries"].update(openai={"kind": "gated", "repo_id": "lmarena/openai-early",
                                                  "access": ["openai-researcher", "alpha-researcher"]}),
         "accounts alpha-researcher are granted both repos"),
        (lambda d: d["deliveries"].update(openai={"kind": "gated", "repo_id": "lmarena/alpha-labs-early-access",
                                                  "access": ["openai-researcher"]}), "both deliver to"),
        (lambda d: d["deliveries"].update(openai={"kind": "s3", "uri": "s3://exports/providers"},
                                          anthropic={"kind": "s3", "uri": "s3://exports/providers/anthropic"}),
         "s3://exports/providers/anthropic/ is inside s3://exports/providers/"),
        (lambda d: d["deliveries"].pop("anthropic"), "providers anthropic have no delivery"),
        (lambda d: d["deliveries"].update(nobody={"kind": "s3", "uri": "s3://exports/nobody"}),
         "deliveries for nobody, which the providers map does not list"),
        (lambda d: d["deliveries"].update(openai={"kind": "s3", "uri": "s3://exports/o", "url_expiry_s": 10 ** 7}),
         "less than or equal to 604800"),
    ],
)
def test_setups_where_one_provider_could_read_anothers_export_are_refused(change, message):
    data = config_data()
    change(data)
    with pytest.raises(ValidationError, match=message):
        ReleaseConfig.model_validate(data)


def test_two_s3_prefixes_that_only_share_a_beginning_are_accepted():
    data = config_data()
    data["deliveries"].update(openai={"kind": "s3", "uri": "s3://exports/open"},
                              anthropic={"kind": "s3", "uri": "s3://exports/openai"})
    assert ReleaseConfig.model_validate(data).deliveries["openai"].bucket_prefix == "exports/open/"


# ---------------------------------------------------------------------------------------- Hub


@pytest.fixture(scope="module")
def exports(tmp_path_factory) -> ReleaseWorkspace:
    """A built release in a release workspace: the public release and every provider's export."""
    ws = ReleaseWorkspace(tmp_path_factory.mktemp("deliveries"), "2024.06-example")
    battles = make_battles(300, seed=31)
    config = ReleaseConfig.model_validate(config_data())
    conversations = make_conversations(battles, singles=50, seed=31)
    build_release(config, SALT, ws.public_dir, battles, conversations, provider_dir=ws.provider_dir)
    share = select_share(config, SALT, {"battles": battles, "conversations": conversations})
    for name, table in share.tables.items():  # what the export checks compare each export with
        ws.write("share", name, table)
    return ws


@pytest.fixture
def hub(monkeypatch: pytest.MonkeyPatch):
    with HubServer(tokens=TOKENS, orgs=ORGS, read_only_tokens=READ_ONLY) as server:
        monkeypatch.setenv("HF_TOKEN", TOKEN_OF["arena-bot"])
        monkeypatch.setenv("ARENA_RELEASE_SALT", SALT.key.decode())
        monkeypatch.setenv("OPENAI_HF_TOKEN", TOKEN_OF["arena-for-openai"])
        monkeypatch.setenv("ANTHROPIC_HF_TOKEN", TOKEN_OF["arena-for-anthropic"])
        yield server


def hub_config(hub: HubServer, **publishing) -> ReleaseConfig:
    data = config_data()
    data["targets"][0]["endpoint"] = hub.url
    for delivery in data["deliveries"].values():
        delivery["endpoint"] = hub.url
    data["publishing"] = publishing
    return ReleaseConfig.model_validate(data)


def publish_all(config: ReleaseConfig, ws: ReleaseWorkspace) -> list:
    """Verify the built release under this config, as the publishing gate requires, then publish it."""
    assert verify(config, ws).ok and all(r.ok for r in verify_provider_exports(config, ws).values())
    return publish(config, ws, retry=FAST)


def read_manifest_as(hub: HubServer, user: str | None, repo_id: str, tmp_path: Path) -> dict:
    api = HfApi(endpoint=hub.url, token=TOKEN_OF[user] if user else False)
    path = api.hf_hub_download(repo_id, MANIFEST_NAME, repo_type="dataset", revision="2024.06-example",
                               cache_dir=tmp_path / f"cache-{user}")
    return json.loads(Path(path).read_text())


def test_each_provider_reads_its_own_export_on_the_hub_and_no_other(hub, exports, tmp_path):
    results = publish_all(hub_config(hub), exports)
    assert all(r.changed for r in results)
    repos = {provider: DELIVERIES[provider]["repo_id"] for provider in DELIVERIES}
    readers = {"openai": "openai-researcher", "anthropic": "anthropic-researcher", "alpha-labs": "alpha-researcher"}
    for provider, reader in readers.items():
        assert read_manifest_as(hub, reader, repos[provider], tmp_path)["provider"] == provider
        for other, repo_id in repos.items():
            if other == provider:
                continue
            expected = GatedRepoError if DELIVERIES[other]["kind"] == "gated" else RepositoryNotFoundError
            with pytest.raises(expected):
                read_manifest_as(hub, reader, repo_id, tmp_path)
    # The token that wrote openai's namespace can neither read anthropic's export nor alpha-labs' files.
    with pytest.raises(RepositoryNotFoundError):
        read_manifest_as(hub, "arena-for-openai", repos["anthropic"], tmp_path)
    with pytest.raises(GatedRepoError):
        read_manifest_as(hub, "arena-for-openai", repos["alpha-labs"], tmp_path)
    with pytest.raises(GatedRepoError):
        read_manifest_as(hub, None, repos["alpha-labs"], tmp_path)  # anonymous
    assert not hub.repo(repos["openai"]).gated and hub.repo(repos["openai"]).private
    assert hub.repo(repos["alpha-labs"]).gated == "manual" and hub.repo(repos["alpha-labs"]).granted == {
        "alpha-researcher"}
    assert not any(name.endswith(("-openai", "-anthropic", "-alpha-labs")) for name in hub.state.repos)


def test_provider_tokens_cannot_write_elsewhere(hub):
    api = HfApi(endpoint=hub.url, token=TOKEN_OF["arena-for-openai"])
    with pytest.raises(HfHubHTTPError, match="403"):
        api.create_repo("anthropic-arena/planted", repo_type="dataset", private=True)
    reader = HfApi(endpoint=hub.url, token=TOKEN_OF["openai-researcher"])
    with pytest.raises(HfHubHTTPError, match="read-only"):
        reader.create_repo("openai-arena/planted", repo_type="dataset", private=True)


def test_the_gated_access_list_is_exactly_the_configs(hub, exports, tmp_path):
    config = hub_config(hub)
    publish_all(config, exports)
    repo_id = DELIVERIES["alpha-labs"]["repo_id"]
    HfApi(endpoint=hub.url, token=TOKEN_OF["arena-bot"]).grant_access(repo_id, "openai-researcher",
                                                                      repo_type="dataset")
    assert read_manifest_as(hub, "openai-researcher", repo_id, tmp_path)["provider"] == "alpha-labs"
    publish_all(config, exports)  # nothing to commit, but the access list is set again
    assert hub.repo(repo_id).granted == {"alpha-researcher"}
    with pytest.raises(GatedRepoError):
        read_manifest_as(hub, "openai-researcher", repo_id, tmp_path / "again")


def test_an_interrupted_publish_resumes_where_it_stopped_and_repeats_nothing(hub, exports, tmp_path):
    config = hub_config(hub)
    hub.inject("commit", status=500, after=2)  # two exports commit, the third export's commit fails
    with pytest.raises(HfHubHTTPError, match="500"):
        publish_all(config, exports)
    assert PUBLIC not in hub.state.repos  # the public release waits for every export
    committed = {call.path.split("/commit/")[0] for call in hub.calls("commit") if call.status == 200}
    assert len(committed) == 2

    results = publish_all(config, exports)

    assert [r.changed for r in results].count(True) == 2  # the failed export and the public release
    again = [call.path.split("/commit/")[0] for call in hub.calls("commit")][3:]
    assert len(again) == 2 and not set(again) & committed
    before = len(hub.calls("commit"))
    assert not any(r.changed for r in publish_all(config, exports))
    assert len(hub.calls("commit")) == before


# ---------------------------------------------------------------------------------------- commit limits


def sharded_release(directory: Path, shards: int, rows_per_shard: int = 50) -> Path:
    """A staged release whose tables `write_table` splits into `shards` Parquet files each, as it splits
    a large table at ROWS_PER_FILE."""
    for table in ("battles", "conversations"):
        rows = pa.table({"id": [f"{table}-{i}" for i in range(shards * rows_per_shard)]})
        assert len(write_table(rows, directory, table, "v1", rows_per_file=rows_per_shard)) == shards
    (directory / "README.md").write_text("---\nlicense: cc-by-4.0\n---\n# sharded\n")
    (directory / MANIFEST_NAME).write_text(json.dumps({"shards": shards}))
    return directory


def test_a_release_with_more_files_than_a_commit_takes_is_split_and_resumes(hub, tmp_path):
    staged = sharded_release(tmp_path / "staged", shards=6)  # 14 files
    target = HubTarget(endpoint=hub.url, max_files_per_commit=5)
    hub.inject("commit", status=500, after=1)  # the second of three commits fails
    with pytest.raises(HfHubHTTPError):
        publish_release(staged, PUBLIC, "v1", target, private=False, retry=FAST)
    main = hub.repo(PUBLIC).resolve("main")
    assert len(main.files) == 1 + 5 and "v1" not in hub.repo(PUBLIC).tags  # readers by tag see nothing yet

    result = publish_release(staged, PUBLIC, "v1", target, private=False, retry=FAST)

    sizes = [len(commit.files) for commit in hub.repo(PUBLIC).commits.values()]
    assert sorted(sizes) == [1, 6, 11, 15]  # .gitattributes, then 5 + 5 + 4 files; no file sent twice
    assert hub.repo(PUBLIC).tags["v1"] == result.commit
    tagged = hub.repo(PUBLIC).resolve("v1")
    assert set(tagged.files) - {".gitattributes"} == {
        p.relative_to(staged).as_posix() for p in staged.rglob("*") if p.is_file()}
    assert hub.repo(PUBLIC).commits[result.commit].title == "Release v1 (2/2)"


def test_a_file_over_the_hubs_size_limit_is_refused_before_any_upload(hub, tmp_path, monkeypatch):
    import pipeline.publish

    staged = sharded_release(tmp_path / "staged", shards=1)
    largest = max((p for p in staged.rglob("*.parquet")), key=lambda p: p.stat().st_size)
    monkeypatch.setattr(pipeline.publish, "MAX_HUB_FILE_BYTES", largest.stat().st_size - 1)
    with pytest.raises(PublishError, match="larger than the Hub's"):
        publish_release(staged, PUBLIC, "v1", HubTarget(endpoint=hub.url), private=False, retry=FAST)
    assert not hub.calls("lfs_batch") and not hub.calls("commit")


def test_a_release_within_the_limit_is_one_commit(hub, tmp_path):
    staged = sharded_release(tmp_path / "staged", shards=3)
    publish_release(staged, PUBLIC, "v1", HubTarget(endpoint=hub.url), private=False, retry=FAST)
    assert len(hub.repo(PUBLIC).commits) == 2  # the repo's first commit and the release


# ---------------------------------------------------------------------------------------- transfer mode


def test_lfs_mode_uploads_through_lfs_even_with_hf_xet_installed(hub, tmp_path, monkeypatch):
    import hf_xet  # noqa: F401 - installed, so huggingface_hub would pick Xet on its own

    monkeypatch.setattr(hf_constants, "HF_HUB_DISABLE_XET", False)
    staged = sharded_release(tmp_path / "staged", shards=2)
    publish_release(staged, PUBLIC, "v1", HubTarget(endpoint=hub.url, transfer="lfs"), private=False, retry=FAST)
    assert hub.state.transfers_offered and all("xet" not in offer for offer in hub.state.transfers_offered)
    assert [call.status for call in hub.calls("lfs_put")] == [200] * 4  # the Parquet shards
    assert hf_constants.HF_HUB_DISABLE_XET is False  # restored after the calls


def test_xet_mode_goes_to_xet_storage(hub, tmp_path):
    staged = sharded_release(tmp_path / "staged", shards=1)
    with pytest.raises(Exception):  # noqa: B017 - the test server does not speak Xet: any failure, after asking
        publish_release(staged, PUBLIC, "v1", HubTarget(endpoint=hub.url, transfer="xet"), private=False,
                        retry=FAST)
    assert any("xet" in call.path for call in hub.requests) and not hub.calls("lfs_batch")


# ---------------------------------------------------------------------------------------- object storage


def by_provider(provider_dir: Path) -> dict[str, Path]:
    return {provider: provider_dir / provider for provider in PROVIDERS}


def s3_config(endpoint: str, **expiry) -> ReleaseConfig:
    data = config_data()
    data["targets"] = [{"kind": "local", "path": "hub", "repo_id": PUBLIC}]
    data["sampling_salt"] = {"env": "ARENA_RELEASE_SALT", "dev_default": "s3-test-salt-0123456789"}
    data["deliveries"] = {provider: {"kind": "s3", "uri": f"s3://exports/{provider}?endpoint_override={endpoint}",
                                     **expiry} for provider in PROVIDERS}
    return ReleaseConfig.model_validate(data)


def test_each_provider_gets_signed_urls_for_its_own_export_only(exports, tmp_path, monkeypatch):
    with s3_endpoint(monkeypatch, bucket="exports") as endpoint:
        config = s3_config(endpoint, url_expiry_s=3600)
        results = deliver_exports(config, by_provider(exports.provider_dir), tmp_path, tmp_path / "notes", FAST)
        assert all(r.changed for r in results)
        for provider in PROVIDERS:
            note_path = tmp_path / "notes" / f"{provider}.json"
            assert stat.S_IMODE(note_path.stat().st_mode) == 0o600
            note = json.loads(note_path.read_text())
            assert note["provider"] == provider and note["location"] == f"s3://exports/{provider}"
            staged = {p.relative_to(exports.provider_dir / provider).as_posix()
                      for p in (exports.provider_dir / provider).rglob("*") if p.is_file()}
            assert {f["path"] for f in note["files"]} == staged
            for file in note["files"]:
                assert f"/exports/{provider}/2024.06-example/" in file["url"] and "X-Amz-Expires=3600" in file["url"]
            manifest = next(f for f in note["files"] if f["path"] == MANIFEST_NAME)
            with urllib.request.urlopen(manifest["url"]) as response:  # a plain GET, no credentials
                assert json.loads(response.read())["provider"] == provider
            others = [p for p in PROVIDERS if p != provider]
            assert not any(f"/exports/{other}/" in note_path.read_text() for other in others)

        again = deliver_exports(config, by_provider(exports.provider_dir), tmp_path, tmp_path / "notes", FAST)
        assert not any(r.changed for r in again)  # nothing sent twice, new URLs signed


def test_a_delivery_cut_off_before_its_manifest_is_completed(exports, tmp_path, monkeypatch):
    import pyarrow.fs as pafs

    with s3_endpoint(monkeypatch, bucket="exports") as endpoint:
        config = s3_config(endpoint)
        deliver_exports(config, by_provider(exports.provider_dir), tmp_path, tmp_path / "notes", FAST)
        fs, root = pafs.FileSystem.from_uri(f"s3://exports/openai/2024.06-example?endpoint_override={endpoint}")
        fs.delete_file(f"{root}/{MANIFEST_NAME}")
        card = f"{root}/README.md"
        before = fs.get_file_info(card).mtime
        results = deliver_exports(config, by_provider(exports.provider_dir), tmp_path, tmp_path / "notes", FAST)
        assert [r.changed for r in results] == [False, False, True]  # sorted: alpha-labs, anthropic, openai
        assert fs.get_file_info(card).mtime == before  # only the missing manifest was sent
        assert fs.get_file_info(f"{root}/{MANIFEST_NAME}").type == pafs.FileType.File


def test_another_export_under_a_delivered_version_is_refused(exports, tmp_path, monkeypatch):
    import shutil

    with s3_endpoint(monkeypatch, bucket="exports") as endpoint:
        config = s3_config(endpoint)
        deliver_exports(config, by_provider(exports.provider_dir), tmp_path, tmp_path / "notes", FAST)
        changed = tmp_path / "changed"
        shutil.copytree(exports.provider_dir, changed)
        manifest = json.loads((changed / "openai" / MANIFEST_NAME).read_text())
        (changed / "openai" / MANIFEST_NAME).write_text(json.dumps({**manifest, "content_sha256": "0" * 64}))
        with pytest.raises(ReleaseConflictError, match="never rewritten"):
            deliver_exports(config, by_provider(changed), tmp_path, tmp_path / "notes", FAST)


def test_a_provider_without_an_export_directory_is_an_error(exports, tmp_path, monkeypatch):
    with s3_endpoint(monkeypatch, bucket="exports") as endpoint:
        with pytest.raises(PublishError, match="does not exist"):
            deliver_exports(s3_config(endpoint), by_provider(tmp_path / "nothing"), tmp_path, tmp_path / "notes", FAST)
