"""`arena-release takedown`: remove the rows of the config's takedown list from every version already
published, rewriting those versions: on each local target (the public repo and the exports kept there), on
each Hub target, and in each provider's Hub delivery (hub or gated; an s3 delivery is listed, not rewritten).

The list is resolved over the work directory's cleaned tables (a battle's B side, a voter's rows), as a
release resolves it. Each rewritten version gets its card and plots rendered again from its rewritten files
(counts, models, languages, a changelog line for the removal), and passes the publishing gate before any tag
moves. `--dry-run` lists what would change per version and changes nothing. Every published version is read
(from the Hub: downloaded under the work directory's `takedown/`, removed when the command ends). The next
release applies the list by itself; this command is for what was published before the request came.

What is kept, and where:
- local target: each rewritten version is a new snapshot; its tag (and `main` where it held it) moves there,
  and the old snapshot is deleted from disk.
- Hugging Face Hub: history is rewritten so that no branch or tag reaches the old files. Every tag of the repo
  is re-rooted (a temporary branch from the tag gets the rewritten files, or keeps its own for a version the
  takedown does not touch but whose history holds older versions; it is super-squashed into one commit
  without parents; the tag is deleted and created there), `main` gets the rewritten files of the version it
  holds and is super-squashed (its commit history is gone), and the LFS objects no branch or tag references
  anymore are deleted permanently (`permanently_delete_lfs_files`). Tags keep their names but point at new
  commits: anyone who pinned a commit id must pin the new one. Not in our hands: copies people downloaded,
  the Hub's caches and its dataset viewer's converted files (`refs/convert/parquet`, regenerated from `main`
  by the Hub), and the Hub's storage of regular (non-LFS) files of old commits until its garbage collection.
  If a run is cut off, run it again: versions holding taken-down rows are rewritten last, so it starts over.
"""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path

import pyarrow.parquet as pq

from pipeline.errors import UsageError
from pipeline.gate import UnverifiedReleaseError, apply_waivers
from pipeline.publish import HubTarget
from pipeline.release import target_for
from pipeline.release_config import ObjectStoreDelivery, ReleaseConfig, load_release_config
from pipeline.takedown import RewritableTarget, load_takedowns, plan_rewrite, rewrite, taken_down_ids
from pipeline.verify import options_from_config, verify_release


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "takedown", help="remove taken-down rows from every published version (local, Hub: history rewritten)",
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--config", type=Path, required=True, help="release config naming the takedown list and targets")
    p.add_argument("--workdir", type=Path, default=Path(".workdir"), help="work directory with the cleaned tables")
    p.add_argument("--dry-run", action="store_true", help="list the versions and rows that would change, only")
    p.set_defaults(func=run)


def rewritable_repos(config: ReleaseConfig, workdir: Path) -> list[tuple[RewritableTarget, list[str]]]:
    """Each target or delivery a release publishes to, with the repos it holds there."""
    places: list[tuple[RewritableTarget, list[str]]] = []
    for spec in config.targets:
        kept_here = [] if spec.kind != "local" else [
            f"{spec.repo_id}-{provider}" for provider in sorted(config.providers) if provider not in config.deliveries]
        places.append((target_for(config, spec, workdir), [spec.repo_id, *kept_here]))
    for provider, delivery in sorted(config.deliveries.items()):
        if isinstance(delivery, ObjectStoreDelivery):
            print(f"not rewritten: {provider}'s delivery {delivery.uri} (objects in a bucket: remove them there)")
        else:
            places.append((HubTarget(endpoint=delivery.endpoint, token_env=delivery.token_env,
                                     transfer=config.publishing.transfer,
                                     max_files_per_commit=config.publishing.max_files_per_commit), [delivery.repo_id]))
    return places


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
    options = options_from_config(config, args.workdir)

    def verified(staged: Path) -> None:
        """The publishing gate for a rewritten version: every check passes (or is waived) or nothing moves."""
        report = apply_waivers(verify_release(staged, options), config.verify.waivers)
        failed = [f"{c.name} ({c.detail})" for c in report.checks if c.status == "fail"]
        if failed:
            raise UnverifiedReleaseError(f"{staged.name}: the rewritten version did not pass verification, so "
                                         f"it is not published: {'; '.join(failed)}")

    scratch = args.workdir / "takedown"
    shutil.rmtree(scratch, ignore_errors=True)
    try:
        for target, repos in rewritable_repos(config, args.workdir):
            changes = plan_rewrite(target, repos, taken_down, scratch)
            how = "history rewritten" if isinstance(target, HubTarget) else "local snapshots"
            for change in changes:
                rows = ", ".join(f"{name} -{n:,}" for name, n in change.removed.items())
                print(f"{'would rewrite' if args.dry_run else 'rewriting'} {change.repo_id}@{change.version} "
                      f"({how}): {rows}")
            if not changes:
                print(f"{', '.join(repos)}: no published version holds a taken-down row")
            elif not args.dry_run:
                rewrite(target, changes, taken_down, scratch, verified)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return 0
