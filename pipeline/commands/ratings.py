"""`arena-release ratings`: the leaderboard (Bradley–Terry with 95% intervals) from a battles file.

BATTLES is our battles Parquet or a JSON array in FastChat's clean_battle shape (model_a, model_b,
winner, tstamp, anony, ...). Only the columns the ratings use are read.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import math
import sys
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

from pipeline.rating_plots import write_plots
from pipeline.ratings import (
    RATING_COLUMNS,
    Anchor,
    Leaderboard,
    LeaderboardOptions,
    RatingError,
    RatingFilters,
    Score,
    compute_leaderboard,
)

DEFAULT_BOOTSTRAP_ROUNDS = 1000


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("ratings", help="compute the leaderboard from battles (.parquet or .json)")
    p.add_argument("battles", type=Path, metavar="BATTLES", help="battles .parquet, or .json array (clean_battle)")
    intervals = p.add_mutually_exclusive_group()
    intervals.add_argument(
        "--bootstrap",
        type=int,
        metavar="N",
        help=f"bootstrap rounds for the 95%% intervals (default {DEFAULT_BOOTSTRAP_ROUNDS})",
    )
    intervals.add_argument("--sandwich", action="store_true", help="sandwich-estimator intervals instead")
    p.add_argument("--seed", type=int, default=0, help="bootstrap seed (default 0)")
    p.add_argument("--json", action="store_true", help="print {model: {rating, lower, upper, rank, battles}}")
    p.add_argument("--include-named", action="store_true", help="also rate named (non-anonymous) battles")
    p.add_argument("--all-prompts", action="store_true", help="ignore dedup_tag.sampled (rate every battle)")
    p.add_argument("--language", action="append", metavar="NAME", help="only this language (repeatable)")
    p.add_argument("--since", type=_date, metavar="YYYY-MM-DD", help="first day rated (inclusive)")
    p.add_argument("--until", type=_date, metavar="YYYY-MM-DD", help="last day rated (inclusive)")
    p.add_argument("--exclude-ties", action="store_true", help="drop tied battles")
    p.add_argument("--daily-vote-cap", type=int, metavar="N", help="count at most N votes per judge per day")
    p.add_argument("--anchor", type=_anchor, metavar="MODEL=RATING", help="pin one model's rating")
    p.add_argument("--style-control", action="store_true", help="add style-controlled ratings (conv_metadata)")
    p.add_argument("--elo", action="store_true", help="add online Elo ratings (K=4)")
    p.add_argument(
        "--leaderboard-models",
        type=Path,
        metavar="FILE",
        help="publish only these models (one per line); all battles still count in the fit",
    )
    p.add_argument("--plots", type=Path, metavar="DIR", help="write ratings and heatmap PNGs here")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    try:
        published = set(_model_list(args.leaderboard_models)) if args.leaderboard_models else None
        table = read_battles(args.battles)
        leaderboard = compute_leaderboard(table, _options(args))
    except RatingError as err:
        print(f"arena-release ratings: error: {err}", file=sys.stderr)
        return 2
    if published is not None:
        leaderboard = leaderboard.restricted_to(published)
    if args.plots:
        try:
            write_plots(leaderboard, args.plots)
        except OSError as err:
            print(f"arena-release ratings: error: cannot write plots to {args.plots}: {err.strerror}", file=sys.stderr)
            return 2
    summary = _summary(leaderboard)
    if args.json:
        print(json.dumps(leaderboard.to_json_dict(), indent=2))
        print(summary, file=sys.stderr)
    else:
        print(format_table(leaderboard))
        print(summary)
    return 0


def read_battles(path: Path) -> pa.Table:
    """The rating columns of a battles file: Parquet, or a JSON array read by DuckDB (no Python rows)."""
    if not path.is_file():
        raise RatingError(f"battles file not found: {path}")
    suffix = path.suffix.lower()
    if suffix == ".parquet":
        try:
            present = pq.read_schema(path).names
            table = pq.read_table(path, columns=[name for name in RATING_COLUMNS if name in present])
        except (pa.ArrowException, OSError) as err:
            raise RatingError(f"cannot read {path} as Parquet: {_first_line(err)}") from None
    elif suffix == ".json":
        try:
            relation = duckdb.connect().read_json(str(path), format="array")
            present = [name for name in RATING_COLUMNS if name in relation.columns]
            if not present:
                raise RatingError(
                    f"{path} holds no battle records (expected a JSON array of objects with model_a, ...)"
                )
            table = relation.select(", ".join(f'"{name}"' for name in present)).to_arrow_table()
        except duckdb.Error as err:
            raise RatingError(f"cannot read {path} as a JSON array of battles: {_first_line(err)}") from None
    else:
        raise RatingError(f"battles must be a .parquet file or a .json array, not {path.name}")
    if not len(table):
        raise RatingError(f"no battles in {path}")
    return table


def format_table(leaderboard: Leaderboard) -> str:
    """The leaderboard as aligned text: rank, model, rating, interval, battles (+ style, Elo)."""
    width = max([len("model"), *(len(model) for model in leaderboard.models)])
    level = f"{leaderboard.confidence:.0%} CI"
    header = f"{'rank':>4}  {'model':<{width}}  {'rating':>8}  {level:>15}  {'battles':>9}"
    has_style = leaderboard.style_coefficients is not None
    has_elo = any(row.elo is not None for row in leaderboard.rows)
    if has_style:
        header += f"  {'style rank':>10}  {'style':>8}  {'style CI':>15}"
    if has_elo:
        header += f"  {'elo':>8}"
    lines = [header]
    for row in leaderboard.rows:
        score = row.score
        line = f"{score.rank:>4}  {row.model:<{width}}  {score.rating:>8.1f}  {_interval(score):>15}  {row.battles:>9,}"
        if row.style is not None:
            line += f"  {row.style.rank:>10}  {row.style.rating:>8.1f}  {_interval(row.style):>15}"
        if row.elo is not None:
            line += f"  {row.elo:>8.1f}"
        lines.append(line)
    return "\n".join(lines)


def _interval(score: Score) -> str:
    return f"-{score.rating - score.lower:.1f}/+{score.upper - score.rating:.1f}"


def _summary(leaderboard: Leaderboard) -> str:
    method = (
        f"bootstrap ({leaderboard.bootstrap_rounds} rounds)"
        if leaderboard.interval_method == "bootstrap"
        else "sandwich estimator"
    )
    dropped = ", ".join(f"{reason}: {count:,}" for reason, count in leaderboard.dropped.items() if count)
    lines = [f"{leaderboard.battles_used:,} battles rated; intervals by {method}; dropped: {dropped or 'none'}"]
    if leaderboard.style_coefficients is not None:
        coefficients = ", ".join(f"{name} {value:+.3f}" for name, value in leaderboard.style_coefficients.items())
        lines.append(f"style coefficients (log-odds per standard deviation): {coefficients}")
    return "\n".join(lines)


def _options(args: argparse.Namespace) -> LeaderboardOptions:
    filters = RatingFilters(
        anonymous_only=not args.include_named,
        sampled_only=not args.all_prompts,
        languages=frozenset(args.language) if args.language else None,
        since=args.since,
        until=args.until,
        include_ties=not args.exclude_ties,
        daily_vote_cap=args.daily_vote_cap,
    )
    return LeaderboardOptions(
        filters=filters,
        intervals="sandwich" if args.sandwich else "bootstrap",
        bootstrap_rounds=args.bootstrap if args.bootstrap is not None else DEFAULT_BOOTSTRAP_ROUNDS,
        seed=args.seed,
        anchor=args.anchor,
        style_control=args.style_control,
        elo=args.elo,
    )


def _model_list(path: Path) -> list[str]:
    """Model names, one per line; blank lines and # comments skipped."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as err:
        raise RatingError(f"cannot read leaderboard models {path}: {err.strerror}") from None
    return [line.strip() for line in lines if line.strip() and not line.lstrip().startswith("#")]


def _date(text: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a date (YYYY-MM-DD): {text!r}") from None


def _anchor(text: str) -> Anchor:
    model, _, rating = text.rpartition("=")
    try:
        value = float(rating)
    except ValueError:
        value = math.nan
    if not model or not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"expected MODEL=RATING, got {text!r}")
    return Anchor(model=model, rating=value)


def _first_line(err: Exception) -> str:
    return str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
