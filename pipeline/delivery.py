"""Deliver each provider's export where only that provider can read it (release config `deliveries`).

- `hub`: a private repo in a namespace the provider controls, written with a token for it.
- `gated`: a gated repo, its files served only to the accounts on the config's access list.
- `s3`: objects under `s3://bucket/prefix/<version>/`, written through pyarrow.fs with the publisher's
  credentials; the provider gets time-limited signed URLs (SigV4, botocore), which this module lists in
  a private delivery note (owner-only file) to hand over by a private channel.
- none (local targets only, the config refuses it with a hub target): `<repo_id>-<provider>`, a
  private (owner-only) repo on each local target.

Every delivery is idempotent, so a re-run completes what an interrupted one left and repeats nothing.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pyarrow.fs as pafs

from pipeline.manifest import MANIFEST_NAME
from pipeline.publish import (
    HubTarget,
    LocalTarget,
    PublishResult,
    ReleaseConflictError,
    RetryPolicy,
    StagedRelease,
    publish_release,
    write_atomically,
)
from pipeline.release_config import GatedDelivery, HubDelivery, ObjectStoreDelivery, Publishing, ReleaseConfig
from pipeline.storage import Store

logger = logging.getLogger(__name__)
CHUNK_BYTES = 8 << 20


def deliver_to_hub(
    export: Path | StagedRelease, delivery: HubDelivery | GatedDelivery, version: str, retry: RetryPolicy,
    publishing: Publishing,
) -> PublishResult:
    """A private repo in the provider's namespace, or a gated repo with the configured access list."""
    gated = isinstance(delivery, GatedDelivery)
    target = HubTarget(endpoint=delivery.endpoint, token_env=delivery.token_env, transfer=publishing.transfer,
                       gated_access=tuple(delivery.access) if gated else None,
                       max_files_per_commit=publishing.max_files_per_commit)
    return publish_release(export, delivery.repo_id, version, target, private=not gated, retry=retry)


@dataclass(frozen=True)
class SignedFile:
    path: str
    bytes: int
    sha256: str
    url: str


def deliver_to_object_store(
    export: Path | StagedRelease, delivery: ObjectStoreDelivery, version: str, provider: str, note_path: Path,
    now: dt.datetime | None = None,
) -> PublishResult:
    """Upload the export under `<uri>/<version>/` (manifest last: it marks a complete delivery), then
    sign a URL per file and write the delivery note. Objects already there with the same content are
    not sent again; a complete delivery with other content is a conflict, as on the Hub."""
    release = export if isinstance(export, StagedRelease) else StagedRelease.scan(export)
    store = Store(delivery.uri)
    base = f"{store.root}/{version}"
    stored = {f.path.removeprefix(f"{version}/"): f.size for f in store.list_files(version)}
    changed = False
    if MANIFEST_NAME in stored:
        published = json.loads(store.fs.open_input_stream(f"{base}/{MANIFEST_NAME}").readall())
        staged = json.loads((release.root / MANIFEST_NAME).read_text())
        if published.get("content_sha256") != staged.get("content_sha256"):
            raise ReleaseConflictError(f"{store.redacted}/{version} already holds another export for {provider}: "
                                       "a delivered version is never rewritten, deliver under a new version")
    else:
        client = _s3_client(delivery.uri)
        bucket, prefix = _bucket_and_key(store.root)
        for path in sorted(release.files, key=lambda p: (p == MANIFEST_NAME, p)):
            key = f"{prefix}{version}/{path}"
            if path in stored and _same_object(client, bucket, key, release.root / path):
                continue
            _upload(store.fs, release.root / path, f"{base}/{path}")
            changed = True
    signed = sign_urls(delivery, version, release)
    write_delivery_note(note_path, provider, version, delivery, signed, now or dt.datetime.now(dt.UTC))
    logger.info("%s: export %s %s at %s/%s (%d files, signed for %d s)", provider, version,
                "delivered" if changed else "already delivered", store.redacted, version, len(signed),
                delivery.url_expiry_s)
    return PublishResult(f"{provider} ({store.redacted})", version, release.files[MANIFEST_NAME].sha256 or "",
                         changed, note_path.as_uri())


