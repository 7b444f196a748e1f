"""Leaderboard ratings from cleaned battles (REFERENCE §5): Elo, Bradley–Terry, intervals, style control.

Pure functions over a pyarrow Table of battles: no Dagster, no file IO. Battles are encoded once into
integer arrays and collapsed to unique (pair, outcome) cells with counts: two million battles among a
hundred models become about fifteen thousand cells, which the bootstrap resamples, and five thousand
model pairs, on which Bradley–Terry is fitted. All fits share one batched Newton solver, which fits
bootstrap rounds a chunk at a time.

Ratings are natural log-odds strengths θ shown on the Elo scale: rating = scale·θ/ln(base) + initial,
with θ centred on mean zero (as FastChat's fit from zero), or shifted so an anchor model has a fixed score.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from typing import Literal

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import scipy.sparse as sp
from scipy.sparse.csgraph import connected_components
from scipy.special import expit
from scipy.stats import norm
from threadpoolctl import threadpool_limits

# Columns read from the battles table; the first four are required, the others only by the options using them.
REQUIRED_COLUMNS = ("model_a", "model_b", "winner", "tstamp")
RATING_COLUMNS = (
    *REQUIRED_COLUMNS,
    "anony",
    "judge",
    "language",
    "day",
    "dedup_tag",
    "conv_metadata",
)

# Winner value -> outcome code for model_a: 2 = win, 1 = tie (both kinds), 0 = loss. Outcome = code / 2.
WINNER_CODES = {"model_a": 2, "model_b": 0, "tie": 1, "tie (bothbad)": 1}
TIE_WINNERS = ("tie", "tie (bothbad)")

# Style-control features: (name, conv_metadata field of side a, field of side b) (FastChat's V1 set).
STYLE_FEATURES = (
    ("length", "sum_assistant_a_tokens", "sum_assistant_b_tokens"),
    ("headers", "header_count_a", "header_count_b"),
    ("lists", "list_count_a", "list_count_b"),
    ("bold", "bold_count_a", "bold_count_b"),
)

SECONDS_PER_DAY = 86_400
EPOCH = dt.date(1970, 1, 1)


class RatingError(ValueError):
    """Battles or options that cannot be rated as asked: the message says what to change."""


# ---------------------------------------------------------------------------------------------------
# Configuration


@dataclass(frozen=True)
class RatingFilters:
    """Which battles count. Defaults follow the public leaderboard: anonymous, dedup-sampled, ties kept."""

    anonymous_only: bool = True
    sampled_only: bool = True
    languages: frozenset[str] | None = None
    since: dt.date | None = None
    until: dt.date | None = None
    include_ties: bool = True
    daily_vote_cap: int | None = None

    def __post_init__(self) -> None:
        if self.languages is not None and not self.languages:
            raise RatingError("languages filter is empty: pass None to keep every language")
        if self.since and self.until and self.since > self.until:
            raise RatingError(f"date window is empty: since {self.since} is after until {self.until}")
        if self.daily_vote_cap is not None and self.daily_vote_cap < 1:
            raise RatingError(f"daily_vote_cap must be at least 1, got {self.daily_vote_cap}")


@dataclass(frozen=True)
class RatingScale:
    """Display scale: rating = scale·θ/ln(base) + initial (Elo's conventions)."""

    base: float = 10.0
    scale: float = 400.0
    initial: float = 1000.0

    def __post_init__(self) -> None:
        if self.base <= 1 or self.scale <= 0:
            raise RatingError(f"rating scale needs base > 1 and scale > 0, got {self.base}, {self.scale}")

    @property
    def points_per_unit(self) -> float:
        """Rating points per natural log-odds unit."""
        return self.scale / math.log(self.base)


@dataclass(frozen=True)
class Anchor:
    """Pin one model's score (FastChat pins mixtral-8x7b-instruct-v0.1 at 1114)."""

    model: str
    rating: float


IntervalMethod = Literal["bootstrap", "sandwich"]


@dataclass(frozen=True)
class LeaderboardOptions:
    filters: RatingFilters = field(default_factory=RatingFilters)
    intervals: IntervalMethod = "bootstrap"
    bootstrap_rounds: int = 1000
    seed: int = 0
    confidence: float = 0.95
    anchor: Anchor | None = None
    scale: RatingScale = field(default_factory=RatingScale)
    style_control: bool = False
    elo: bool = False
    elo_k: float = 4.0

    def __post_init__(self) -> None:
        if self.intervals not in ("bootstrap", "sandwich"):
            raise RatingError(f"intervals must be 'bootstrap' or 'sandwich', got {self.intervals!r}")
        if self.bootstrap_rounds < 2:
            raise RatingError(f"bootstrap_rounds must be at least 2, got {self.bootstrap_rounds}")
        if not 0 < self.confidence < 1:
            raise RatingError(f"confidence must be in (0, 1), got {self.confidence}")
        if self.elo_k <= 0:
            raise RatingError(f"elo_k must be positive, got {self.elo_k}")


# ---------------------------------------------------------------------------------------------------
# Filtering and encoding


@dataclass(frozen=True)
class PreparedBattles:
    """Battles kept for rating, and how many were dropped by each filter (in the order applied)."""

    table: pa.Table
    dropped: dict[str, int]


def prepare_battles(table: pa.Table, filters: RatingFilters) -> PreparedBattles:
    """Validate the battles table and apply the filters; every dropped battle is counted under a reason.

    Filters build one mask (each counted on the battles the earlier ones kept), applied once at the end.
    """
    _check_columns(table, filters)
    table = table.select([name for name in RATING_COLUMNS if name in table.column_names])
    _check_values(table)
    kept = np.ones(len(table), dtype=bool)
    dropped: dict[str, int] = {}

    def keep(reason: str, condition: pa.ChunkedArray | np.ndarray) -> None:
        nonlocal kept
        if not isinstance(condition, np.ndarray):
            condition = pc.fill_null(condition, False).to_numpy(zero_copy_only=False)
        dropped[reason] = int(np.count_nonzero(kept & ~condition))
        kept &= condition

    keep("same model on both sides", pc.not_equal(table["model_a"], table["model_b"]))
    if filters.anonymous_only:
        keep("named (not anonymous) battle", pc.equal(table["anony"], True))
    if filters.sampled_only:
        keep("not in the dedup sample", pc.struct_field(table["dedup_tag"], "sampled"))
    if filters.languages is not None:
        keep("language not selected", pc.is_in(table["language"], pa.array(sorted(filters.languages))))
    if filters.since or filters.until:
        day = battle_days(table)
        since = (filters.since - EPOCH).days if filters.since else day.min()
        until = (filters.until - EPOCH).days if filters.until else day.max()
        keep("outside the date window", (day >= since) & (day <= until))
    if not filters.include_ties:
        keep("tie excluded", pc.invert(pc.is_in(table["winner"], pa.array(TIE_WINNERS))))
    if filters.daily_vote_cap is not None:
        keep("vote without a judge (daily cap)", pc.is_valid(table["judge"]))
        keep("over the daily vote cap", _within_daily_cap(table, kept, filters.daily_vote_cap))
    return PreparedBattles(table=table if kept.all() else table.filter(kept), dropped=dropped)


def _check_columns(table: pa.Table, filters: RatingFilters) -> None:
    needed = dict.fromkeys(REQUIRED_COLUMNS, "every rating")
    if filters.anonymous_only:
        needed["anony"] = "the anonymous-only filter"
    if filters.sampled_only:
        needed["dedup_tag"] = "the dedup-sample filter"
    if filters.languages is not None:
        needed["language"] = "the language filter"
    if filters.daily_vote_cap is not None:
        needed["judge"] = "the daily vote cap"
    missing = [f"{name} (for {use})" for name, use in needed.items() if name not in table.column_names]
    if missing:
        raise RatingError(f"battles lack column(s): {', '.join(missing)}")
    if filters.sampled_only and not _has_field(table.schema.field("dedup_tag").type, "sampled"):
        raise RatingError("battles column dedup_tag has no 'sampled' field (for the dedup-sample filter)")


def _has_field(data_type: pa.DataType, name: str) -> bool:
    return pa.types.is_struct(data_type) and data_type.get_field_index(name) >= 0


def _check_values(table: pa.Table) -> None:
    for name in ("model_a", "model_b", "winner"):
        if not pa.types.is_string(table[name].type) and not pa.types.is_large_string(table[name].type):
            raise RatingError(f"battles column {name} must hold strings, not {table[name].type}")
        if table[name].null_count:
            raise RatingError(f"battles column {name} has {table[name].null_count} null value(s)")
    if not pa.types.is_floating(table["tstamp"].type) and not pa.types.is_integer(table["tstamp"].type):
        raise RatingError(f"battles column tstamp must be numeric, not {table['tstamp'].type}")
    if table["tstamp"].null_count:
        raise RatingError(f"battles column tstamp has {table['tstamp'].null_count} null value(s)")
    unknown = pc.unique(table["winner"].filter(pc.invert(pc.is_in(table["winner"], pa.array(list(WINNER_CODES))))))
    if len(unknown):
        shown = ", ".join(repr(value) for value in unknown.to_pylist()[:5])
        raise RatingError(f"battles column winner has unknown value(s) {shown}; expected {sorted(WINNER_CODES)}")


def battle_days(table: pa.Table) -> np.ndarray:
    """Day number (days since 1970-01-01) of each battle: the `day` column where set, else tstamp's UTC date."""
    from_tstamp = np.floor(_float_column(table, "tstamp") / SECONDS_PER_DAY)
    if "day" not in table.column_names:
        return from_tstamp.astype(np.int64)
    day = table["day"]
    if not pa.types.is_date(day.type):  # a JSON reader may already have parsed the dates
        day = pc.strptime(day, format="%Y-%m-%d", unit="s", error_is_null=True)
    parsed = pc.cast(day, pa.date32())
    from_day = pc.cast(parsed, pa.int32()).to_numpy(zero_copy_only=False)
    return np.where(np.isnan(from_day), from_tstamp, from_day).astype(np.int64)


def _float_column(table: pa.Table, name: str) -> np.ndarray:
    return pc.cast(table[name], pa.float64()).to_numpy(zero_copy_only=False)


def _within_daily_cap(table: pa.Table, kept: np.ndarray, cap: int) -> np.ndarray:
    """False for kept votes beyond a judge's first `cap` of a day (by tstamp, then row order)."""
    rows = np.flatnonzero(kept)
    judge = pc.dictionary_encode(table["judge"]).combine_chunks().indices.to_numpy(zero_copy_only=False)[rows]
    day = battle_days(table)[rows]
    order = np.lexsort((_float_column(table, "tstamp")[rows], day, judge))
    judge, day = judge[order], day[order]
    starts = np.ones(len(order), dtype=bool)
    starts[1:] = (judge[1:] != judge[:-1]) | (day[1:] != day[:-1])
    positions = np.arange(len(order))
    position_in_group = positions - np.maximum.accumulate(np.where(starts, positions, 0))
    within = np.ones(len(table), dtype=bool)
    within[rows[order]] = position_in_group < cap
    return within


@dataclass(frozen=True)
class EncodedBattles:
    """Battles as integer arrays in timestamp order; outcome codes: 2 = model_a won, 1 = tie, 0 = model_b won."""

    models: tuple[str, ...]
    model_a: np.ndarray
    model_b: np.ndarray
    outcome_code: np.ndarray
    order: np.ndarray  # row of the prepared table behind each encoded battle

    def __len__(self) -> int:
        return len(self.outcome_code)


def encode_battles(table: pa.Table) -> EncodedBattles:
    """Model names to sorted indices, winners to outcome codes, rows sorted by tstamp (stable)."""
    sides = pa.chunked_array(
        [chunk.cast(pa.string()) for name in ("model_a", "model_b") for chunk in table[name].chunks],
        type=pa.string(),
    )
    models = pc.unique(sides).sort()
    order = np.argsort(_float_column(table, "tstamp"), kind="stable")

    def indices(values: pa.ChunkedArray, value_set: pa.Array) -> np.ndarray:
        found = pc.index_in(pc.cast(values, pa.string()), value_set=value_set)
        return found.to_numpy(zero_copy_only=False)[order]

    winner_set = pa.array(list(WINNER_CODES))
    codes = np.array(list(WINNER_CODES.values()), dtype=np.int8)
    return EncodedBattles(
        models=tuple(models.to_pylist()),
        model_a=indices(table["model_a"], models).astype(np.int32),
        model_b=indices(table["model_b"], models).astype(np.int32),
        outcome_code=codes[indices(table["winner"], winner_set)],
        order=order,
    )


# ---------------------------------------------------------------------------------------------------
# Elo


def elo_ratings(battles: EncodedBattles, k: float = 4.0, scale: RatingScale | None = None) -> np.ndarray:
    """Online Elo in timestamp order: p = 1/(1 + base^((rb - ra)/scale)), both sides move by k·(outcome - p)."""
    scale = scale or RatingScale()
    alpha = math.log(scale.base) / scale.scale
    ratings = [scale.initial] * len(battles.models)
    outcomes = (battles.outcome_code / 2.0).tolist()
    for a, b, outcome in zip(battles.model_a.tolist(), battles.model_b.tolist(), outcomes, strict=True):
        expected = 1.0 / (1.0 + math.exp(alpha * (ratings[b] - ratings[a])))
        update = k * (outcome - expected)
        ratings[a] += update
        ratings[b] -= update
    return np.array(ratings)


# ---------------------------------------------------------------------------------------------------
# Pairwise logistic models (Bradley–Terry, with or without per-battle features)


@dataclass(frozen=True)
class PairwiseDesign:
    """Rows of battles between `first` and `second`, summarized by sufficient statistics.

    A row holds `counts` battles with outcomes y for `first` (1 win, 1/2 tie, 0 loss): `wins` = Σy and
    `squares` = Σy². Every battle of a row has the logit θ[first] - θ[second] + features·β, so
    Σ_rows counts·softplus(logit) - wins·logit + ½·l2·‖(θ, β)‖² is the battle-level log-loss.
    Bradley–Terry rows are model pairs; style-control rows are single battles.
    """

    n_models: int
    first: np.ndarray
    second: np.ndarray
    counts: np.ndarray
    wins: np.ndarray
    squares: np.ndarray
    features: np.ndarray
    l2: float

    @property
    def n_params(self) -> int:
        return self.n_models + self.features.shape[1]


# A vanishing ridge for plain Bradley–Terry: keeps a model that never lost (or never won) finite and
# moves well-posed ratings by far less than a hundredth of a point.
BT_RIDGE = 1e-6
# FastChat's style control: L2 penalty 0.5 on all parameters of the summed log-loss.
STYLE_L2 = 0.5


@dataclass(frozen=True)
class OutcomeCells:
    """Battles collapsed to unique (unordered pair, outcome) cells with counts: what the bootstrap resamples.

    Bradley–Terry has no side advantage, so (a, b, win) and (b, a, loss) are one cell, stored with the
    lower model index first; `pair` numbers the cell's model pair (pairs in `pairs`, ascending).
    """

    n_models: int
    pairs: np.ndarray
    pair: np.ndarray
    outcome: np.ndarray
    counts: np.ndarray

    def pair_sums(self, counts: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Per pair: battles, Σy and Σy², for each row of cell `counts` (batch, cells)."""
        to_pair = sp.csr_matrix(
            (np.ones(len(self.pair)), (np.arange(len(self.pair)), self.pair)), shape=(len(self.pair), len(self.pairs))
        )
        totals = to_pair.T @ counts.T
        wins = to_pair.T @ (counts * self.outcome).T
        squares = to_pair.T @ (counts * self.outcome**2).T
        return totals.T, wins.T, squares.T


def collapse_battles(battles: EncodedBattles) -> OutcomeCells:
    """Count battles per (unordered pair, outcome) cell: 2M battles among 100 models fit in 15k cells."""
    n = len(battles.models)
    swap = battles.model_a > battles.model_b
    low = np.where(swap, battles.model_b, battles.model_a).astype(np.int64)
    high = np.where(swap, battles.model_a, battles.model_b).astype(np.int64)
    code = np.where(swap, 2 - battles.outcome_code, battles.outcome_code).astype(np.int64)
    cell_counts = np.bincount((low * n + high) * 3 + code, minlength=n * n * 3)
    cells = np.flatnonzero(cell_counts)
    pair_keys, code = np.divmod(cells, 3)
    unique_keys, pair = np.unique(pair_keys, return_inverse=True)
    return OutcomeCells(
        n_models=n,
        pairs=np.column_stack(np.divmod(unique_keys, n)).astype(np.int32),
        pair=pair,
        outcome=code / 2.0,
        counts=cell_counts[cells].astype(np.float64),
    )


def bt_design(cells: OutcomeCells, ridge: float = BT_RIDGE) -> PairwiseDesign:
    """The Bradley–Terry design: one row per model pair, from the cells' counts."""
    totals, wins, squares = cells.pair_sums(cells.counts[None, :])
    return PairwiseDesign(
        n_models=cells.n_models,
        first=cells.pairs[:, 0],
        second=cells.pairs[:, 1],
        counts=totals[0],
        wins=wins[0],
        squares=squares[0],
        features=np.zeros((len(cells.pairs), 0)),
        l2=ridge,
    )


@dataclass(frozen=True)
class _Incidence:
    """Sparse maps from design rows to parameters, built once per fit."""

    signed: sp.csr_matrix  # rows x models: +1 at first, -1 at second
    pair_of_row: sp.csr_matrix  # rows x pairs: 1 at the row's unordered pair
    pairs: np.ndarray  # pairs x 2: (low, high) model indices

    @classmethod
    def of(cls, design: PairwiseDesign) -> _Incidence:
        rows = len(design.first)
        row_index = np.arange(rows)
        signed = sp.csr_matrix(
            (
                np.concatenate([np.ones(rows), -np.ones(rows)]),
                (np.concatenate([row_index, row_index]), np.concatenate([design.first, design.second])),
            ),
            shape=(rows, design.n_models),
        )
        low = np.minimum(design.first, design.second).astype(np.int64)
        high = np.maximum(design.first, design.second).astype(np.int64)
        keys, pair_index = np.unique(low * design.n_models + high, return_inverse=True)
        pair_of_row = sp.csr_matrix((np.ones(rows), (row_index, pair_index)), shape=(rows, len(keys)))
        pairs = np.column_stack(np.divmod(keys, design.n_models))
        return cls(signed=signed, pair_of_row=pair_of_row, pairs=pairs)


def _logits(design: PairwiseDesign, params: np.ndarray) -> np.ndarray:
    ratings = params[:, : design.n_models]
    logits = ratings[:, design.first] - ratings[:, design.second]
    if design.features.shape[1]:
        logits += params[:, design.n_models :] @ design.features.T
    return logits


def _curvature(design: PairwiseDesign, incidence: _Incidence, row_weights: np.ndarray) -> np.ndarray:
    """Σ_rows w·x xᵀ for each batch, where x = (e_first - e_second, features): shape (batch, params, params)."""
    batch, n = row_weights.shape[0], design.n_models
    matrix = np.zeros((batch, design.n_params, design.n_params))
    per_pair = (incidence.pair_of_row.T @ row_weights.T).T
    low, high = incidence.pairs[:, 0], incidence.pairs[:, 1]
    matrix[:, low, high] = -per_pair
    matrix[:, high, low] = -per_pair
    diagonal = np.arange(n)
    matrix[:, diagonal, diagonal] = -matrix[:, :n, :n].sum(axis=2)
    if design.features.shape[1]:
        for b in range(batch):
            weighted = design.features * row_weights[b][:, None]
            cross = incidence.signed.T @ weighted
            matrix[b, :n, n:] = cross
            matrix[b, n:, :n] = cross.T
            matrix[b, n:, n:] = design.features.T @ weighted
    return matrix


def _gauge(design: PairwiseDesign, hessian: np.ndarray) -> np.ndarray:
    """Add c·uuᵀ along the shift of all ratings (u), which the data cannot see.

    Gradients never point along u, so Newton steps keep Σθ = 0 and the system stays well conditioned;
    the sandwich H⁻¹GH⁻¹ is unchanged because G·u = 0.
    """
    n = design.n_models
    level = np.abs(hessian[:, np.arange(n), np.arange(n)]).mean(axis=1) + 1.0
    gauged = hessian.copy()
    gauged[:, :n, :n] += level[:, None, None] / n
    return gauged


def _objective(
    design: PairwiseDesign, incidence: _Incidence, params: np.ndarray, counts: np.ndarray, wins: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Loss, gradient and (gauged) Hessian for a batch of parameters and row statistics (batch, rows)."""
    logits = _logits(design, params)
    probs = expit(logits)
    loss = (counts * np.logaddexp(0.0, logits) - wins * logits).sum(axis=1)
    loss += 0.5 * design.l2 * (params**2).sum(axis=1)
    residual = counts * probs - wins
    grad = np.empty_like(params)
    grad[:, : design.n_models] = (incidence.signed.T @ residual.T).T
    grad[:, design.n_models :] = residual @ design.features
    grad += design.l2 * params
    return loss, grad, _hessian(design, incidence, counts * probs * (1.0 - probs))


def _hessian(design: PairwiseDesign, incidence: _Incidence, row_curvature: np.ndarray) -> np.ndarray:
    hessian = _curvature(design, incidence, row_curvature)
    hessian[:, np.arange(design.n_params), np.arange(design.n_params)] += design.l2
    return _gauge(design, hessian)


def _newton(
    objective: Callable[[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray, np.ndarray]],
    start: np.ndarray,
    tolerance: float = 1e-9,
    max_iterations: int = 200,
) -> np.ndarray:
    """Minimize a batch of convex objectives by Newton's method with step halving.

    `objective(params, batch_rows)` evaluates the rows `batch_rows` of the batch. Rows leave the
    batch as they converge, so one slow row (a model that never lost) does not slow the others.
    """
    params = start.copy()
    active = np.arange(len(params))
    loss, grad, hessian = objective(params, active)
    for _ in range(max_iterations):
        step = np.linalg.solve(hessian, grad[..., None])[..., 0]
        scale = np.ones(len(active))
        while True:
            trial = params[active] - scale[:, None] * step
            trial_loss, trial_grad, trial_hessian = objective(trial, active)
            worse = trial_loss > loss + 1e-12 * np.abs(loss)
            if not worse.any() or scale.min() < 1e-12:
                break
            scale[worse] /= 2
        params[active] = trial
        moving = np.abs(scale[:, None] * step).max(axis=1) > tolerance
        active = active[moving]
        if not len(active):
            return params
        loss, grad, hessian = trial_loss[moving], trial_grad[moving], trial_hessian[moving]
    raise RuntimeError(f"rating fit did not converge in {max_iterations} Newton steps")


def fit_pairwise(
    design: PairwiseDesign,
    counts: np.ndarray | None = None,
    wins: np.ndarray | None = None,
    start: np.ndarray | None = None,
) -> np.ndarray:
    """Parameters (θ, β) minimizing the loss: one row per row of `counts`/`wins` (default: the design's)."""
    counts = design.counts[None, :] if counts is None else counts
    wins = design.wins[None, :] if wins is None else wins
    shape = (len(counts), design.n_params)
    start = np.zeros(shape) if start is None else np.broadcast_to(start, shape)
    incidence = _Incidence.of(design)
    # Many small solves: BLAS threads only contend (measured 100x slower on a busy 2-core machine).
    with threadpool_limits(limits=1, user_api="blas"):
        return _newton(lambda params, rows: _objective(design, incidence, params, counts[rows], wins[rows]), start)


def _to_scale(theta: np.ndarray, scale: RatingScale, anchor_index: int | None, anchor_rating: float) -> np.ndarray:
    """Natural strengths (…, models) to displayed ratings, pinned at the anchor when one is given."""
    if anchor_index is None:
        return scale.initial + scale.points_per_unit * theta
    return anchor_rating + scale.points_per_unit * (theta - theta[..., anchor_index : anchor_index + 1])


@dataclass(frozen=True)
class Ratings:
    """Point ratings with lower/upper interval bounds, on the display scale, in model-index order."""

    rating: np.ndarray
    lower: np.ndarray
    upper: np.ndarray

    @property
    def rank(self) -> np.ndarray:
        return upper_bound_rank(self.lower, self.upper)


def upper_bound_rank(lower: np.ndarray, upper: np.ndarray) -> np.ndarray:
    """Rank = 1 + number of models whose lower bound is above this model's upper bound."""
    return 1 + (lower[None, :] > upper[:, None]).sum(axis=1)


def bradley_terry(
    design: PairwiseDesign,
    scale: RatingScale | None = None,
    anchor_index: int | None = None,
    anchor_rating: float = 0.0,
) -> np.ndarray:
    """Maximum-likelihood ratings (display scale) of the design's models."""
    theta = fit_pairwise(design)[0, : design.n_models]
    return _to_scale(theta, scale or RatingScale(), anchor_index, anchor_rating)


BOOTSTRAP_CHUNK = 125  # rounds fitted together: bounds memory (about 15 MB per array at 15k cells)


def bootstrap_intervals(
    cells: OutcomeCells,
    rounds: int,
    seed: int,
    confidence: float = 0.95,
    scale: RatingScale | None = None,
    anchor_index: int | None = None,
    anchor_rating: float = 0.0,
) -> Ratings:
    """MLE ratings with percentile intervals from a seeded multinomial bootstrap of the cell counts.

    Each round redraws all battles at once, cell counts ~ Multinomial(total, counts/total), and is
    fitted by Newton from the full-data fit, a chunk of rounds at a time; the anchor is pinned per round.
    """
    scale = scale or RatingScale()
    design = bt_design(cells)
    theta = fit_pairwise(design)[0]
    total = int(cells.counts.sum())
    rng = np.random.default_rng(seed)
    samples = []
    for first_round in range(0, rounds, BOOTSTRAP_CHUNK):
        size = min(BOOTSTRAP_CHUNK, rounds - first_round)
        drawn = rng.multinomial(total, cells.counts / total, size=size).astype(np.float64)
        counts, wins, _ = cells.pair_sums(drawn)
        fitted = fit_pairwise(design, counts, wins, start=theta)
        samples.append(_to_scale(fitted[:, : design.n_models], scale, anchor_index, anchor_rating))
    stacked = np.concatenate(samples)
    tail = (1.0 - confidence) / 2.0
    return Ratings(
        rating=_to_scale(theta[: design.n_models], scale, anchor_index, anchor_rating),
        lower=np.quantile(stacked, tail, axis=0),
        upper=np.quantile(stacked, 1.0 - tail, axis=0),
    )


def sandwich_intervals(
    design: PairwiseDesign,
    confidence: float = 0.95,
    scale: RatingScale | None = None,
    anchor_index: int | None = None,
    anchor_rating: float = 0.0,
    params: np.ndarray | None = None,
) -> Ratings:
    """MLE ratings with normal intervals from the sandwich covariance H⁻¹·G·H⁻¹.

    G is the covariance of the per-battle score vectors (y - p)·x: a row's battles contribute
    Σ(y - p)² = squares - 2p·wins + p²·counts. With an anchor, the interval is that of the difference
    to the anchor, so the anchor itself has width zero.
    """
    scale = scale or RatingScale()
    params = fit_pairwise(design)[0] if params is None else params
    incidence = _Incidence.of(design)
    probs = expit(_logits(design, params[None, :]))[0]
    residual = design.counts * probs - design.wins
    score_sum = np.concatenate([incidence.signed.T @ residual, residual @ design.features])
    squared_residual = design.squares - 2.0 * probs * design.wins + probs**2 * design.counts
    scores = _curvature(design, incidence, squared_residual[None, :])[0]
    scores -= np.outer(score_sum, score_sum) / design.counts.sum()
    hessian = _hessian(design, incidence, (design.counts * probs * (1.0 - probs))[None, :])
    inverse = np.linalg.inv(hessian[0])
    covariance = (inverse @ scores @ inverse)[: design.n_models, : design.n_models]
    variance = np.diag(covariance).copy()
    if anchor_index is not None:
        variance += covariance[anchor_index, anchor_index] - 2.0 * covariance[:, anchor_index]
    half_width = norm.ppf(0.5 + confidence / 2.0) * np.sqrt(np.clip(variance, 0.0, None))
    rating = _to_scale(params[: design.n_models], scale, anchor_index, anchor_rating)
    width = scale.points_per_unit * half_width
    return Ratings(rating=rating, lower=rating - width, upper=rating + width)


# ---------------------------------------------------------------------------------------------------
# Style control


def style_design(table: pa.Table, battles: EncodedBattles, l2: float = STYLE_L2) -> PairwiseDesign:
    """One row per battle with z-normalized style features (a - b)/(a + b + 1) from conv_metadata."""
    if "conv_metadata" not in table.column_names:
        raise RatingError("style control needs the conv_metadata column")
    metadata = table["conv_metadata"].combine_chunks()
    if metadata.null_count:
        raise RatingError(f"style control needs conv_metadata on every battle; {metadata.null_count} lack it")
    columns = []
    for _, field_a, field_b in STYLE_FEATURES:
        side_a = _count_field(metadata, field_a)[battles.order]
        side_b = _count_field(metadata, field_b)[battles.order]
        difference = (side_a - side_b) / (side_a + side_b + 1.0)
        spread = difference.std()
        columns.append((difference - difference.mean()) / (spread if spread > 0 else 1.0))
    outcome = battles.outcome_code / 2.0
    return PairwiseDesign(
        n_models=len(battles.models),
        first=battles.model_a,
        second=battles.model_b,
        counts=np.ones(len(battles)),
        wins=outcome,
        squares=outcome**2,
        features=np.column_stack(columns),
        l2=l2,
    )


def _count_field(metadata: pa.StructArray, name: str) -> np.ndarray:
    """A conv_metadata count as floats; FastChat's nested counts ({"h1": 2, "h2": 0}) are summed."""
    if not _has_field(metadata.type, name):
        raise RatingError(f"style control needs conv_metadata.{name}")
    values = pc.struct_field(metadata, name)
    if pa.types.is_struct(values.type):
        parts = [pc.fill_null(pc.struct_field(values, index), 0) for index in range(values.type.num_fields)]
        values = parts[0] if len(parts) == 1 else pc.add_checked(parts[0], parts[1])
        for part in parts[2:]:
            values = pc.add_checked(values, part)
    if values.null_count:
        raise RatingError(f"style control: conv_metadata.{name} is null in {values.null_count} battle(s)")
    return pc.cast(values, pa.float64()).to_numpy(zero_copy_only=False)


# ---------------------------------------------------------------------------------------------------
# Leaderboard


@dataclass(frozen=True)
class Score:
    rating: float
    lower: float
    upper: float
    rank: int


@dataclass(frozen=True)
class LeaderboardRow:
    model: str
    battles: int
    score: Score
    style: Score | None = None
    elo: float | None = None


@dataclass(frozen=True)
class Leaderboard:
    """Rows by descending rating; matrices indexed like the rows.

    win_fraction[i, j]: share of row i's decided (non-tied) battles against j that i won (NaN if none).
    battle_counts[i, j]: battles between i and j, ties included.
    """

    rows: tuple[LeaderboardRow, ...]
    win_fraction: np.ndarray
    battle_counts: np.ndarray
    interval_method: IntervalMethod
    confidence: float
    bootstrap_rounds: int | None
    battles_used: int
    dropped: dict[str, int]
    style_coefficients: dict[str, float] | None = None

    @property
    def models(self) -> tuple[str, ...]:
        return tuple(row.model for row in self.rows)

    def to_json_dict(self) -> dict[str, dict[str, object]]:
        """{model: {rating, lower, upper, rank, battles}} (+ elo, style when computed), in rank order."""
        published: dict[str, dict[str, object]] = {}
        for row in self.rows:
            entry: dict[str, object] = {**_score_dict(row.score), "battles": row.battles}
            if row.elo is not None:
                entry["elo"] = round(row.elo, 2)
            if row.style is not None:
                entry["style_control"] = _score_dict(row.style)
            published[row.model] = entry
        return published

    def restricted_to(self, models: Iterable[str]) -> Leaderboard:
        """The leaderboard for publication: only `models`, ranks recomputed among them.

        Ratings stay those of the full fit (every kept battle counts); other models are never named.
        """
        wanted = set(models)
        keep = [index for index, row in enumerate(self.rows) if row.model in wanted]
        rows = [self.rows[index] for index in keep]
        rows = _reranked(rows, "score")
        if self.style_coefficients is not None:
            rows = _reranked(rows, "style")
        return replace(
            self,
            rows=tuple(rows),
            win_fraction=self.win_fraction[np.ix_(keep, keep)],
            battle_counts=self.battle_counts[np.ix_(keep, keep)],
        )


def _score_dict(score: Score) -> dict[str, object]:
    return {
        "rating": round(score.rating, 2),
        "lower": round(score.lower, 2),
        "upper": round(score.upper, 2),
        "rank": score.rank,
    }


def _reranked(rows: list[LeaderboardRow], score_field: str) -> list[LeaderboardRow]:
    """Rows with the upper-bound rank of `score_field` recomputed among themselves."""
    scores: list[Score] = [getattr(row, score_field) for row in rows]
    ranks = upper_bound_rank(np.array([score.lower for score in scores]), np.array([score.upper for score in scores]))
    return [
        replace(row, **{score_field: replace(score, rank=int(rank))})
        for row, score, rank in zip(rows, scores, ranks, strict=True)
    ]


def compute_leaderboard(table: pa.Table, options: LeaderboardOptions | None = None) -> Leaderboard:
    """Filter, fit Bradley–Terry with intervals (and optionally Elo and style control), assemble the table."""
    options = options or LeaderboardOptions()
    prepared = prepare_battles(table, options.filters)
    if not len(prepared.table):
        raise RatingError(f"no battles left to rate after filters (dropped: {_describe(prepared.dropped)})")
    battles = encode_battles(prepared.table)
    _require_connected(battles)
    anchor_index = _anchor_index(battles.models, options.anchor)
    anchor_rating = options.anchor.rating if options.anchor else 0.0
    cells = collapse_battles(battles)
    if options.intervals == "bootstrap":
        ratings = bootstrap_intervals(
            cells,
            options.bootstrap_rounds,
            options.seed,
            options.confidence,
            options.scale,
            anchor_index,
            anchor_rating,
        )
    else:
        ratings = sandwich_intervals(bt_design(cells), options.confidence, options.scale, anchor_index, anchor_rating)
    style, coefficients = (None, None)
    if options.style_control:
        style, coefficients = _style_ratings(prepared.table, battles, options, anchor_index, anchor_rating)
    elo = elo_ratings(battles, options.elo_k, options.scale) if options.elo else None

    wins, counts = outcome_matrices(battles)
    order = np.argsort(-ratings.rating, kind="stable")
    rows = tuple(
        LeaderboardRow(
            model=battles.models[index],
            battles=int(counts[index].sum()),
            score=_score_at(ratings, index),
            style=_score_at(style, index) if style else None,
            elo=float(elo[index]) if elo is not None else None,
        )
        for index in order
    )
    decided = wins + wins.T
    with np.errstate(invalid="ignore", divide="ignore"):
        win_fraction = np.where(decided > 0, wins / decided, np.nan)
    return Leaderboard(
        rows=rows,
        win_fraction=win_fraction[np.ix_(order, order)],
        battle_counts=counts[np.ix_(order, order)],
        interval_method=options.intervals,
        confidence=options.confidence,
        bootstrap_rounds=options.bootstrap_rounds if options.intervals == "bootstrap" else None,
        battles_used=len(battles),
        dropped=prepared.dropped,
        style_coefficients=coefficients,
    )


def _style_ratings(
    table: pa.Table,
    battles: EncodedBattles,
    options: LeaderboardOptions,
    anchor_index: int | None,
    anchor_rating: float,
) -> tuple[Ratings, dict[str, float]]:
    """Style-controlled ratings; intervals always by sandwich (a battle-level bootstrap is too slow)."""
    design = style_design(table, battles)
    params = fit_pairwise(design)[0]
    ratings = sandwich_intervals(design, options.confidence, options.scale, anchor_index, anchor_rating, params)
    coefficients = {
        name: float(value) for (name, _, _), value in zip(STYLE_FEATURES, params[design.n_models :], strict=True)
    }
    return ratings, coefficients


def _score_at(ratings: Ratings, index: int) -> Score:
    return Score(
        rating=float(ratings.rating[index]),
        lower=float(ratings.lower[index]),
        upper=float(ratings.upper[index]),
        rank=int(ratings.rank[index]),
    )


def outcome_matrices(battles: EncodedBattles) -> tuple[np.ndarray, np.ndarray]:
    """wins[i, j] = battles i won against j; counts[i, j] = battles between i and j (symmetric)."""
    n = len(battles.models)
    a, b, code = battles.model_a.astype(np.int64), battles.model_b.astype(np.int64), battles.outcome_code
    wins = np.bincount(np.where(code == 2, a * n + b, b * n + a)[code != 1], minlength=n * n).reshape(n, n)
    pairs = np.bincount(a * n + b, minlength=n * n).reshape(n, n)
    return wins, pairs + pairs.T


def _require_connected(battles: EncodedBattles) -> None:
    """Ratings are comparable only within a connected comparison graph."""
    n = len(battles.models)
    graph = sp.coo_matrix((np.ones(len(battles)), (battles.model_a, battles.model_b)), shape=(n, n))
    parts, labels = connected_components(graph, directed=False)
    if parts > 1:
        sizes = sorted(np.bincount(labels).tolist(), reverse=True)
        raise RatingError(
            f"battles split into {parts} groups of models that never met (sizes {sizes}): "
            "ratings across groups are not comparable; widen the filters"
        )


def _anchor_index(models: tuple[str, ...], anchor: Anchor | None) -> int | None:
    if anchor is None:
        return None
    if anchor.model not in models:
        raise RatingError(f"anchor model {anchor.model!r} has no battles after filters")
    return models.index(anchor.model)


def _describe(dropped: dict[str, int]) -> str:
    return ", ".join(f"{reason}: {count}" for reason, count in dropped.items() if count) or "none"
