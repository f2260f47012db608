"""Percentile intervals from bootstrap samples, the Monte Carlo error of their ends, and prediction bands.

Shared by ``costlaw.uncertainty``, the break-even tables and the planner, so that every interval costlaw prints is
made the same way:

- ``percentile_interval``: equal-tailed percentile interval along axis 0, by the inverted CDF (no interpolation
  across ``inf``, so "never" stays "never");
- ``end_mc_band``: the Monte Carlo uncertainty of an interval end from a finite number of refits, as the values at
  the order statistics ``n q +- 1.96 sqrt(n q (1 - q))`` (a 95% binomial band on the rank of the quantile; or
  ``q +- 1.96 s`` for a given Monte Carlo sd ``s`` of the empirical CDF). Its log10 width / 3.92 is the end's
  Monte Carlo standard error in log10 (``*_mc`` columns); an end is **stable** when that is at most
  ``STABLE_SE_LOG10`` (three seeds then land within 10% of each other with probability 0.99), or the band is
  ``inf`` throughout;
- ``printed_end``: an unstable end rounded outwards to a grid set by its Monte Carlo error, so that what is printed
  agrees across seeds;
- ``interval_with_mc``: both ends with their errors, the share of "never" (``inf``) and the conservative rule at
  that point mass (an upper end within Monte Carlo error of "never" is reported as ``inf``);
- ``recombine`` / ``recombined_cdf_sd``: joint draws of statistics over independent groups (panels fitted in
  separate blocks) that reuse every refit of every group in many combinations, and their Monte Carlo error;
- ``prediction_band``: curve samples plus the panel's run-to-run noise, for intervals that should cover a new run.
"""
from __future__ import annotations

import numpy as np

STABLE_LOG10 = float(np.log10(1.1))
"""Interval ends agree across seeds when they are within this in log10 (10%)."""
STABLE_RANGE_SD = 4.1203
"""The range of three normal draws is below this many sd with probability 0.99 (``scipy.stats.studentized_range``
with 3 groups and infinite df; a test checks it)."""
STABLE_SE_LOG10 = STABLE_LOG10 / STABLE_RANGE_SD
"""An end is stable when its Monte Carlo standard error (log10) is at most this (0.010 decades, 2.3%): three seeds
then land within ``STABLE_LOG10`` of each other with probability 0.99. (At 0.9, 2.9 sd, three seeds' outputs
called an end stable and still disagreed in 1.6% of three-seed outputs on the paper's runs;
``benchmarks/breakeven_seeds.py``.)"""
STABLE_WIDENED_Z = 2.5758
"""A widened upper end (``inf``) is stable when another seed would widen it too with probability 0.995 (this
one-sided normal quantile), so that two other seeds both do with probability 0.99."""


PRINT_TWO_FIGURES_SE_LOG10 = 1.5 * STABLE_LOG10 / 2.9
"""An unstable end whose Monte Carlo error (log10) is at most this (5%) is printed to two significant figures."""
PRINT_SERIES_SE_LOG10 = 0.05
"""An unstable end whose Monte Carlo error (log10) is at most this (12%) is printed on the 1-2-5 series; beyond it,
as a power of ten."""