def sign_urls(delivery: ObjectStoreDelivery, version: str, release: StagedRelease) -> list[SignedFile]:
    """A GET URL per file, valid `url_expiry_s` seconds; the provider needs no credentials of its own."""
    client = _s3_client(delivery.uri)
    bucket, prefix = _bucket_and_key(Store(delivery.uri).root)
    return [
        SignedFile(path, (release.root / path).stat().st_size, digest.sha256 or "",
                   client.generate_presigned_url("get_object", ExpiresIn=delivery.url_expiry_s,
                                                 Params={"Bucket": bucket, "Key": f"{prefix}{version}/{path}"}))
        for path, digest in sorted(release.files.items())
    ]


def write_delivery_note(note_path: Path, provider: str, version: str, delivery: ObjectStoreDelivery,
                        files: list[SignedFile], now: dt.datetime) -> None:
    """Owner-only JSON: the signed URLs are bearer credentials until they expire."""
    expires = now + dt.timedelta(seconds=delivery.url_expiry_s)
    note = {
        "provider": provider,
        "version": version,
        "location": delivery.uri.split("?", 1)[0],
        "signed_at": now.isoformat(timespec="seconds"),
        "expires_at": expires.isoformat(timespec="seconds"),
        "how": "Each URL downloads one file with a plain HTTP GET until expires_at; check it against sha256. "
               "Anyone holding a URL can read that file: hand this note over by a private channel only.",
        "files": [file.__dict__ for file in files],
    }
    note_path.parent.mkdir(parents=True, exist_ok=True)
    note_path.parent.chmod(0o700)
    write_atomically(note_path, json.dumps(note, indent=2).encode())
    note_path.chmod(0o600)


def _upload(fs: pafs.FileSystem, source: Path, destination: str) -> None:
    with source.open("rb") as reader, fs.open_output_stream(destination) as writer:
        while chunk := reader.read(CHUNK_BYTES):
            writer.write(chunk)


def _same_object(client, bucket: str, key: str, local: Path) -> bool:
    """Whether the stored object holds `local`'s bytes, by its ETag: the MD5 of a single-part upload, or
    the MD5 of that MD5 for a one-part multipart upload (how pyarrow writes a small file); the ETag of a
    larger multipart upload depends on its part sizes, so such an object is sent again."""
    etag = client.head_object(Bucket=bucket, Key=key)["ETag"].strip('"')
    digest = hashlib.md5(usedforsecurity=False)
    with local.open("rb") as handle:
        while chunk := handle.read(CHUNK_BYTES):
            digest.update(chunk)
    if etag.endswith("-1"):
        return hashlib.md5(digest.digest(), usedforsecurity=False).hexdigest() + "-1" == etag
    return "-" not in etag and digest.hexdigest() == etag


def _bucket_and_key(root: str) -> tuple[str, str]:
    bucket, _, prefix = root.partition("/")
    return bucket, f"{prefix.strip('/')}/" if prefix.strip("/") else ""


def _s3_client(uri: str, environ: Mapping[str, str] = os.environ):
    """A botocore S3 client for the URI's endpoint and region (credentials: botocore's usual chain)."""
    import botocore.session
    from botocore.config import Config

    query = {key: values[-1] for key, values in parse_qs(urlsplit(uri).query).items()}
    endpoint = query.get("endpoint_override")
    if endpoint and "://" not in endpoint:
        endpoint = f"{query.get('scheme', 'https')}://{endpoint}"
    region = query.get("region") or environ.get("AWS_DEFAULT_REGION") or "us-east-1"
    session = botocore.session.get_session()
    return session.create_client("s3", region_name=region, endpoint_url=endpoint,
                                 config=Config(signature_version="s3v4"))


def deliver_exports(
    config: ReleaseConfig, exports: Mapping[str, Path | StagedRelease], workdir: Path, notes_dir: Path,
    retry: RetryPolicy,
) -> list[PublishResult]:
    """Every provider's export (its directory, or as the publishing gate hashed it) to its delivery
    (without one: a private repo on each local target)."""
    results = []
    for provider in sorted(config.providers):
        export_dir = exports[provider]
        delivery = config.deliveries.get(provider)
        if isinstance(delivery, ObjectStoreDelivery):
            results.append(deliver_to_object_store(export_dir, delivery, config.version, provider,
                                                   Path(notes_dir) / f"{provider}.json"))
        elif delivery is not None:
            results.append(deliver_to_hub(export_dir, delivery, config.version, retry, config.publishing))
        else:
            for spec in config.targets:  # the config refuses a hub target for a provider without a delivery
                results.append(publish_release(export_dir, f"{spec.repo_id}-{provider}", config.version,
                                               LocalTarget(spec.directory(workdir)), private=True, retry=retry))
    return results
