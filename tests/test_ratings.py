"""Ratings against closed forms and an independent implementation (choix), plus filters, publication and CLI."""

from __future__ import annotations

import argparse
import datetime as dt
import json
import math

import choix
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from pipeline import rating_plots, ratings
from pipeline.commands import ratings as ratings_command
from pipeline.ratings import (
    Anchor,
    LeaderboardOptions,
    RatingError,
    RatingFilters,
    compute_leaderboard,
)
from tests.battle_fixtures import LEADERBOARD, UNRELEASED, make_battles

POINTS = 400.0 / math.log(10.0)  # rating points per natural log-odds unit
Z95 = 1.959963984540054
T0 = dt.datetime(2024, 6, 1, tzinfo=dt.UTC).timestamp()
UNFILTERED = RatingFilters(anonymous_only=False, sampled_only=False)


def battles_table(matches: list[tuple[str, str, str]], **columns: list) -> pa.Table:
    """Battles (model_a, model_b, winner) one minute apart, anonymous and dedup-sampled unless overridden."""
    n = len(matches)
    data = {
        "model_a": [a for a, _, _ in matches],
        "model_b": [b for _, b, _ in matches],
        "winner": [w for _, _, w in matches],
        "tstamp": [T0 + 60.0 * i for i in range(n)],
        "anony": [True] * n,
        "dedup_tag": [{"high_freq": False, "sampled": True}] * n,
    }
    data.update(columns)
    return pa.table(data)


def simulated(n_models: int, n_battles: int, seed: int, tie_rate: float = 0.15) -> tuple[list[str], pa.Table]:
    """Random battles among models with latent strengths; both tie kinds appear."""
    rng = np.random.default_rng(seed)
    names = [f"model-{i:02d}" for i in range(n_models)]
    strength = rng.normal(0.0, 0.7, n_models)
    a = rng.integers(0, n_models, n_battles)
    b = (a + rng.integers(1, n_models, n_battles)) % n_models
    a_wins = rng.random(n_battles) < 1.0 / (1.0 + np.exp(strength[b] - strength[a]))
    tie = rng.random(n_battles) < tie_rate
    winner = np.where(
        tie, np.where(rng.random(n_battles) < 0.5, "tie", "tie (bothbad)"), np.where(a_wins, "model_a", "model_b")
    )
    return names, battles_table([(names[i], names[j], str(w)) for i, j, w in zip(a, b, winner, strict=True)])


def leaderboard_ratings(leaderboard: ratings.Leaderboard) -> dict[str, float]:
    return {row.model: row.score.rating for row in leaderboard.rows}


# ---------------------------------------------------------------------------------------------------
# Closed forms