def printed_end(value: float, mc: float, stable, upper: bool = False) -> float:
    """The number an interval end is printed as. Stable ends (``stable`` true, or unknown: None/NaN), ``inf``, 0
    and ends at or above 1e4 as they are. An unstable end is rounded **outwards** (a lower end down, an upper end
    up, so the printed interval is never narrower than the computed one) to a grid coarse enough that another
    seed prints the same number most of the time: two significant figures when its Monte Carlo standard error
    ``mc`` (log10) is at most ``PRINT_TWO_FIGURES_SE_LOG10`` (5%), the 1-2-5 series (1, 2, 5, 10, 20, ...; steps of
    0.3-0.4 decades) up to ``PRINT_SERIES_SE_LOG10`` (12%), else a power of ten (also when ``mc`` is NaN or inf).
    Grid steps of about 8 or more Monte Carlo errors make three seeds land in one cell with probability about 0.8
    (the range of three normal draws is 1.7 sd on average); ``docs/intervals.md``."""
    v = float(value)
    unknown = stable is None or (isinstance(stable, float) and np.isnan(stable))
    if unknown or bool(stable) or not np.isfinite(v) or v <= 0 or v >= 1e4:
        return v
    mc = float(mc) if mc is not None else np.nan
    exponent = np.floor(np.log10(v))
    if mc <= PRINT_TWO_FIGURES_SE_LOG10:
        mantissas = np.arange(10, 100) / 10.0                    # two significant figures: 1.0, 1.1, ..., 9.9
    elif mc <= PRINT_SERIES_SE_LOG10:
        mantissas = np.array([1.0, 2.0, 5.0])
    else:
        mantissas = np.array([1.0])
    grid = np.concatenate([mantissas * 10.0 ** e for e in (exponent - 1, exponent, exponent + 1)])
    grid = np.round(grid, 12 - int(exponent))                   # 0.1 * 3 is 0.30000000000000004
    if upper:
        return float(grid[grid >= v * (1 - 1e-12)].min())
    return float(grid[grid <= v * (1 + 1e-12)].max())


def percentile_interval(samples, level: float = 0.9):
    """(lo, hi) equal-tailed percentile interval of ``samples`` along axis 0 (inverted CDF)."""
    samples = np.asarray(samples, float)
    alpha = (1 - level) / 2
    lo = np.quantile(samples, alpha, axis=0, method="inverted_cdf")
    hi = np.quantile(samples, 1 - alpha, axis=0, method="inverted_cdf")
    return lo, hi


def end_mc_band(samples, q: float, z: float = 1.96, cdf_sd=None):
    """Monte Carlo band (lo, hi) of the q-quantile of ``samples`` (axis 0): the quantiles at levels
    q -+ z ``cdf_sd``, where ``cdf_sd`` is the Monte Carlo sd of the empirical CDF at the quantile (scalar or one
    per column; default sqrt(q (1 - q) / n) for independent draws, i.e. the order statistics at ranks
    n q -+ z sqrt(n q (1 - q))). Its width says how much the end would move with another seed."""
    x = np.sort(np.asarray(samples, float), axis=0)
    n = x.shape[0]
    sd = np.sqrt(q * (1 - q) / n) if cdf_sd is None else np.asarray(cdf_sd, float)
    lo_rank = np.clip(np.floor(n * (q - z * sd)), 0, n - 1).astype(np.intp)
    hi_rank = np.clip(np.ceil(n * (q + z * sd)), 0, n - 1).astype(np.intp)
    if x.ndim == 1 or lo_rank.ndim == 0:
        return x[lo_rank], x[hi_rank]
    cols = np.arange(x.shape[1])
    return x[lo_rank, cols], x[hi_rank, cols]


def log10_spread(a, b):
    """|log10(b / a)| for positive values; 0 where both are inf, inf where one is and the other is not."""
    a, b = np.asarray(a, float), np.asarray(b, float)
    both_inf = np.isinf(a) & np.isinf(b)
    with np.errstate(divide="ignore", invalid="ignore"):
        spread = np.abs(np.log10(np.where(both_inf, 1.0, b)) - np.log10(np.where(both_inf, 1.0, a)))
    return np.where(np.isnan(spread), np.inf, spread)


