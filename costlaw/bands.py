"""Percentile intervals from bootstrap samples, the Monte Carlo error of their ends, and prediction bands.

Shared by ``costlaw.uncertainty``, the break-even tables and the planner, so that every interval costlaw prints is
made the same way:

- ``percentile_interval``: equal-tailed percentile interval along axis 0, by the inverted CDF (no interpolation
  across ``inf``, so "never" stays "never");
- ``end_mc_band``: the Monte Carlo uncertainty of an interval end from a finite number of refits, as the values at
  the order statistics ``n q +- 1.96 sqrt(n q (1 - q))`` (a 95% binomial band on the rank of the quantile). Its
  log10 width / 3.92 is the end's Monte Carlo standard error in log10 (``*_mc`` columns); an end is **stable**
  when that is at most half of ``STABLE_LOG10`` (so that three seeds typically land within 10% of each other,
  their expected range being about 1.7 standard errors), or the band is ``inf`` throughout;
- ``prediction_band``: curve samples plus the panel's run-to-run noise, for intervals that should cover a new run.
"""
from __future__ import annotations

import numpy as np

STABLE_LOG10 = float(np.log10(1.1))
"""An interval end is stable when its Monte Carlo band spans at most this in log10 (within 10%)."""


def percentile_interval(samples, level: float = 0.9):
    """(lo, hi) equal-tailed percentile interval of ``samples`` along axis 0 (inverted CDF)."""
    samples = np.asarray(samples, float)
    alpha = (1 - level) / 2
    lo = np.quantile(samples, alpha, axis=0, method="inverted_cdf")
    hi = np.quantile(samples, 1 - alpha, axis=0, method="inverted_cdf")
    return lo, hi


def end_mc_band(samples, q: float, z: float = 1.96):
    """Monte Carlo band (lo, hi) of the q-quantile of ``samples`` (axis 0): the order statistics at ranks
    n q -+ z sqrt(n q (1 - q)). Its width says how much the end would move with another seed."""
    x = np.sort(np.asarray(samples, float), axis=0)
    n = x.shape[0]
    half = z * np.sqrt(n * q * (1 - q))
    lo_rank = int(np.clip(np.floor(n * q - half), 0, n - 1))
    hi_rank = int(np.clip(np.ceil(n * q + half), 0, n - 1))
    return x[lo_rank], x[hi_rank]


def log10_spread(a, b):
    """|log10(b / a)| for positive values; 0 where both are inf, inf where one is and the other is not."""
    a, b = np.asarray(a, float), np.asarray(b, float)
    both_inf = np.isinf(a) & np.isinf(b)
    with np.errstate(divide="ignore", invalid="ignore"):
        spread = np.abs(np.log10(np.where(both_inf, 1.0, b)) - np.log10(np.where(both_inf, 1.0, a)))
    return np.where(np.isnan(spread), np.inf, spread)


def interval_with_mc(samples, level: float = 0.9) -> dict:
    """Percentile interval of positive quantities (e.g. ratios) with each end's Monte Carlo error and stability:
    keys lo, hi, lo_mc (Monte Carlo standard error of log10 lo), hi_mc, stable."""
    samples = np.asarray(samples, float)
    alpha = (1 - level) / 2
    lo, hi = percentile_interval(samples, level)
    lo_a, lo_b = end_mc_band(samples, alpha)
    hi_a, hi_b = end_mc_band(samples, 1 - alpha)
    lo_mc, hi_mc = log10_spread(lo_a, lo_b) / 3.92, log10_spread(hi_a, hi_b) / 3.92
    return {"lo": lo, "hi": hi, "lo_mc": lo_mc, "hi_mc": hi_mc,
            "stable": (lo_mc <= STABLE_LOG10 / 2) & (hi_mc <= STABLE_LOG10 / 2)}


def prediction_band(curve_samples, noise_sd, level: float = 0.9, seed: int = 0):
    """(pred_lo, pred_hi): percentile interval of ``curve_samples`` (refits x points) plus Gaussian run noise of
    ``noise_sd`` (metric units; a scalar or one value per point), for comparison with a new run."""
    samples = np.asarray(curve_samples, float)
    rng = np.random.default_rng(seed)
    noisy = samples + rng.normal(size=samples.shape) * np.asarray(noise_sd, float)
    return percentile_interval(noisy, level)
