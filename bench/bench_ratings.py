"""Time leaderboard ratings on synthetic battles and print the figures.

Generates N battles (default 2,000,000) among M models (default 100) from seeded latent strengths
(Bradley–Terry outcomes, 20% ties, style counts in conv_metadata), then times each stage on the
Arrow table and prints the times and the peak RSS. Targets (issue 6): BT + 1,000-round bootstrap
under 10 s, sandwich intervals under 1 s, peak RSS under 1 GB, on 2 cores.

    .venv/bin/python bench/bench_ratings.py [--battles N] [--models M] [--rounds R] [--style] [--elo]
"""

from __future__ import annotations

import argparse
import os
import resource
import time
from collections.abc import Callable
from typing import TypeVar

import numpy as np
import pyarrow as pa

from pipeline import ratings

T = TypeVar("T")


def synthetic_battles(n_battles: int, n_models: int, seed: int) -> tuple[pa.Table, np.ndarray]:
    """Battles with known strengths (natural units, sd 0.6 ≈ 100 rating points); returns (table, strengths)."""
    rng = np.random.default_rng(seed)
    strengths = rng.normal(0.0, 0.6, n_models)
    model_a = rng.integers(0, n_models, n_battles)
    model_b = (model_a + rng.integers(1, n_models, n_battles)) % n_models
    a_wins = rng.random(n_battles) < 1.0 / (1.0 + np.exp(strengths[model_b] - strengths[model_a]))
    winner_index = np.where(rng.random(n_battles) < 0.2, 2, np.where(a_wins, 0, 1))
    names = pa.array([f"model-{index:03d}" for index in range(n_models)])
    winners = pa.array(["model_a", "model_b", "tie"])

    def decoded(indices: np.ndarray, dictionary: pa.Array) -> pa.Array:
        return pa.DictionaryArray.from_arrays(pa.array(indices.astype(np.int32)), dictionary).dictionary_decode()

    tokens = rng.integers(50, 1500, (2, n_battles), dtype=np.int32)
    markdown = rng.poisson(1.5, (6, n_battles)).astype(np.int32)
    metadata = pa.StructArray.from_arrays(
        [pa.array(column) for column in (tokens[0], tokens[1], *markdown)],
        names=[
            "sum_assistant_a_tokens",
            "sum_assistant_b_tokens",
            "header_count_a",
            "header_count_b",
            "list_count_a",
            "list_count_b",
            "bold_count_a",
            "bold_count_b",
        ],
    )
    table = pa.table(
        {
            "model_a": decoded(model_a, names),
            "model_b": decoded(model_b, names),
            "winner": decoded(winner_index, winners),
            "tstamp": 1.7e9 + np.sort(rng.random(n_battles)) * 86_400 * 365,
            "anony": np.ones(n_battles, dtype=bool),
            "dedup_tag": pa.StructArray.from_arrays(
                [pa.array(np.zeros(n_battles, dtype=bool)), pa.array(np.ones(n_battles, dtype=bool))],
                names=["high_freq", "sampled"],
            ),
            "conv_metadata": metadata,
        }
    )
    return table, strengths


def timed(label: str, work: Callable[[], T]) -> tuple[T, float]:
    start = time.perf_counter()
    result = work()
    seconds = time.perf_counter() - start
    print(f"{label:<48} {seconds:8.3f} s   (peak RSS so far {peak_rss_mib():.0f} MiB)")
    return result, seconds


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--battles", type=int, default=2_000_000)
    parser.add_argument("--models", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--style", action="store_true", help="also time style control (per-battle fit)")
    parser.add_argument("--elo", action="store_true", help="also time online Elo (sequential)")
    args = parser.parse_args()

    print(f"cpus available: {len(os.sched_getaffinity(0))}; battles {args.battles:,}; models {args.models}")
    (table, strengths), _ = timed(
        "generate synthetic battles", lambda: synthetic_battles(args.battles, args.models, args.seed)
    )
    print(f"peak RSS after generation: {peak_rss_mib():.0f} MiB")

    prepared, prepare_s = timed(
        "filter (prepare_battles)", lambda: ratings.prepare_battles(table, ratings.RatingFilters())
    )
    battles, encode_s = timed("encode (names -> indices, tstamp order)", lambda: ratings.encode_battles(prepared.table))
    cells, collapse_s = timed("collapse to (pair, outcome) cells", lambda: ratings.collapse_battles(battles))
    design = ratings.bt_design(cells)
    print(f"  {len(battles):,} battles -> {len(cells.counts):,} cells, {len(design.counts):,} pairs")
    fitted, fit_s = timed("Bradley-Terry fit", lambda: ratings.bradley_terry(design))
    boot, boot_s = timed(
        f"BT + {args.rounds}-round bootstrap intervals",
        lambda: ratings.bootstrap_intervals(cells, args.rounds, args.seed),
    )
    sandwich, sandwich_s = timed("BT + sandwich intervals", lambda: ratings.sandwich_intervals(design))

    order = [int(name.split("-")[1]) for name in battles.models]
    print(f"  correlation of BT ratings with the latent strengths: {np.corrcoef(fitted, strengths[order])[0, 1]:.4f}")
    print(
        f"  median CI width: bootstrap {np.median(boot.upper - boot.lower):.2f}, "
        f"sandwich {np.median(sandwich.upper - sandwich.lower):.2f} rating points"
    )

    if args.style:
        style, _ = timed("style features", lambda: ratings.style_design(prepared.table, battles))
        params, _ = timed("style-control fit", lambda: ratings.fit_pairwise(style)[0])
        timed("style-control sandwich intervals", lambda: ratings.sandwich_intervals(style, params=params))
    if args.elo:
        timed("online Elo", lambda: ratings.elo_ratings(battles))

    options = ratings.LeaderboardOptions(bootstrap_rounds=args.rounds, seed=args.seed)
    _, end_to_end_s = timed(
        "compute_leaderboard, table to leaderboard", lambda: ratings.compute_leaderboard(table, options)
    )

    pipeline_s = prepare_s + encode_s + collapse_s
    print()
    print(f"FIGURE bt_plus_{args.rounds}_bootstrap_s = {boot_s:.2f}   (target < 10 s)")
    print(f"FIGURE sandwich_s = {sandwich_s:.2f}   (target < 1 s)")
    print(f"FIGURE prepare_encode_collapse_s = {pipeline_s:.2f}")
    print(f"FIGURE compute_leaderboard_{args.rounds}_bootstrap_s = {end_to_end_s:.2f}")
    print(f"FIGURE peak_rss_mib = {peak_rss_mib():.0f}   (target < 1024 MiB)")


if __name__ == "__main__":
    main()