def interval_with_mc(samples, level: float = 0.9, cdf_sd=None, z: float = 1.96, never_sd=None) -> dict:
    """Percentile interval of positive quantities (e.g. ratios, ``inf`` for "never") along axis 0, with each end's
    Monte Carlo error and what is done where an end sits within that error of a point mass at ``inf``.

    ``cdf_sd``: (sd at the lower end, sd at the upper end), the Monte Carlo sd of the empirical CDF there (see
    ``end_mc_band``; default: independent draws). Keys: lo, hi (the reported ends), lo_mc, hi_mc (Monte Carlo
    standard error of log10 of each end before widening: the band's log10 width / (2 z); ``inf`` when the band
    reaches ``inf``), lo_stable / hi_stable (the error at most ``STABLE_SE_LOG10``; a widened upper end: when
    another seed would widen it too with probability >= 0.995, ``STABLE_WIDENED_Z``), stable (both), hi_widened,
    p_never (share of draws
    at ``inf``) and p_never_mc, its Monte Carlo sd (``never_sd`` if given, else binomial).

    Conservative at the point mass: an upper end whose band reaches ``inf`` (the share of "never" is within
    Monte Carlo error of the tail level) is reported as ``inf`` (``hi_widened``): that only widens the interval,
    so its coverage does not drop. A lower end is left as estimated (widening it would put it in the thinnest
    part of the finite tail, where it moves most); when its band reaches ``inf`` it is flagged unstable.
    """
    samples = np.asarray(samples, float)
    alpha = (1 - level) / 2
    lo, hi = percentile_interval(samples, level)
    sd_lo, sd_hi = (None, None) if cdf_sd is None else cdf_sd
    lo_a, lo_b = end_mc_band(samples, alpha, z, sd_lo)
    hi_a, hi_b = end_mc_band(samples, 1 - alpha, z, sd_hi)
    lo_mc, hi_mc = log10_spread(lo_a, lo_b) / (2 * z), log10_spread(hi_a, hi_b) / (2 * z)
    hi_widened = np.isfinite(hi) & np.isinf(hi_b)
    p_never = np.mean(np.isinf(samples), axis=0)
    n = samples.shape[0]
    sd_never = np.sqrt(alpha * (1 - alpha) / n) if sd_hi is None else np.asarray(sd_hi, float)
    # a widened upper end is stable when another seed would widen it too with probability >= 0.995
    hi_ok = np.where(hi_widened, p_never >= alpha - (z - STABLE_WIDENED_Z) * sd_never, hi_mc <= STABLE_SE_LOG10)
    lo_ok = lo_mc <= STABLE_SE_LOG10
    return {"lo": lo, "hi": np.where(hi_widened, np.inf, hi), "lo_mc": lo_mc, "hi_mc": hi_mc,
            "lo_stable": lo_ok, "hi_stable": hi_ok, "stable": lo_ok & hi_ok, "hi_widened": hi_widened,
            "p_never": p_never,
            "p_never_mc": np.sqrt(p_never * (1 - p_never) / n) if never_sd is None else np.asarray(never_sd, float)}