def test_two_player_bradley_terry_is_the_log_odds_of_the_win_share():
    wins, losses, ties = 30, 10, 8
    table = battles_table(
        [("a", "b", "model_a")] * wins
        + [("b", "a", "model_a")] * losses
        + [("a", "b", "tie")] * (ties // 2)
        + [("b", "a", "tie (bothbad)")] * (ties // 2)
    )
    board = compute_leaderboard(table, LeaderboardOptions(filters=UNFILTERED, intervals="sandwich"))
    difference = POINTS * math.log((wins + ties / 2) / (losses + ties / 2))
    got = leaderboard_ratings(board)
    assert got["a"] == pytest.approx(1000 + difference / 2, abs=1e-3)
    assert got["b"] == pytest.approx(1000 - difference / 2, abs=1e-3)


def test_two_player_sandwich_interval_matches_the_closed_form():
    wins, losses, ties = 40, 20, 10
    table = battles_table(
        [("a", "b", "model_a")] * wins + [("a", "b", "model_b")] * losses + [("a", "b", "tie")] * ties
    )
    board = compute_leaderboard(table, LeaderboardOptions(filters=UNFILTERED, intervals="sandwich"))
    n = wins + losses + ties
    p = (wins + ties / 2) / n  # MLE win probability of a
    score_variance = wins * (1 - p) ** 2 + losses * p**2 + ties * (0.5 - p) ** 2
    difference_sd = math.sqrt(score_variance) / (n * p * (1 - p))  # sandwich: sqrt(G) / H
    half_width = Z95 * POINTS * difference_sd / 2  # a's rating is half the difference
    top = board.rows[0]
    assert top.model == "a"
    assert top.score.upper - top.score.rating == pytest.approx(half_width, rel=1e-4)
    assert top.score.rating - top.score.lower == pytest.approx(half_width, rel=1e-4)


def test_anchor_pins_the_baseline_and_keeps_differences():
    table = battles_table([("a", "b", "model_a")] * 30 + [("a", "b", "model_b")] * 10)
    plain = compute_leaderboard(table, LeaderboardOptions(filters=UNFILTERED, intervals="sandwich"))
    anchored = compute_leaderboard(
        table, LeaderboardOptions(filters=UNFILTERED, intervals="sandwich", anchor=Anchor("b", 1114.0))
    )
    got, before = leaderboard_ratings(anchored), leaderboard_ratings(plain)
    assert got["b"] == pytest.approx(1114.0)
    assert got["a"] - got["b"] == pytest.approx(before["a"] - before["b"])
    baseline = next(row for row in anchored.rows if row.model == "b")
    assert baseline.score.lower == pytest.approx(1114.0) and baseline.score.upper == pytest.approx(1114.0)
    with pytest.raises(RatingError, match="anchor model 'zeta' has no battles"):
        compute_leaderboard(table, LeaderboardOptions(filters=UNFILTERED, anchor=Anchor("zeta", 1000.0)))


def elo_of(table: pa.Table) -> dict[str, float]:
    battles = ratings.encode_battles(ratings.prepare_battles(table, UNFILTERED).table)
    return dict(zip(battles.models, ratings.elo_ratings(battles).tolist(), strict=True))


def test_elo_single_win_at_equal_ratings_moves_k_over_two():
    assert elo_of(battles_table([("a", "b", "model_a")])) == {"a": 1002.0, "b": 998.0}


def test_elo_follows_the_update_rule_in_tstamp_order():
    table = battles_table(
        [("b", "a", "model_b"), ("a", "c", "model_b"), ("b", "c", "tie (bothbad)")],
        tstamp=[T0 + 10, T0 + 30, T0 + 20],  # rows out of order: Elo must follow tstamp
    )
    expected = {"a": 1000.0, "b": 1000.0, "c": 1000.0}
    for first, second, outcome in (("b", "a", 0.0), ("b", "c", 0.5), ("a", "c", 0.0)):
        p = 1.0 / (1.0 + 10 ** ((expected[second] - expected[first]) / 400.0))
        expected[first] += 4.0 * (outcome - p)
        expected[second] -= 4.0 * (outcome - p)
    got = elo_of(table)
    for model, rating in expected.items():
        assert got[model] == pytest.approx(rating, abs=1e-9)


# ---------------------------------------------------------------------------------------------------
# Independent implementation


def test_bradley_terry_matches_choix_within_half_a_point():
    names, table = simulated(n_models=12, n_battles=6000, seed=3)
    board = compute_leaderboard(table, LeaderboardOptions(filters=UNFILTERED, intervals="sandwich"))
    index = {name: i for i, name in enumerate(names)}
    comparisons = np.zeros((len(names), len(names)))  # [i, j]: wins of i over j, ties half each way
    for a, b, winner in zip(*(table[c].to_pylist() for c in ("model_a", "model_b", "winner")), strict=True):
        i, j = index[a], index[b]
        if winner == "model_a":
            comparisons[i, j] += 1
        elif winner == "model_b":
            comparisons[j, i] += 1
        else:
            comparisons[i, j] += 0.5
            comparisons[j, i] += 0.5
    reference = 1000.0 + POINTS * choix.ilsr_pairwise_dense(comparisons, max_iter=1000, tol=1e-12)
    got = leaderboard_ratings(board)
    differences = [abs(got[name] - reference[index[name]]) for name in names]
    assert max(differences) < 0.5
    assert max(differences) < 0.01  # in fact the same optimum


def test_bradley_terry_matches_choix_on_decisive_battles():
    names, table = simulated(n_models=6, n_battles=3000, seed=11, tie_rate=0.0)
    got = leaderboard_ratings(compute_leaderboard(table, LeaderboardOptions(filters=UNFILTERED, intervals="sandwich")))
    index = {name: i for i, name in enumerate(names)}
    pairs = [
        (index[a], index[b]) if w == "model_a" else (index[b], index[a])
        for a, b, w in zip(*(table[c].to_pylist() for c in ("model_a", "model_b", "winner")), strict=True)
    ]
    reference = choix.opt_pairwise(len(names), pairs, alpha=0.0, method="BFGS", tol=1e-10)
    reference = 1000.0 + POINTS * (reference - reference.mean())
    assert max(abs(got[name] - reference[index[name]]) for name in names) < 0.5


# ---------------------------------------------------------------------------------------------------
# Intervals


def test_bootstrap_is_reproducible_for_a_seed_and_varies_across_seeds():
    _, table = simulated(n_models=6, n_battles=1500, seed=5)

    def bounds(seed: int) -> list[tuple[float, float]]:
        board = compute_leaderboard(table, LeaderboardOptions(filters=UNFILTERED, bootstrap_rounds=200, seed=seed))
        return [(row.score.lower, row.score.upper) for row in board.rows]

    assert bounds(1) == bounds(1)
    assert bounds(1) != bounds(2)


def test_sandwich_and_bootstrap_intervals_roughly_agree():
    _, table = simulated(n_models=8, n_battles=8000, seed=9)
    boot = compute_leaderboard(table, LeaderboardOptions(filters=UNFILTERED, bootstrap_rounds=400))
    sandwich = compute_leaderboard(table, LeaderboardOptions(filters=UNFILTERED, intervals="sandwich"))
    assert leaderboard_ratings(boot) == pytest.approx(leaderboard_ratings(sandwich))
    sandwich_rows = {row.model: row.score for row in sandwich.rows}
    for row in boot.rows:
        assert row.score.lower < row.score.rating < row.score.upper
        width = row.score.upper - row.score.lower
        other = sandwich_rows[row.model].upper - sandwich_rows[row.model].lower
        assert width == pytest.approx(other, rel=0.25)


def test_a_model_that_never_lost_gets_a_finite_rating():
    table = battles_table([("a", "b", "model_a")] * 5 + [("b", "c", "model_a")] * 6 + [("c", "b", "model_a")] * 4)
    board = compute_leaderboard(table, LeaderboardOptions(filters=UNFILTERED, bootstrap_rounds=50))
    got = leaderboard_ratings(board)
    assert all(math.isfinite(value) for value in got.values())
    assert board.rows[0].model == "a" and got["a"] > got["b"] + 1000


def test_disconnected_models_are_refused():
    table = battles_table([("a", "b", "model_a"), ("c", "d", "model_b")])
    with pytest.raises(RatingError, match="2 groups of models that never met"):
        compute_leaderboard(table, LeaderboardOptions(filters=UNFILTERED))


def test_rank_counts_models_whose_lower_bound_clears_my_upper_bound():
    lower = np.array([1100.0, 1090.0, 1040.0, 1000.0])
    upper = np.array([1150.0, 1120.0, 1095.0, 1045.0])
    assert ratings.upper_bound_rank(lower, upper).tolist() == [1, 1, 2, 3]
    touching = ratings.upper_bound_rank(np.array([1100.0, 1050.0]), np.array([1150.0, 1100.0]))
    assert touching.tolist() == [1, 1]  # a lower bound equal to my upper bound does not outrank me


# ---------------------------------------------------------------------------------------------------
# Filters


def test_filters_drop_and_count_each_reason():
    day = [
        "2024-06-01",
        "2024-06-01",
        "2024-06-02",
        "2024-06-03",
        "2024-06-03",
        "2024-06-03",
        "2024-06-03",
        "2024-06-02",
    ]
    table = battles_table(
        [
            ("a", "b", "model_a"),
            ("a", "b", "model_a"),
            ("a", "a", "model_a"),
            ("a", "b", "tie"),
            ("a", "b", "model_b"),
            ("b", "a", "model_b"),
            ("b", "a", "model_a"),
            ("b", "a", "model_b"),
        ],
        anony=[False, True, True, True, True, True, True, True],
        dedup_tag=[{"high_freq": True, "sampled": True}, {"high_freq": True, "sampled": False}]
        + [{"high_freq": False, "sampled": True}] * 6,
        language=["English"] * 6 + ["German", "English"],
        day=day,
        judge=["j1"] * 8,
    )
    filters = RatingFilters(
        languages=frozenset({"English"}), since=dt.date(2024, 6, 2), include_ties=False, daily_vote_cap=1
    )
    prepared = ratings.prepare_battles(table, filters)
    assert prepared.dropped == {
        "same model on both sides": 1,
        "named (not anonymous) battle": 1,
        "not in the dedup sample": 1,
        "language not selected": 1,
        "outside the date window": 0,
        "tie excluded": 1,
        "vote without a judge (daily cap)": 0,
        "over the daily vote cap": 1,
    }
    # kept: j1's first vote on 06-02 (row 7) and first non-tie vote on 06-03 (row 4)
    assert prepared.table["tstamp"].to_pylist() == [T0 + 240, T0 + 420]
    assert sum(prepared.dropped.values()) + len(prepared.table) == len(table)


def test_date_window_and_cap_use_tstamp_when_there_is_no_day_column():
    day_seconds = 86_400
    table = battles_table(
        [("a", "b", "model_a")] * 5,
        tstamp=[T0, T0 + 10, T0 + 5, T0 + day_seconds, T0 + 3 * day_seconds],
        judge=["j1", "j1", "j1", "j1", None],
    )
    windowed = ratings.prepare_battles(table, RatingFilters(until=dt.date(2024, 6, 2)))
    assert windowed.dropped["outside the date window"] == 1
    capped = ratings.prepare_battles(table, RatingFilters(daily_vote_cap=2))
    assert capped.dropped["vote without a judge (daily cap)"] == 1
    assert capped.dropped["over the daily vote cap"] == 1
    assert sorted(capped.table["tstamp"].to_pylist()) == [T0, T0 + 5, T0 + day_seconds]  # the later vote went


def test_missing_columns_and_bad_values_are_clear_errors():
    bare = pa.table({"model_a": ["a"], "model_b": ["b"], "winner": ["model_a"], "tstamp": [T0]})
    with pytest.raises(RatingError, match=r"anony \(for the anonymous-only filter\).*dedup_tag"):
        ratings.prepare_battles(bare, RatingFilters())
    assert len(ratings.prepare_battles(bare, UNFILTERED).table) == 1
    with pytest.raises(RatingError, match=r"judge \(for the daily vote cap\)"):
        ratings.prepare_battles(bare, RatingFilters(anonymous_only=False, sampled_only=False, daily_vote_cap=3))
    with pytest.raises(RatingError, match="unknown value.*'leftvote'"):
        ratings.prepare_battles(battles_table([("a", "b", "leftvote")]), UNFILTERED)
    with pytest.raises(RatingError, match="model_b has 1 null"):
        ratings.prepare_battles(battles_table([("a", "b", "model_a"), ("a", None, "model_a")]), UNFILTERED)
    with pytest.raises(RatingError, match="no battles left to rate"):
        compute_leaderboard(battles_table([("a", "b", "model_a")], anony=[False]))
    with pytest.raises(RatingError, match="daily_vote_cap must be at least 1"):
        RatingFilters(daily_vote_cap=0)


def test_rates_the_pipeline_battles_schema():
    table = make_battles(400, seed=2)
    board = compute_leaderboard(table, LeaderboardOptions(bootstrap_rounds=100))
    assert set(board.models) == set(LEADERBOARD + UNRELEASED)
    assert board.battles_used == 400
    assert sum(row.battles for row in board.rows) == 2 * 400


# ---------------------------------------------------------------------------------------------------
# Publication


def test_restricted_leaderboard_never_names_other_models_but_their_battles_count():
    table = make_battles(600, seed=4)
    board = compute_leaderboard(table, LeaderboardOptions(bootstrap_rounds=100))
    published = board.restricted_to(LEADERBOARD)
    text = json.dumps(published.to_json_dict())
    assert set(published.to_json_dict()) == set(LEADERBOARD)
    assert not any(hidden in text for hidden in UNRELEASED)
    assert published.win_fraction.shape == published.battle_counts.shape == (len(LEADERBOARD), len(LEADERBOARD))
    full = leaderboard_ratings(board)
    assert all(full[model] == rating for model, rating in leaderboard_ratings(published).items())
    without_hidden = table.filter(
        np.array(
            [
                a in LEADERBOARD and b in LEADERBOARD
                for a, b in zip(table["model_a"].to_pylist(), table["model_b"].to_pylist(), strict=True)
            ]
        )
    )
    alone = leaderboard_ratings(compute_leaderboard(without_hidden, LeaderboardOptions(intervals="sandwich")))
    assert any(abs(alone[model] - full[model]) > 1e-6 for model in LEADERBOARD)
    ranks = [row.score.rank for row in published.rows]
    assert ranks[0] == 1 and max(ranks) <= len(LEADERBOARD)
    for png in (rating_plots.ratings_png(published), rating_plots.win_fraction_png(published)):
        assert not any(hidden.encode() in png for hidden in UNRELEASED)


def test_restricting_recomputes_ranks_among_the_published():
    table = battles_table(
        [("top", "mid", "model_a")] * 60
        + [("mid", "low", "model_a")] * 60
        + [("top", "low", "model_a")] * 55
        + [("low", "top", "model_a")] * 5
    )
    board = compute_leaderboard(table, LeaderboardOptions(filters=UNFILTERED, intervals="sandwich"))
    assert [row.score.rank for row in board.rows] == [1, 2, 3]
    published = board.restricted_to({"mid", "low"})
    assert [(row.model, row.score.rank) for row in published.rows] == [("mid", 1), ("low", 2)]


# ---------------------------------------------------------------------------------------------------
# Style control


def test_style_control_separates_verbosity_from_strength():
    """Three equally strong models; voters prefer the longer answer, and one model is always longer."""
    rng = np.random.default_rng(0)
    names = ["verbose", "plain-1", "plain-2"]
    matches, metadata = [], []
    for _ in range(3000):
        a, b = rng.choice(3, 2, replace=False)
        tokens = {i: int(rng.integers(100, 300)) + (600 if names[i] == "verbose" else 0) for i in (a, b)}
        length_edge = (tokens[a] - tokens[b]) / (tokens[a] + tokens[b] + 1)
        a_wins = rng.random() < 1.0 / (1.0 + math.exp(-2.0 * length_edge))
        matches.append((names[a], names[b], "model_a" if a_wins else "model_b"))
        metadata.append(
            {
                "sum_assistant_a_tokens": tokens[a],
                "sum_assistant_b_tokens": tokens[b],
                "header_count_a": 0,
                "header_count_b": 0,
                "list_count_a": 1,
                "list_count_b": 1,
                "bold_count_a": int(rng.integers(3)),
                "bold_count_b": int(rng.integers(3)),
            }
        )
    table = battles_table(matches, conv_metadata=metadata)
    board = compute_leaderboard(table, LeaderboardOptions(filters=UNFILTERED, intervals="sandwich", style_control=True))
    rows = {row.model: row for row in board.rows}
    assert rows["verbose"].score.rating - rows["plain-1"].score.rating > 60
    assert abs(rows["verbose"].style.rating - rows["plain-1"].style.rating) < 25
    assert board.style_coefficients["length"] > 0.3
    assert abs(board.style_coefficients["bold"]) < 0.1
    assert "style_control" in board.to_json_dict()["verbose"]


def test_style_control_needs_metadata_on_every_battle():
    table = battles_table([("a", "b", "model_a")] * 2, conv_metadata=[None, None])
    with pytest.raises(RatingError, match="conv_metadata on every battle; 2 lack it"):
        compute_leaderboard(table, LeaderboardOptions(filters=UNFILTERED, style_control=True))


# ---------------------------------------------------------------------------------------------------
# Plots


def test_plots_are_png_files(tmp_path):
    _, table = simulated(n_models=5, n_battles=500, seed=1)
    board = compute_leaderboard(table, LeaderboardOptions(filters=UNFILTERED, intervals="sandwich"))
    paths = rating_plots.write_plots(board, tmp_path / "plots")
    assert set(paths) == {"ratings", "win_fraction", "battle_counts"}
    for path in paths.values():
        assert path.read_bytes().startswith(b"\x89PNG\r\n\x1a\n")
    assert rating_plots.battle_count_png(board) == paths["battle_counts"].read_bytes()  # deterministic


# ---------------------------------------------------------------------------------------------------
# CLI


def ratings_cli(*argv: str) -> int:
    parser = argparse.ArgumentParser(prog="arena-release")
    ratings_command.register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["ratings", *argv])
    return args.func(args)


def tiny_battles() -> pa.Table:
    return battles_table(
        [("alpha", "beta", "model_a")] * 12
        + [("beta", "gamma", "model_a")] * 10
        + [("gamma", "alpha", "tie")] * 4
        + [("alpha", "gamma", "model_b")] * 3
        + [("beta", "alpha", "model_a")] * 5
    )


def test_cli_json_on_parquet(tmp_path, capsys):
    path = tmp_path / "battles.parquet"
    pq.write_table(tiny_battles(), path)
    assert ratings_cli(str(path), "--json", "--bootstrap", "200", "--plots", str(tmp_path / "plots")) == 0
    printed = json.loads(capsys.readouterr().out)
    assert list(printed) == ["alpha", "beta", "gamma"]
    for entry in printed.values():
        assert set(entry) == {"rating", "lower", "upper", "rank", "battles"}
        assert entry["lower"] <= entry["rating"] <= entry["upper"]
    assert printed["alpha"]["battles"] == 24
    assert (tmp_path / "plots" / "win_fraction.png").exists()


def test_cli_json_on_a_fastchat_json_array_with_nested_style_counts(tmp_path, capsys):
    rows = tiny_battles().to_pylist()
    for row in rows:  # FastChat's public file: no dedup_tag, markdown counts nested by kind
        del row["dedup_tag"]
        row["conv_metadata"] = {
            "sum_assistant_a_tokens": 120,
            "sum_assistant_b_tokens": 80,
            "header_count_a": {"h1": 1, "h2": 0},
            "header_count_b": {"h1": 0, "h2": 0},
            "list_count_a": {"ordered": 2, "unordered": 1},
            "list_count_b": {"ordered": 0, "unordered": 0},
            "bold_count_a": {"**": 1, "__": 0},
            "bold_count_b": {"**": 0, "__": 0},
        }
    path = tmp_path / "clean_battle.json"
    path.write_text(json.dumps(rows))
    assert ratings_cli(str(path), "--json", "--sandwich", "--all-prompts", "--style-control", "--elo") == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["alpha"]["rank"] == 1
    assert set(printed["beta"]) == {"rating", "lower", "upper", "rank", "battles", "elo", "style_control"}


def test_cli_publishes_only_leaderboard_models(ingested, tmp_path, capsys):
    out_dir, _ = ingested
    allowed = tmp_path / "leaderboard.txt"
    allowed.write_text("# published models\n" + "\n".join(LEADERBOARD) + "\n")
    assert (
        ratings_cli(
            str(out_dir / "battles.parquet"),
            "--leaderboard-models",
            str(allowed),
            "--bootstrap",
            "100",
            "--style-control",
        )
        == 0
    )
    out = capsys.readouterr().out
    assert "gpt-4-0613" in out
    assert not any(hidden in out for hidden in UNRELEASED)
    assert "battles rated; intervals by bootstrap (100 rounds)" in out


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda d: d / "missing.parquet", "battles file not found"),
        (lambda d: _write(d / "x.csv", "model_a\n"), "must be a .parquet file or a .json array"),
        (lambda d: _write(d / "broken.parquet", "not parquet"), "cannot read"),
        (lambda d: _write(d / "empty.json", "[]"), "holds no battle records"),
        (lambda d: _write(d / "object.json", '{"model_a": "x"}'), "cannot read"),
        (
            lambda d: _parquet(d / "nowinner.parquet", pa.table({"model_a": ["x"], "model_b": ["y"]})),
            "lack column(s): winner",
        ),
        (lambda d: _parquet(d / "empty.parquet", tiny_battles().slice(0, 0)), "no battles in"),
        (
            lambda d: _parquet(d / "named.parquet", tiny_battles().set_column(4, "anony", pa.array([False] * 34))),
            "no battles left to rate after filters (dropped: named (not anonymous) battle: 34)",
        ),
    ],
)
def test_cli_bad_input_is_one_line_and_exit_2(tmp_path, capsys, make, message):
    assert ratings_cli(str(make(tmp_path))) == 2
    err = capsys.readouterr().err
    assert message in err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1


def _write(path, text: str):
    path.write_text(text)
    return path


def _parquet(path, table: pa.Table):
    pq.write_table(table, path)
    return path
