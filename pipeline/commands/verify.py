"""`arena-release verify`: re-check a release directory or a published Hub dataset repo.

Prints one line per check and exits 1 when any check fails (2 for unusable arguments). A check that could
not run (no ground truth, canary file, private config or salt at hand) fails too, as at the publishing
gate, unless the config waives it with a reason; `--allow-skipped` lets a third party, who has none of
those, check what it can: the skipped checks are still listed, and the summary says they did not run.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
from pathlib import Path

from pipeline.errors import UsageError
from pipeline.gate import apply_waivers
from pipeline.manifest import ManifestError, read_manifest
from pipeline.release_config import load_release_config
from pipeline.verify import VerifyOptions, fetch_release, options_from_config, verify_release


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("verify", help="re-check a release (directory or Hub repo); exit 1 on any failure")
    p.add_argument("release", help="release directory, or a Hub dataset repo id (owner/name)")
    p.add_argument("--revision", help="Hub revision (the version tag) when RELEASE is a repo id")
    p.add_argument("--endpoint", help="Hub endpoint when RELEASE is a repo id (default: $HF_ENDPOINT or the Hub)")
    p.add_argument("--config", type=Path,
                   help="the release config: its verify files, unreleased model names and salt variable")
    p.add_argument("--pii-ground-truth", type=Path, help="JSONL of planted PII values (overrides the config)")
    p.add_argument("--canaries", type=Path, help="file of values that must never appear, one a line")
    p.add_argument("--salt-env", help="environment variable holding the sampling salt (default: the manifest's)")
    p.add_argument("--workdir", type=Path, default=Path(".workdir"),
                   help="work directory, under which the config's relative verify files are found [.workdir]")
    p.add_argument("--allow-skipped", action="store_true",
                   help="a check that cannot run is reported as skipped instead of failing the command")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    config = load_release_config(args.config) if args.config else None
    options = options_from_config(config, args.workdir) if config else VerifyOptions()
    options = dataclasses.replace(
        options,
        pii_ground_truth=args.pii_ground_truth or options.pii_ground_truth,
        canary_file=args.canaries or options.canary_file,
    )
    for path in (options.pii_ground_truth, options.canary_file):
        if path is not None and not Path(path).is_file():
            raise FileNotFoundError(f"{path}: no such file")
    release_dir = _locate(args.release, args.revision, args.endpoint)
    salt_env = args.salt_env or _manifest_salt_env(release_dir)
    if salt_env and os.environ.get(salt_env):
        options = dataclasses.replace(options, salt=os.environ[salt_env].encode())
    source = args.release + (f"@{args.revision}" if args.revision else "")
    report = verify_release(release_dir, options, source=source)
    if not args.allow_skipped:
        report = apply_waivers(report, config.verify.waivers if config else {})
    print(report.format())
    return 0 if report.ok else 1


def _locate(release: str, revision: str | None, endpoint: str | None) -> Path:
    """A local directory as is; otherwise an owner/name repo id, downloaded from the Hub."""
    path = Path(release)
    if path.is_dir():
        if revision:
            raise UsageError("--revision applies to a Hub repo id, not to a local directory")
        return path
    if release.count("/") != 1 or path.exists():
        raise FileNotFoundError(f"{release}: not a release directory nor an owner/name Hub repo id")
    from huggingface_hub.errors import HfHubHTTPError

    try:
        return fetch_release(release, revision, endpoint)
    except HfHubHTTPError as err:
        raise UsageError(f"cannot fetch {release}@{revision or 'main'} from the Hub: {err}") from None


def _manifest_salt_env(release_dir: Path) -> str | None:
    try:
        return read_manifest(release_dir)["salt"].get("env")
    except ManifestError:
        return None  # verify_release reports the manifest problem itself