def recombine(n_rep, n_groups: int, copies: int, seed: int = 0) -> np.ndarray:
    """Joint draws from refits of independent groups (e.g. panels fitted in separate blocks): ``copies`` x
    ``n_rep`` rows, each naming one refit per group (``n_rep`` x ... x ``n_groups`` indices). The first
    ``n_rep`` rows are the refits as drawn; each further block of ``n_rep`` rows permutes every group's refits
    independently, so each refit of each group is used exactly ``copies`` times. A statistic of several groups
    (a median or mean over panels) evaluated on these rows estimates the same distribution as on the refits,
    with less Monte Carlo error (an average over many combinations: a V-statistic).

    ``n_rep`` may give each group its own number of refits (a sequence of ``n_groups``; the same everywhere is the
    scalar case): then there are ``copies`` x max rows, and group g's column is its refits in order followed by
    seeded permutations of them, cut to length, so each of its refits is used equally often (to within one). The
    indices never depend on the refits' values and the groups are independent, so each row is still a draw from
    the joint distribution and the mean over rows is unbiased for it."""
    sizes = np.broadcast_to(np.asarray(n_rep, np.intp), (n_groups,))
    rng = np.random.default_rng(seed)
    if n_groups == 0 or (sizes == sizes[0]).all():
        n = int(sizes[0]) if n_groups else int(n_rep)
        take = np.empty((copies * n, n_groups), np.intp)
        take[:n] = np.arange(n)[:, None]
        for c in range(1, copies):
            take[c * n:(c + 1) * n] = np.argsort(rng.random((n, n_groups)), axis=0)
        return take
    n_draw = copies * int(sizes.max())
    take = np.empty((n_draw, n_groups), np.intp)
    for g, n in enumerate(sizes):
        reps = -(-n_draw // int(n))
        take[:, g] = np.concatenate([np.arange(n)] + [rng.permutation(n) for _ in range(reps - 1)])[:n_draw]
    return take


CDF_CHUNK = 1_000_000
"""``recombined_cdf_parts`` takes groups in chunks of about this many cells ((draw, group) pairs plus (refit,
column) pairs; memory ~50 bytes each)."""


def recombined_cdf_parts(indicator, take: np.ndarray, n_rep) -> tuple[np.ndarray, np.ndarray]:
    """The parts of ``recombined_cdf_sd``: (first, rest), ``first`` (groups x columns) the variance of each
    group's first-order (Hoeffding) projection of ``indicator`` (its share of the Monte Carlo variance is
    first / refits of the group), ``rest`` (columns) what the projections leave (its share: rest / draws).
    Groups in chunks (``CDF_CHUNK``): the draws' refits numbered across the chunk's groups, their sums by one
    sparse product."""
    ind, sizes, chunks = _projection_chunks(indicator, take, n_rep)
    first = np.zeros((take.shape[1], ind.shape[1]))
    for groups, rows in chunks:
        first[groups] = rows
    p = ind.mean(axis=0)
    return first, np.maximum(p * (1 - p) - first.sum(axis=0), 0.0)


def _projection_chunks(indicator, take: np.ndarray, n_rep):
    """(indicator as groups' columns 2-d, refits per group, iterator of (slice of groups, their ``first`` rows)):
    the groups of ``take`` in chunks of about ``CDF_CHUNK`` cells, each chunk's projection variances."""
    ind = np.asarray(indicator, float)
    ind = ind[:, None] if ind.ndim == 1 else ind
    n_groups = take.shape[1]
    sizes = np.broadcast_to(np.asarray(n_rep, np.intp), (n_groups,))
    step = max(1, CDF_CHUNK // (len(take) + int(sizes.max(initial=0)) * ind.shape[1] + 1))
    chunks = ((slice(g, g + step), _projection_variance(ind, take[:, g:g + step], sizes[g:g + step]))
              for g in range(0, n_groups, step))
    return ind, sizes, chunks


def _projection_variance(ind: np.ndarray, take: np.ndarray, sizes: np.ndarray) -> np.ndarray:
    """``first`` of ``recombined_cdf_parts`` for the groups of ``take``'s columns (``sizes`` refits each)."""
    from scipy import sparse   # here, not at import: `costlaw plan` imports bands and must not load scipy
    n_groups = take.shape[1]
    start = np.cumsum(sizes) - sizes
    slot = (take + start[None, :]).ravel()                        # (draw, group) -> refit, numbered across groups
    n_slots = int(sizes.sum())
    count = np.bincount(slot, minlength=n_slots)
    pick = sparse.csr_matrix((np.ones(slot.size), slot, np.arange(0, slot.size + 1, n_groups)),
                             shape=(len(take), n_slots))
    used = count > 0
    means = (pick.T @ ind)[used] / count[used, None]             # each used refit's mean of the indicator
    group = np.repeat(np.arange(n_groups), sizes)[used]
    of_group = sparse.csr_matrix((np.ones(len(group)), (group, np.arange(len(group)))),
                                 shape=(n_groups, len(group)))
    n_used = np.bincount(group, minlength=n_groups).astype(float)[:, None]
    copies = np.bincount(group, weights=count[used], minlength=n_groups)[:, None] / n_used
    with np.errstate(invalid="ignore", divide="ignore"):
        within = (of_group @ (means * (1 - means))) / n_used * copies / np.maximum(copies - 1, 1)
        centre = (of_group @ means) / n_used
        var = (of_group @ (means - centre[group]) ** 2) / (n_used - 1)
    return np.maximum(var - within / copies, 0.0)


def recombined_cdf_sums(indicator, take: np.ndarray, n_rep) -> tuple[np.ndarray, np.ndarray]:
    """What ``cdf_sd_from_parts`` takes of ``recombined_cdf_parts`` (per column: the sum over groups of
    first / n_g, or of first when ``n_rep`` is one number; and ``rest``) without its groups x columns array: the
    groups a chunk at a time, each group's row added in group order as ``sum(axis=0)`` adds them (the same
    numbers), so memory does not grow as groups x pooled columns (quadratic in panels)."""
    ind, sizes, chunks = _projection_chunks(indicator, take, n_rep)
    if ind.shape[1] < 2 or take.shape[1] == 0:    # numpy sums one column pairwise, not row by row; it is small
        first, rest = recombined_cdf_parts(ind, take, n_rep)
        return (first.sum(axis=0) if np.ndim(n_rep) == 0 else (first / sizes[:, None]).sum(axis=0)), rest
    total = scaled = None
    for groups, first in chunks:
        for row, n in zip(first, sizes[groups]):
            if total is None:
                total, scaled = row.copy(), row / n
            else:
                total += row
                scaled += row / n
    p = ind.mean(axis=0)
    return (total if np.ndim(n_rep) == 0 else scaled), np.maximum(p * (1 - p) - total, 0.0)


def recombined_cdf_sd(indicator, take: np.ndarray, n_rep) -> np.ndarray:
    """Monte Carlo sd of the mean over joint draws (rows of ``take``, from ``recombine``) of ``indicator``
    (draws x columns, e.g. whether a draw is at or below an interval end), from the first-order (Hoeffding)
    projections: the sum over groups of the between-refit variance of the indicator's mean over the draws using
    each refit (less its within-refit noise, one-way ANOVA), divided by that group's refits (``n_rep``: one
    number, or one per group), plus the variance those projections leave, divided by the number of draws. Refits
    of different groups must be independent, and each used at least twice (``copies`` >= 2 in ``recombine``)."""
    scaled, rest = recombined_cdf_sums(indicator, take, n_rep)
    return np.sqrt((scaled / n_rep if np.ndim(n_rep) == 0 else scaled) + rest / len(take))


def cdf_sd_from_parts(first: np.ndarray, rest: np.ndarray, n_rep, n_draws: int) -> np.ndarray:
    """``recombined_cdf_sd`` from its parts (``recombined_cdf_parts``): sqrt(sum_g first_g / n_g + rest / draws)."""
    sizes = np.broadcast_to(np.asarray(n_rep, float), (first.shape[0],))
    scaled = first.sum(axis=0) if np.ndim(n_rep) == 0 else (first / sizes[:, None]).sum(axis=0)
    return np.sqrt((scaled / n_rep if np.ndim(n_rep) == 0 else scaled) + rest / n_draws)


def prediction_band(curve_samples, noise_sd, level: float = 0.9, seed: int = 0):
    """(pred_lo, pred_hi): percentile interval of ``curve_samples`` (refits x points) plus Gaussian run noise of
    ``noise_sd`` (metric units; a scalar or one value per point), for comparison with a new run."""
    samples = np.asarray(curve_samples, float)
    rng = np.random.default_rng(seed)
    noisy = samples + rng.normal(size=samples.shape) * np.asarray(noise_sd, float)
    return percentile_interval(noisy, level)
