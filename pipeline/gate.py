"""The publishing gate: only bytes that passed verification are ever published, on every path.

Verifying a release directory ends in a record, `<release>/verify/<name>/record.json`, bound to the sha256 of
every file that would be published, to the config hash and to the version. Publishing re-hashes the
directory and refuses, naming the failed or missing checks, unless a passing record covers exactly those
bytes: one byte edited after verification, a record of a failed verification (a blocking check that
stopped an earlier run), a record made under another config, or none at all, and nothing is published.

A check that could not run is not a pass: its SKIP fails the gate unless the release config waives that
check by name, with a reason (`verify.waivers`); the waiver goes into the manifest and the card.

What the gate cannot see: someone who can write the work directory can also write a record; and bytes
changed on disk after the gate hashed them are caught by the target's read-back of the commit (it compares
each committed file's sha256 with the verified one) only after the commit, before the tag.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from pipeline.publish import PublishError, StagedRelease
from pipeline.verify import Check, VerifyReport

RECORD_FORMAT = 1


class UnverifiedReleaseError(PublishError):
    """No passing verification covers exactly the bytes about to be published."""


def apply_waivers(report: VerifyReport, waivers: Mapping[str, str]) -> VerifyReport:
    """The gate's reading of a report: a skipped check fails unless waived, and a waived one says why."""
    gated = VerifyReport(report.source)
    for check in report.checks:
        if check.status == "skip" and check.name in waivers:
            gated.checks.append(Check(check.name, "waived", f"{check.detail}; waived: {waivers[check.name]}"))
        elif check.status == "skip":
            gated.checks.append(Check(
                check.name, "fail",
                f"did not run ({check.detail}); a check that did not run is not a pass: give it what it needs, "
                f"or waive it by name with a reason under verify.waivers in the release config",
                (check.detail,)))
        else:
            gated.checks.append(check)
    return gated


@dataclass(frozen=True)
class VerificationRecord:
    """What was verified (file -> sha256), under which config and version, and how each check ended."""

    release: str
    version: str
    config_sha256: str
    files: dict[str, str]
    checks: list[dict[str, str]]
    format: int = RECORD_FORMAT

    @property
    def failures(self) -> list[str]:
        return [f"{c['name']} ({c['status']}: {c['detail'][:300]})" for c in self.checks
                if c["status"] not in ("pass", "warn", "waived")]

    @property
    def passed(self) -> bool:
        return bool(self.checks) and not self.failures

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=1, sort_keys=True)


def record_path(release_root: Path, release: str) -> Path:
    """Where the record of one release directory of a version lives (`release`: `public`, or
    `providers/<name>`): a directory of its own, so each is pushed to a remote store alone."""
    return Path(release_root) / "verify" / release / "record.json"


def record_verification(release_dir: Path, release: str, version: str, config_sha256: str,
                        report: VerifyReport, out: Path) -> VerificationRecord:
    """Hash every file of `release_dir` as publishing will, and write the record of `report` beside it."""
    staged = StagedRelease.scan(release_dir)
    record = VerificationRecord(
        release=release, version=version, config_sha256=config_sha256,
        files=staged.sha256s,
        checks=[{"name": c.name, "status": c.status, "detail": c.detail} for c in report.checks],
    )
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp")
    tmp.write_text(record.to_json())
    os.replace(tmp, out)
    return record


def read_record(path: Path) -> VerificationRecord | None:
    try:
        data: dict[str, Any] = json.loads(Path(path).read_text())
        if data.get("format") != RECORD_FORMAT:
            return None
        return VerificationRecord(**data)
    except (OSError, ValueError, TypeError):
        return None


def require_verified(release_dir: Path, release: str, version: str, config_sha256: str,
                     record_file: Path) -> StagedRelease:
    """The staged release, hashed now, if a passing record covers exactly its bytes; else refuse, saying why."""
    what = f"{release} release {version}"
    record = read_record(record_file)
    if record is None:
        raise UnverifiedReleaseError(
            f"{what} has no verification record ({record_file}): it was never verified, so it is not "
            "published. Build and verify it first (materialize release_build and provider_exports, or run "
            "`arena-release run`).")
    if record.failures:
        raise UnverifiedReleaseError(
            f"{what} did not pass verification, so it is not published. Failed or missing checks: "
            + "; ".join(record.failures))
    if (record.release, record.version) != (release, version):
        raise UnverifiedReleaseError(f"{what}: the record at {record_file} is for {record.release} {record.version}")
    if record.config_sha256 != config_sha256:
        raise UnverifiedReleaseError(
            f"{what} was verified under another release config (sha256 {record.config_sha256[:12]}, now "
            f"{config_sha256[:12]}): verify it again under this one before publishing.")
    staged = StagedRelease.scan(release_dir)
    now = staged.sha256s
    changed = sorted(p for p in now.keys() & record.files.keys() if now[p] != record.files[p])
    added, removed = sorted(now.keys() - record.files.keys()), sorted(record.files.keys() - now.keys())
    if changed or added or removed:
        problems = ([f"changed after verification: {', '.join(changed[:5])}"] if changed else []) + (
            [f"not verified: {', '.join(added[:5])}"] if added else []) + (
            [f"verified but gone: {', '.join(removed[:5])}"] if removed else [])
        raise UnverifiedReleaseError(f"{what}: the bytes differ from what was verified, so nothing is published ("
                                     + "; ".join(problems) + "). Verify it again.")
    return staged
