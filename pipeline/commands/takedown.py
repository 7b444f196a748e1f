"""`arena-release takedown`: remove the rows of the config's takedown list from every version already
published on its local targets (the public repo and each provider's), rewriting those versions.

The list is resolved over the work directory's cleaned tables (a battle's B side, a voter's rows), as a
release resolves it. `--dry-run` lists what would change and changes nothing. The next release applies
the list by itself; this command is for what was published before the request came.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import pyarrow.parquet as pq

from pipeline.errors import UsageError
from pipeline.gate import UnverifiedReleaseError, apply_waivers
from pipeline.publish import LocalTarget
from pipeline.release_config import load_release_config
from pipeline.takedown import load_takedowns, plan_rewrite, rewrite, taken_down_ids
from pipeline.verify import options_from_config, verify_release


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("takedown", help="remove taken-down rows from every published version")
    p.add_argument("--config", type=Path, required=True, help="release config naming the takedown list and targets")
    p.add_argument("--workdir", type=Path, default=Path(".workdir"), help="work directory with the cleaned tables")
    p.add_argument("--dry-run", action="store_true", help="list the versions and rows that would change, only")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    config = load_release_config(args.config)
    if config.takedowns is None:
        raise UsageError(f"{args.config} names no takedown list (`takedowns: FILE`)")
    cleaned = args.workdir / "cleaned"
    if not (cleaned / "battles.parquet").is_file():
        raise UsageError(f"no cleaned tables under {cleaned}: the takedown list is resolved over them")
    taken_down = taken_down_ids(
        load_takedowns(config.path(config.takedowns)),
        pq.read_table(cleaned / "battles.parquet", columns=["question_id", "conv_id_b", "judge"]),
        pq.read_table(cleaned / "conversations.parquet", columns=["conversation_id", "judge"]),
    )
    hub_targets = [spec.repo_id for spec in config.targets if spec.kind != "local"]
    if hub_targets:
        print(f"not rewritten (Hub targets are not supported by this command yet): {', '.join(hub_targets)}")
    options = options_from_config(config, args.workdir)

    def verified(staged: Path) -> None:
        """The publishing gate for a rewritten version: every check passes (or is waived) or nothing moves."""
        report = apply_waivers(verify_release(staged, options), config.verify.waivers)
        failed = [f"{c.name} ({c.detail})" for c in report.checks if c.status == "fail"]
        if failed:
            raise UnverifiedReleaseError(f"{staged.name}: the rewritten version did not pass verification, so "
                                         f"it is not published: {'; '.join(failed)}")

    for spec in (spec for spec in config.targets if spec.kind == "local"):
        target = LocalTarget(spec.directory(args.workdir))
        repos = [spec.repo_id, *(f"{spec.repo_id}-{provider}" for provider in sorted(config.providers))]
        changes = plan_rewrite(target, repos, taken_down)
        for change in changes:
            rows = ", ".join(f"{name} -{n:,}" for name, n in change.removed.items())
            print(f"{'would rewrite' if args.dry_run else 'rewriting'} {change.repo_id}@{change.version}: {rows}")
        if not changes:
            print(f"{spec.repo_id}: no published version holds a taken-down row")
        elif not args.dry_run:
            rewrite(target, changes, taken_down, args.workdir / "takedown", verified)
    return 0
