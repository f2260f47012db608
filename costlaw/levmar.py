"""Many small bounded nonlinear least-squares problems solved together by one vectorised Levenberg-Marquardt.

Every problem has the same number of parameters p and (padded) residuals m; one iteration evaluates all active
problems at once (``residuals(x, which) -> (r, J)`` with ``x`` of shape (k, p), ``r`` (k, m), ``J`` (k, m, p)),
solves the k damped p x p normal equations in one ``numpy.linalg.solve`` and projects the step onto the bounds.
A parameter at a bound whose gradient points outward is held there for the step (an active set), so the solution
satisfies the same first-order conditions as ``scipy.optimize.least_squares`` with bounds. Damping is Marquardt's
(scaled by the running maximum of diag(J^T J)), so parameters of very different scales need no x_scale.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

GTOL = 1e-10
"""Converged when every free parameter's gradient cosine |J_i . r| / (|J_i| |r|) is below this."""
FTOL = 1e-12
"""... or when an accepted step lowers the cost by less than this relative amount."""
MAX_ITER = 400
LAM0, DOWN, UP = 1e-3, 0.3, 8.0


@dataclass
class Solution:
    x: np.ndarray          # (n, p) parameters
    cost: np.ndarray       # (n,) half the sum of squared residuals (inf where no finite point was found)
    converged: np.ndarray  # (n,) bool
    n_iter: np.ndarray     # (n,) iterations used


def solve(residuals, x0: np.ndarray, lower: np.ndarray, upper: np.ndarray, max_iter: int | None = None,
          gtol: float | None = None, ftol: float | None = None) -> Solution:
    """Minimise 0.5 |r(x)|^2 for each of n problems within [lower, upper] (all (n, p) arrays).

    ``residuals(x, which)`` returns residuals (k, m) and Jacobian (k, m, p) of the problems ``which`` (indices
    into 0..n-1) at parameters ``x`` (k, p). Non-finite residuals count as an infinite cost (the step is refused).
    """
    max_iter, gtol, ftol = max_iter or MAX_ITER, gtol or GTOL, ftol or FTOL
    lower, upper = np.asarray(lower, float), np.asarray(upper, float)
    x = np.clip(np.asarray(x0, float), lower, upper).copy()
    n, p = x.shape
    cost = np.full(n, np.inf)
    converged = np.zeros(n, bool)
    n_iter = np.zeros(n, int)
    if n == 0:
        return Solution(x, cost, converged, n_iter)
    which = np.arange(n)
    r, J = residuals(x, which)
    ok = np.all(np.isfinite(r), axis=1) & np.all(np.isfinite(J), axis=(1, 2))
    cost[which[ok]] = 0.5 * np.einsum("km,km->k", r[ok], r[ok])
    act = which[ok]
    r, J = r[ok], J[ok]
    lam = np.full(len(act), LAM0)
    scale = np.einsum("kmp,kmp->kp", J, J)
    eye = np.eye(p)
    for it in range(max_iter):
        if len(act) == 0:
            break
        xa, lo, hi = x[act], lower[act], upper[act]
        span = np.where(np.isfinite(hi - lo), hi - lo, 1.0)
        fixed = hi <= lo
        Jt = J.transpose(0, 2, 1)
        H = Jt @ J
        g = (Jt @ r[..., None])[..., 0]
        diag = np.einsum("kpp->kp", H)
        at_lo = (xa <= lo + 1e-12 * span) & (g > 0)
        at_hi = (xa >= hi - 1e-12 * span) & (g < 0)
        held = fixed | at_lo | at_hi
        norm = np.sqrt(diag * cost[act][:, None] * 2.0)
        cos = np.where(held, 0.0, np.abs(g) / np.maximum(norm, 1e-300)).max(axis=1, initial=0.0)
        done = cos <= gtol
        scale = np.maximum(scale, diag)
        damp = np.maximum(scale, 1e-12 * scale.max(axis=1, keepdims=True) + 1e-300)
        M = H + lam[:, None, None] * damp[:, :, None] * eye
        rhs = -g
        keep = ~held
        M = np.where(keep[:, :, None] & keep[:, None, :], M, 0.0) + np.where(held[:, :, None], eye, 0.0)
        rhs = np.where(keep, rhs, 0.0)
        try:
            step = np.linalg.solve(M, rhs[..., None])[..., 0]
        except np.linalg.LinAlgError:
            step = np.stack([np.linalg.lstsq(m_, b_, rcond=None)[0] for m_, b_ in zip(M, rhs)])
        x_new = np.clip(xa + step, lo, hi)
        r_new, J_new = residuals(x_new, act)
        finite = np.all(np.isfinite(r_new), axis=1) & np.all(np.isfinite(J_new), axis=(1, 2))
        cost_new = np.where(finite, 0.5 * np.einsum("km,km->k", np.where(finite[:, None], r_new, 0.0),
                                                       np.where(finite[:, None], r_new, 0.0)), np.inf)
        old = cost[act]
        accept = (cost_new <= old) & ~done
        small = accept & (old - cost_new <= ftol * old) & (lam <= 100.0)
        no_move = accept & np.all(np.abs(x_new - xa) <= 1e-15 * (np.abs(xa) + 1e-15), axis=1)
        x[act[accept]] = x_new[accept]
        cost[act[accept]] = cost_new[accept]
        r = np.where(accept[:, None], r_new, r)
        J = np.where(accept[:, None, None], J_new, J)
        lam = np.where(accept, np.maximum(lam * DOWN, 1e-15), lam * UP)
        n_iter[act] += 1
        stop = done | small | no_move | (lam > 1e16)
        converged[act[done | small | no_move]] = True
        keep_going = ~stop
        act, r, J, lam, scale = act[keep_going], r[keep_going], J[keep_going], lam[keep_going], scale[keep_going]
    return Solution(x, cost, converged, n_iter)
