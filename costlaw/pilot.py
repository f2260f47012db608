"""Pilot-anchored forecasts for a training size nobody has run: anchor the level on cheap pilot runs at the new
size, transfer each method's gain from the measured sizes.

Log-linear extrapolation of levels from two sizes misses a third by several points (``compare``'s
``extrapolate_size``). A practitioner can cheaply measure the new model itself: one pilot run (e.g. random
selection on 2.5% of the pool) fixes its level. The gain of method m at fraction f over the pilot configuration,
G_s(m, f) = P_s(m, f) - P_s(pilot), is read off per-panel fits at each measured size s and transferred by a rule:

- ``headroom``: the gain as a share of the headroom to the metric's ceiling C (100 for accuracy in points),
  g = G_s / (C - P0_s), is constant across sizes; at the new size P = P0 + mean_s(g) (C - P0);
- ``absolute``: the gain in points is constant across sizes, P = P0 + mean_s(G_s);
- ``loglinear``: the gain is linear in log10 N_train across the measured sizes (needs two), extrapolated;
- ``pilot``: no gain transferred, P = P0 (the baseline to beat).

P0, the new size's level at the pilot configuration, is solved from each pilot run under the rule and averaged
over pilots.

Choosing the rule. ``rule="auto"`` picks the rule with the lowest held-out error when each source size is
predicted from the other sources, anchored on its own pilot-configuration run (leave one size out). It reads only
the source sizes, so ``pilot_protocol(rule="auto")`` evaluates the whole procedure inside each outer fold (nested).
On the paper's runs the nested choice is no better than a fixed ``headroom`` in any direction and worse at 70B
(RMSE 1.22 against 0.69; with two sources the choice rests on one contrast), so the default is ``headroom``, fixed
in advance (gains shrink as a model nears the ceiling). Its paper numbers are not fully out of sample: it was
found on these runs.

Intervals. The error of a forecast is run noise plus the new size's departure from the rule. The departure is
estimated from the sources' leave-one-size-out residuals r (``between_size``), in the rule's unit (share of
headroom for ``headroom``, points otherwise), in two parts: shared (the mean residual of a held-out size: common
to all its runs, e.g. an off anchor) and specific (the spread around it), each net of the noise it contains. If
the departures of sizes are independent with variance tau^2, a source's residual has (1 + 1/(k-1)) tau^2 and the
new size's error (1 + 1/k) tau^2 (k source sizes), so the forecast's variance is

    sigma^2 (1 + 1/n_pilots) + c_k (shared + specific) H^2,   c_k = (1 + 1/k) / (1 + 1/(k-1)),

H the headroom at the new size (1 for the other rules), and its quantile is Student t with Welch-Satterthwaite
degrees of freedom (shared: k - 1, specific: (k - 1)(methods - 1), noise: known). sigma is the run-to-run noise
of the sources (``costlaw.noise``): the pooled seed sd where runs repeat seeds, else the smallest residual sd over
the source panels (each is noise plus lack of fit, an upper bound on the noise). Two sources give one contrast:
the interval is wide and says so (column ``interval``); one source cannot show any departure and its interval is
noise only, flagged. A held-out size that departs in a way the sources do not show stays uncovered: on the
paper's runs 13B from 7B + 70B (BBH 13B's random 2.5% pilot sits ~5 points lower, relative to its other runs,
than 7B and 70B imply, and they agree with each other; a pilot at 10% of the pool is hit far less).

Pilots at two or more configurations can show it: their residuals under the forecast anchored on all of them
estimate the new size's own departure (``pilot_departure``, n - 1 df, net of noise). Where it exceeds the sources'
between-size variance the interval uses it alone (this size departs more than the sources did; a rule fixed
before it was measured); where it does not, it updates the sources' estimate as data update a prior (df-weighted,
``interval_terms``), so pilots that follow the transfer narrow the interval (added 2026-11-23, after measuring:
with a second pilot, BBH intervals at 7B and 70B half as wide, 20 and 11 points instead of 41 and 24, coverage
over every held-out size 89-92% instead of 89-94%). Random and BM25 at 2.5% of the pool (5% of a full run) cover
BBH 13B where one pilot does not. Measured by ``costlaw compare paper --protocol extrapolate_size_pilot`` (rows
per held-out size and task); the numbers are in the README.

For metrics where lower is better (``higher_is_better=False``, e.g. a loss), headroom is measured to the floor
``ceiling`` (default 0) instead.
"""
from __future__ import annotations

from dataclasses import dataclass
from statistics import NormalDist

import numpy as np
import pandas as pd

from .errors import InputError

from .choices import RULES  # noqa: E402  (with the other option choices, importable without pandas)
DEFAULT_RULE = "headroom"
"""The default transfer rule, fixed in advance (the nested ``auto`` choice does no better on the paper's runs)."""
DEFAULT_PILOT = ("random", 0.025)
"""The cheapest informative pilot: random selection on 2.5% of the pool (the paper's smallest fraction)."""


@dataclass(frozen=True)
class Pilot:
    """One measured run at the new size: its selection method, fraction of the pool and metric."""

    method: str
    fraction: float
    metric: float


def parse_pilot(text: str) -> Pilot:
    """``METHOD:FRACTION:METRIC`` (e.g. ``random:0.025:52.3``) -> Pilot."""
    parts = str(text).split(":")
    if len(parts) != 3:
        raise InputError(f"--pilot wants METHOD:FRACTION:METRIC (e.g. random:0.025:52.3), got '{text}'")
    method, fraction, metric = parts
    try:
        f, y = float(fraction), float(metric)
    except ValueError:
        raise InputError(f"--pilot '{text}': FRACTION and METRIC must be numbers") from None
    if not (0 < f <= 2) or not np.isfinite(y):
        raise InputError(f"--pilot '{text}': FRACTION must be in (0, 2] and METRIC finite")
    return Pilot(method.strip().lower(), f, y)


def parse_pilot_config(text: str) -> tuple[str, float]:
    """``METHOD:FRACTION`` (e.g. ``random:0.1``) -> (method, fraction): the configuration of a protocol's pilot."""
    parts = str(text).split(":")
    if len(parts) != 2:
        raise InputError(f"--pilot-config wants METHOD:FRACTION (e.g. random:0.1), got '{text}'")
    pilot = parse_pilot(f"{text}:0")
    return pilot.method, pilot.fraction


def pilot_configs(config) -> list:
    """One ``(method, fraction)`` or a sequence of them -> a list of distinct ``(method, fraction)`` (order kept):
    the pilot configurations of a protocol, the first one the reference."""
    if config is None:
        return [DEFAULT_PILOT]
    config = list(config)
    if len(config) == 2 and isinstance(config[0], str):
        config = [config]
    out = []
    for method, fraction in config:
        key = (str(method), float(fraction))
        if key not in out:
            out.append(key)
    if not out:
        raise InputError("at least one pilot configuration (METHOD:FRACTION) is needed")
    return out


def pilots_from_runs(runs: pd.DataFrame) -> list:
    """Pilots from a runs table (every row one pilot)."""
    return [Pilot(str(m), float(f), float(y)) for m, f, y in zip(runs.method, runs.fraction, runs.metric)]


class PilotTransfer:
    """Per-panel fits of one task's measured sizes, ready to transfer gains to a new size anchored on pilots."""

    def __init__(self, runs: pd.DataFrame, task: str | None = None, form: str = "offset_exp",
                 ceiling: float | None = None, higher_is_better: bool | None = None, level: float = 0.9):
        from .fitting import fit
        tasks = list(pd.unique(runs.task))
        task = task or tasks[0]
        if task not in tasks:
            raise InputError(f"no runs for task '{task}'; the runs have {', '.join(tasks)}")
        self.task, self.level = task, level
        self.runs = runs[runs.task == task].reset_index(drop=True)
        self.sizes = np.array(sorted(self.runs.train_params.unique()), float)
        if len(self.sizes) < 1:
            raise InputError("pilot forecasts need runs of at least one measured size")
        if higher_is_better is None:
            from .schema import higher_is_better as direction
            higher_is_better = direction(self.runs)[task]
        self.higher_is_better = bool(higher_is_better)
        self.ceiling = float(ceiling if ceiling is not None else (100.0 if higher_is_better else 0.0))
        import warnings
        from .errors import CostlawWarning
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", CostlawWarning)
            self.fit = fit(self.runs, form)
        self.methods = list(pd.unique(self.runs.method))
        self._cache: dict = {}

    # ---- curves at measured sizes -------------------------------------------------------------------------
    def level_at(self, size: float, method: str, fraction) -> np.ndarray:
        """The per-panel fit's metric at a measured size (metric units)."""
        frac = np.atleast_1d(np.asarray(fraction, float))
        key = (float(size), method, frac.tobytes())
        if key not in self._cache:
            self._cache[key] = self.curve(size, method)(frac)
        return self._cache[key]

    def curve(self, size: float, method: str):
        """The per-panel fit's curve of ``method`` at a measured ``size`` (parameters): a function of fractions
        (array) -> metric (``CurveFit.curve_functions``), at the panel's median full-pool training FLOPs and
        selection FLOPs. The curves of every measured (size, method) are built together on first use."""
        curves = self._cache.get("curves")
        if curves is None:
            curves = self._cache["curves"] = self._curves([(float(s), m) for s in self.sizes for m in self.methods])
        key = (float(size), method)
        if key not in curves:
            curves.update(self._curves([key]))
        if curves[key] is None:
            raise InputError(f"no runs of method '{method}' at {size:.3g} parameters for task '{self.task}'")
        return curves[key]

    def _curves(self, keys: list) -> dict:
        """{(size, method): curve function, or None where no run matches} for ``keys``."""
        cols = self._cache.get("columns")
        if cols is None:
            runs = self.runs
            cols = self._cache["columns"] = {c: runs[c].to_numpy() for c in
                                             ("train_params", "method", "fraction", "train_flops", "selection_flops")}
            # tokens of the whole pool trained on, as ``CurveFit.curve_table`` (forms in tokens)
            cols["tokens"] = (runs.train_tokens / runs.fraction if "train_tokens" in runs else runs.pool_tokens
                              ).to_numpy(float)
        first, heads = [], {"train_flops_full": [], "selection_flops": [], "tokens_full": []}
        out = {}
        for size, method in keys:
            rows = np.flatnonzero(np.isclose(cols["train_params"], size) & (cols["method"] == method))
            out[(size, method)] = None
            if len(rows) == 0:
                continue
            out[(size, method)] = len(first)
            first.append(rows[0])
            heads["train_flops_full"].append(float(np.median(cols["train_flops"][rows] / cols["fraction"][rows])))
            heads["selection_flops"].append(float(np.median(cols["selection_flops"][rows])))
            heads["tokens_full"].append(float(np.median(cols["tokens"][rows])))
        if not first:
            return out
        head = self.runs.iloc[first].assign(**heads)
        functions = self.fit.curve_functions(head)
        return {key: None if i is None else functions[i] for key, i in out.items()}

    def _headroom(self, p0):
        return (self.ceiling - p0) if self.higher_is_better else (p0 - self.ceiling)

    def gains(self, sizes, pilot: Pilot, method: str, fraction) -> np.ndarray:
        """G_s (sizes x fractions): the gain of (method, fraction) over the pilot configuration at each size."""
        base = self.config_levels(sizes, pilot.method, pilot.fraction)
        return np.stack([self.level_at(s, method, fraction) for s in sizes]) - base[:, None]

    def config_levels(self, sizes, method: str, fraction: float) -> np.ndarray:
        """The per-panel fits' metric at one configuration (``method`` at ``fraction``) at each of ``sizes``."""
        key = ("config", np.asarray(sizes, float).tobytes(), method, float(fraction))
        if key not in self._cache:
            self._cache[key] = np.array([self.level_at(s, method, [fraction])[0] for s in sizes])
        return self._cache[key]

    # ---- transfer ------------------------------------------------------------------------------------------
    def _predict(self, rule: str, sizes, pilots: list, new_size: float, method: str, fraction) -> np.ndarray:
        """Point prediction at ``new_size`` from the measured ``sizes`` anchored on ``pilots``."""
        frac = np.atleast_1d(np.asarray(fraction, float))
        key = ("p0", rule, np.asarray(sizes, float).tobytes(), tuple(pilots), float(new_size))
        p0 = self._cache.get(key)
        if p0 is None:  # the level at the reference configuration: the same for every (method, fraction)
            anchors = []
            for pilot in pilots:
                ref = pilots[0]
                g_pilot = self.gains(sizes, ref, pilot.method, [pilot.fraction])[:, 0]   # the pilot's own gain
                anchors.append(self._solve_p0(rule, sizes, ref, g_pilot, pilot.metric, new_size))
            p0 = self._cache[key] = float(np.mean(anchors))
        g = self.gains(sizes, pilots[0], method, frac)                                  # sizes x fractions
        return self._apply(rule, sizes, pilots[0], g, p0, new_size)

    def _apply(self, rule, sizes, ref: Pilot, g: np.ndarray, p0: float, new_size: float) -> np.ndarray:
        if rule == "pilot":
            return np.full(g.shape[1], p0)
        if rule == "absolute":
            return p0 + g.mean(axis=0)
        if rule == "headroom":
            base = self.config_levels(sizes, ref.method, ref.fraction)
            share = g / self._headroom(base)[:, None]
            return p0 + share.mean(axis=0) * self._headroom(p0)  # g and share carry the metric's direction
        if rule == "loglinear":
            x = np.log10(sizes)
            if len(sizes) < 2:
                return p0 + g.mean(axis=0)
            slope, intercept = np.polyfit(x, g, 1)
            return p0 + intercept + slope * np.log10(new_size)
        raise InputError(f"unknown transfer rule '{rule}'; known: {', '.join(RULES)}, auto")

    def _solve_p0(self, rule, sizes, ref: Pilot, g_pilot: np.ndarray, y: float, new_size: float) -> float:
        """The level P0 at the reference pilot configuration that makes the rule reproduce a pilot's metric y
        (the prediction is linear in P0, so two evaluations solve it)."""
        a = self._apply(rule, sizes, ref, g_pilot[:, None], 0.0, new_size)[0]
        b = self._apply(rule, sizes, ref, g_pilot[:, None], 1.0, new_size)[0] - a
        return (y - a) / b if abs(b) > 1e-12 else y

    # ---- held-out choice and calibration ---------------------------------------------------------------------
    def holdout(self, rule: str, pilot_config=DEFAULT_PILOT) -> pd.DataFrame:
        """Leave one measured size out: predict its runs from the other sizes, anchored on its own run at the
        pilot configuration (observed, else fitted). Uses only the runs this transfer was built from (the source
        sizes). Columns: train_params, method, fraction, metric, pred, anchor (the held-out size's pilot-config
        level), scale (the rule's unit there: headroom for ``headroom``, else 1)."""
        key = ("holdout", rule, tuple(pilot_config))
        if key in self._cache:
            return self._cache[key]
        runs = self.runs
        params, methods = runs.train_params.to_numpy(), runs.method.to_numpy()
        fractions, metrics = runs.fraction.to_numpy(), runs.metric.to_numpy()
        parts = []
        for s in self.sizes:
            rest = self.sizes[~np.isclose(self.sizes, s)]
            if len(rest) == 0 or (rule == "loglinear" and len(rest) < 2):
                continue
            panel = np.isclose(params, s)
            at = panel & (methods == pilot_config[0]) & np.isclose(fractions, pilot_config[1])
            y = float(metrics[at].mean()) if at.any() else float(self.level_at(s, *pilot_config)[0])
            pilot = Pilot(pilot_config[0], pilot_config[1], y)
            test = np.flatnonzero(panel & ~at)
            scale = float(self._headroom(y)) if rule == "headroom" else 1.0
            for method in dict.fromkeys(methods[test].tolist()):   # the methods in order of first appearance
                ix = test[methods[test] == method]
                pred = self._predict(rule, rest, [pilot], s, method, fractions[ix])
                parts.append((s, method, ix, pred, y, scale))
        out = pd.DataFrame()
        if parts:  # one table, the rows of each (size, method) in the runs' order
            size, method, ix, pred, anchor, scale = zip(*parts)
            n = [len(i) for i in ix]
            ix = np.concatenate(ix)
            out = pd.DataFrame({"train_params": np.repeat(size, n), "method": np.repeat(method, n).astype(object),
                                "fraction": fractions[ix], "metric": metrics[ix], "pred": np.concatenate(pred),
                                "anchor": np.repeat(anchor, n), "scale": np.repeat(scale, n)})
        self._cache[key] = out
        return out

    def choose_rule(self, pilot_config=DEFAULT_PILOT) -> tuple[str, pd.DataFrame]:
        """The rule with the lowest leave-one-size-out RMSE among the source sizes (``headroom`` when no rule can
        be scored, i.e. one size), and the table rule, heldout_rmse, n. Nothing outside this transfer's runs is
        read: evaluated inside an outer held-out fold, the choice is nested."""
        scores = []
        for rule in RULES:
            h = self.holdout(rule, pilot_config)
            if len(h):
                scores.append({"rule": rule, "heldout_rmse": float(np.sqrt(np.mean((h.pred - h.metric) ** 2))),
                               "n": len(h)})
        table = pd.DataFrame(scores, columns=["rule", "heldout_rmse", "n"])
        if table.empty:
            return DEFAULT_RULE, table
        return str(table.sort_values("heldout_rmse", kind="stable").rule.iloc[0]), table

    def between_size(self, rule: str, pilot_config=DEFAULT_PILOT) -> dict:
        """How much curves depart from the rule from one source size to another, in the rule's unit (share of
        headroom for ``headroom``, points otherwise), from the leave-one-size-out residuals r = pred - metric
        of the source sizes (module docstring). Keys: shared_var (the part common to a held-out size's runs),
        specific_var (the rest), df_shared (k - 1), df_specific ((k - 1)(methods - 1)), n_sizes (k)."""
        k = len(self.sizes)
        empty = {"shared_var": 0.0, "specific_var": 0.0, "df_shared": 0, "df_specific": 0, "n_sizes": k}
        h = self.holdout("absolute" if rule == "loglinear" and k < 3 else rule, pilot_config)
        if k < 2 or h.empty:
            return empty
        sigma2 = self.noise_sd() ** 2
        shared, within, n_methods = [], [], []
        for _, g in h.groupby("train_params", sort=False):
            r = (g.pred - g.metric).to_numpy() / g.scale.iloc[0]
            noise = sigma2 / g.scale.iloc[0] ** 2
            spec = max(float(np.var(r, ddof=1)) - noise, 0.0) if len(r) > 1 else 0.0
            within.append(spec)
            shared.append(float(np.mean(r)) ** 2 - noise - (spec + noise) / len(r))   # anchor noise: one run
            n_methods.append(g.method.nunique())
        return {"shared_var": max(float(np.mean(shared)), 0.0), "specific_var": float(np.mean(within)),
                "df_shared": k - 1, "df_specific": (k - 1) * max(int(np.mean(n_methods)) - 1, 1), "n_sizes": k}

    def pilot_departure(self, rule: str, pilots: list, new_size: float) -> dict:
        """How far the new size's own pilots depart from the rule (metric units), when they are at two or more
        configurations: the residuals r_i = y_i - pred_i of the pilots under the forecast anchored on all of them
        (one parameter, the level P0, is fitted), var = sum(r^2) / (n - 1) - sigma^2 (net of the run noise),
        df = n - 1. Pilots at one configuration (repeated seeds) differ by noise only and show no departure:
        None. Keys: var, df, n_configs, rmse (the pilots' raw residual RMS)."""
        configs = {(p.method, p.fraction) for p in pilots}
        if len(configs) < 2:
            return None
        resid = np.array([self._predict(rule, self.sizes, pilots, new_size, p.method, [p.fraction])[0] - p.metric
                          for p in pilots])
        n = len(resid)
        var = max(float(np.sum(resid ** 2)) / (n - 1) - self.noise_sd() ** 2, 0.0)
        return {"var": var, "df": n - 1, "n_configs": len(configs), "rmse": float(np.sqrt(np.mean(resid ** 2)))}

    def forecast(self, new_size: float, pilots: list, methods=None, fractions=None, rule: str = DEFAULT_RULE,
                 new_model: str | None = None, intervals: bool = True) -> pd.DataFrame:
        """Forecasts at ``new_size`` for every (method, fraction) asked (default: the measured ones), anchored on
        ``pilots`` (Pilot list). Columns task, train_model, train_params, method, fraction, metric_pred, pred_lo,
        pred_hi, pred_sd (metric units), interval_df (the interval's Student t degrees of freedom), sd_shared and
        sd_specific (the between-size departure common to all the new size's runs, and per run) with df_shared and
        df_specific, interval (a note), between_from (where the between-size variance comes from: ``sources``;
        ``pilots`` when pilots at two or more configurations depart more than the sources did;
        ``sources+pilots`` when they depart less and update the sources' estimate; ``noise``), rule (the one
        used; ``auto`` resolved), heldout_rmse (its leave-one-size-out RMSE among the sources), n_pilots,
        n_sizes. ``intervals=False`` leaves out pred_lo and pred_hi (their Student t quantile imports
        scipy.special, ~0.2 s; ``costlaw plan`` draws its samples from the sd and df columns instead)."""
        if not pilots:
            raise InputError("pilot forecasts need at least one pilot run (--pilot METHOD:FRACTION:METRIC)")
        for p in pilots:
            if p.method not in self.methods:
                raise InputError(f"pilot method '{p.method}' has no runs at the measured sizes; known: "
                                 f"{', '.join(self.methods)}")
        if rule not in RULES and rule != "auto":
            raise InputError(f"unknown transfer rule '{rule}'; known: {', '.join(RULES)}, auto")
        cfg = (pilots[0].method, pilots[0].fraction)
        chosen, table = self.choose_rule(cfg)
        rule = chosen if rule == "auto" else rule
        row = table[table.rule == rule]
        rmse = float(row.heldout_rmse.iloc[0]) if len(row) else float("nan")
        methods = list(methods or self.methods)
        var_noise = self.noise_sd() ** 2 * (1 + 1 / len(pilots))
        between = self.between_size(rule, cfg)
        own = self.pilot_departure(rule, pilots, new_size)
        fracs = [np.atleast_1d(fractions if fractions is not None else
                               np.sort(self.runs[self.runs.method == m].fraction.unique())) for m in methods]
        pred = np.concatenate([self._predict(rule, self.sizes, pilots, new_size, m, frac)
                               for m, frac in zip(methods, fracs)])
        p0 = self._predict(rule, self.sizes, pilots, new_size, cfg[0], [cfg[1]])[0]
        terms = interval_terms(var_noise, between, float(self._headroom(p0)) if rule == "headroom" else 1.0,
                               own=own, n_pilots=len(pilots))
        sd = terms["sd"]
        bounds = {}
        if intervals:
            q = quantile(self.level, terms["df"])
            bounds = {"pred_lo": pred - q * sd, "pred_hi": pred + q * sd}
        return pd.DataFrame({"task": self.task, "train_model": new_model or f"{new_size:.3g}",
                             "train_params": new_size, "method": [m for m, f in zip(methods, fracs) for _ in f],
                             "fraction": np.concatenate(fracs), "metric_pred": pred, **bounds, "pred_sd": sd,
                             "interval_df": terms["df"], "sd_shared": np.sqrt(terms["var_shared"]),
                             "sd_specific": np.sqrt(terms["var_specific"]),
                             "df_shared": terms["df_shared"], "df_specific": terms["df_specific"],
                             "interval": terms["note"],
                             "between_from": terms["source"], "rule": rule, "heldout_rmse": rmse,
                             "n_pilots": len(pilots), "n_sizes": len(self.sizes)})

    def noise_sd(self) -> float:
        """Run-to-run noise at the new size (metric units), from the measured panels (``costlaw.noise``): the
        pooled seed sd of the panels with repeated seeds, else the smallest residual sd (each residual sd is
        noise plus lack of fit, an upper bound on the noise; see the module docstring)."""
        if "noise" in self._cache:
            return self._cache["noise"]
        from .noise import panel_noise
        noise = panel_noise(self.fit)
        seeds = noise[noise.noise_source == "seeds"]
        if len(seeds):
            value = float(np.sqrt(np.sum(seeds.noise_dof * seeds.noise_sd ** 2) / np.sum(seeds.noise_dof)))
        else:
            value = float(noise.noise_sd.min())
        self._cache["noise"] = value
        return value


_SHARED: dict = {}
"""Recent ``shared_transfer`` results by their exact inputs (at most ``SHARED_MAX``, oldest dropped first)."""
SHARED_MAX = 8


def shared_transfer(runs: pd.DataFrame, task: str | None = None, form: str = "offset_exp",
                    level: float = 0.9) -> PilotTransfer:
    """``PilotTransfer(runs, task, form=form, level=level)``, the same object again for the same inputs (every
    value of ``runs``, its columns and dtypes, task, form, level): one command's form sets (a sweep's spread, its
    tipping point, a break-even map) each build the plan's pilot transfers, and a transfer, its per-panel refit
    and its memoised curves depend on nothing else."""
    def content(column):  # the values themselves (an object column by repr: never by the objects' addresses)
        values = runs[column].to_numpy()
        return (column, str(runs[column].dtype),
                values.tobytes() if values.dtype.kind in "biufcmM" else tuple(map(repr, values.tolist())))

    key = (task, form, float(level), tuple(content(c) for c in runs.columns))
    if key not in _SHARED:
        if len(_SHARED) >= SHARED_MAX:
            del _SHARED[next(iter(_SHARED))]
        _SHARED[key] = PilotTransfer(runs, task, form=form, level=level)
    return _SHARED[key]


def interval_terms(var_noise: float, between: dict, scale: float, own: dict | None = None,
                   n_pilots: int = 1) -> dict:
    """The forecast's variance terms (metric units squared) from ``PilotTransfer.between_size`` and the rule's
    unit at the new size (``scale``): var_shared and var_specific (the between-size departure common to the new
    size's runs and the rest), sd (with the noise ``var_noise``), df (Welch-Satterthwaite over the noise, taken
    as known, and the two between-size terms, each with its degrees of freedom), source (``sources``,
    ``pilots`` or ``noise``) and a note. The between-size variance of the new size's departure from the mean of
    k sources is (1 + 1/k) tau^2, and a leave-one-size-out residual among the sources has (1 + 1/(k-1)) tau^2,
    hence the factor c_k = (1 + 1/k) / (1 + 1/(k-1)).

    ``own`` (``PilotTransfer.pilot_departure``; pilots at two or more configurations) is the new size's own
    departure, var per run with df, in total var (1 + 1 / n_pilots) (the anchor averages the pilots' departures).
    Where it exceeds the sources' total, it replaces it (source ``pilots``: var_specific = var, var_shared =
    var / n_pilots, its df): this size departs more than the sources did, and they cannot vouch for it. Where it
    does not, it updates the sources' (source ``sources+pilots``): the sources' estimate is the prior (a scaled
    inverse chi-square with its Welch-Satterthwaite df), the pilots' residuals the data, and the posterior
    variance is the df-weighted mean of the two, split as the sources' was, with the dfs summed. So a second
    pilot can narrow an interval when this size follows the transfer, and widens it when it does not."""
    k = between["n_sizes"]
    if k < 2:
        v_shared = v_spec = 0.0
        df_shared = df_spec = 0
        source, note = "noise", "noise only: one measured size cannot show how curves depart between sizes"
    else:
        c = (1 + 1 / k) / (1 + 1 / (k - 1))
        v_shared = c * between["shared_var"] * scale ** 2
        v_spec = c * between["specific_var"] * scale ** 2
        df_shared, df_spec = between["df_shared"], between["df_specific"]
        source = "sources"
        note = (f"between-size variance from {k} sizes ({k - 1} contrast{'s' if k > 2 else ''}): "
                + ("wide, two sizes cannot pin it" if k == 2 else "estimated"))
    df_pooled = None
    sources_total = v_shared + v_spec
    if own is not None and own["var"] * (1 + 1 / n_pilots) > sources_total:
        v_spec, v_shared = own["var"], own["var"] / n_pilots
        df_shared = df_spec = own["df"]
        source = "pilots"
        note = (f"the {n_pilots} pilots depart from the transfer more than the {k} measured sizes did: "
                f"between-size variance from the pilots ({own['df']} df)")
    elif own is not None and k >= 2:
        # the sources' estimate is the prior (scaled inverse chi-square with its Welch-Satterthwaite df), the
        # pilots' residuals the data: the posterior scale is the df-weighted mean of the two, with their df summed
        df_src = welch_df(((v_shared, df_shared), (v_spec, df_spec)))
        own_total = own["var"] * (1 + 1 / n_pilots)
        pooled = ((df_src * sources_total + own["df"] * own_total) / (df_src + own["df"])
                  if np.isfinite(df_src) else sources_total)
        share = v_shared / sources_total if sources_total > 0 else 1 / (n_pilots + 1)
        v_shared, v_spec = pooled * share, pooled * (1 - share)
        df_pooled = df_src + own["df"]
        source = "sources+pilots"
        note += (f"; the pilots at {own['n_configs']} configurations depart less: the sources' variance updated "
                 f"by theirs ({own['df']} df)")
    elif own is None and k >= 2:
        note += "; pilots at one configuration cannot show whether this size departs more (a second pilot can)"
    total = var_noise + v_shared + v_spec
    if source == "pilots":
        denom = (v_shared + v_spec) ** 2 / own["df"]
    elif df_pooled is not None:
        denom = (v_shared + v_spec) ** 2 / df_pooled if np.isfinite(df_pooled) else 0.0
    else:
        denom = ((v_shared ** 2 / df_shared if df_shared else 0.0)
                 + (v_spec ** 2 / df_spec if df_spec else 0.0))
    return {"var_shared": v_shared, "var_specific": v_spec, "sd": float(np.sqrt(total)),
            "df": float(total ** 2 / denom) if denom > 0 else float("inf"), "df_shared": df_shared,
            "df_specific": df_spec, "source": source, "note": note}


def welch_df(terms) -> float:
    """Welch-Satterthwaite degrees of freedom of a sum of variance estimates ``terms`` ((variance, df) pairs; a
    term with df 0 counts as known): (sum v)^2 / sum(v^2 / df); inf when nothing is estimated."""
    total = sum(v for v, _ in terms)
    denom = sum(v ** 2 / df for v, df in terms if df)
    return float(total ** 2 / denom) if denom > 0 else float("inf")


def quantile(level: float, df: float) -> float:
    """Two-sided ``level`` quantile: Student t with ``df`` degrees of freedom (normal when infinite)."""
    if not np.isfinite(df):
        return NormalDist().inv_cdf(0.5 + level / 2)
    from scipy.special import stdtrit  # the Student t quantile without scipy.stats's import (~0.4 s)
    return float(stdtrit(max(df, 1.0), 0.5 + level / 2))


def ranking_hits(table: pd.DataFrame, truth_col: str = "metric", pred_col: str = "metric_pred",
                 higher_is_better: bool = True, tie: float = 1e-9) -> pd.Series:
    """Per (train_model, task, fraction) group with two or more methods and a unique observed best (groups where the best
    score is tied, e.g. every method at the full pool, are left out): whether the predicted best method is the
    observed best. A ``higher_is_better`` column, where present, gives each group's direction."""
    hits = {}
    keys = [c for c in ("train_model", "task", "fraction") if c in table]
    for key, g in table.groupby(keys, sort=False):
        up = bool(g.higher_is_better.iloc[0]) if "higher_is_better" in g else higher_is_better
        sign = 1.0 if up else -1.0
        truth = sign * g[truth_col].to_numpy()
        if g.method.nunique() < 2 or np.sum(truth >= truth.max() - tie) > 1:
            continue
        pick = int(np.argmax(sign * g[pred_col].to_numpy()))
        hits[key] = bool(g.method.iloc[pick] == g.method.iloc[int(np.argmax(truth))])
    return pd.Series(hits, dtype=bool)


def ranking_accuracy(table: pd.DataFrame, truth_col: str = "metric", pred_col: str = "metric_pred",
                     higher_is_better: bool = True) -> float:
    """Share of (task, fraction) groups (with a unique observed best) where the predicted best method is the
    observed best (``ranking_hits``)."""
    hits = ranking_hits(table, truth_col, pred_col, higher_is_better)
    return float(hits.mean()) if len(hits) else float("nan")


def share_interval(hits: int, n: int, level: float = 0.9) -> tuple[float, float]:
    """Exact (Clopper-Pearson) ``level`` interval of a binomial share, treating the n outcomes as independent."""
    if n == 0:
        return float("nan"), float("nan")
    from scipy.stats import binomtest
    ci = binomtest(int(hits), int(n)).proportion_ci(confidence_level=level, method="exact")
    return float(ci.low), float(ci.high)


def unit_interval(shares, level: float = 0.9) -> tuple[float, float]:
    """``level`` interval of a coverage when only the units are independent (one per (held-out size, task): the
    runs of a unit share one pilot and one transfer): Clopper-Pearson with n = number of units and the mean
    share times n successes (a Beta quantile, so non-integer counts are fine). The runs' own binomial interval
    (``share_interval``) treats every run as independent; the truth lies between the two."""
    shares = np.asarray(shares, float)
    n = len(shares)
    if n == 0:
        return float("nan"), float("nan")
    from scipy.stats import beta
    x, a = float(shares.mean()) * n, 1 - level
    lo = 0.0 if x <= 0 else float(beta.ppf(a / 2, x, n - x + 1))
    hi = 1.0 if x >= n else float(beta.ppf(1 - a / 2, x + 1, n - x))
    return lo, hi


def pilot_protocol(runs: pd.DataFrame, pilot_config=DEFAULT_PILOT, rule: str = DEFAULT_RULE, level: float = 0.9,
                   form: str = "offset_exp", held_out: float | None = None) -> tuple[dict, pd.DataFrame]:
    """``extrapolate_size_pilot``: per task, fit the other sizes, take the held-out size's run at the pilot
    configuration as the pilot, forecast its other runs. ``held_out`` (parameters) is the largest size by default
    (extrapolation); a smaller measured size checks the other directions. Returns (scores, per-run table).

    Everything the forecast uses is built from the other sizes' runs plus the pilot run: with ``rule="auto"`` the
    rule is chosen by leave-one-size-out error among the other sizes only (nested), so the score is the
    procedure's. Scores: n_heldout, heldout_rmse, heldout_mae, coverage with coverage_lo/hi (90% exact binomial
    interval over the held-out runs as if independent; they are not, runs of one task share one pilot and one
    transfer, so ``n_units`` (tasks) and ``coverage_min`` (the worst task's) say how much evidence there is),
    ranking_accuracy of the best method per (task, fraction) with n_ranked and its interval, ranking_baseline
    (the best method observed at the nearest source size in log size, at the same fraction), rule (chosen per
    task, ``task:rule``)."""
    sizes = sorted(runs.train_params.unique())
    if len(sizes) < 2:
        raise InputError("extrapolate_size_pilot needs at least two training sizes")
    configs = pilot_configs(pilot_config)
    big = sizes[-1] if held_out is None else float(held_out)
    if not np.isclose(sizes, big).any():
        raise InputError(f"held-out size {big:.3g} is not a measured size; measured: "
                         f"{', '.join(f'{s:.3g}' for s in sizes)}")
    tables = []
    for task, g in runs.groupby("task", sort=False):
        here = np.isclose(g.train_params, big)
        train, test = g[~here], g[here]
        ats = [test[(test.method == m) & np.isclose(test.fraction, f)] for m, f in configs]
        if any(at.empty for at in ats) or train.empty:
            continue
        transfer = PilotTransfer(train, task, form=form, level=level)
        pilots = [Pilot(m, f, float(y)) for (m, f), at in zip(configs, ats) for y in at.metric]
        rest = test.drop(index=pd.concat(ats).index)
        nearest = transfer.sizes[np.argmin(np.abs(np.log10(transfer.sizes) - np.log10(big)))]
        near = train[np.isclose(train.train_params, nearest)].groupby(["method", "fraction"]).metric.mean()
        for m, h in rest.groupby("method", sort=False):
            fc = transfer.forecast(big, pilots, [m], h.fraction.to_numpy(), rule=rule,
                                   new_model=str(h.train_model.iloc[0]))
            baseline = [near.get((m, f), np.nan) for f in h.fraction]
            tables.append(fc.assign(metric=h.metric.to_numpy(), nearest_metric=baseline, nearest_params=nearest,
                                    higher_is_better=transfer.higher_is_better))
    table = pd.concat(tables, ignore_index=True)
    return pilot_scores(table, level), table


def pilot_scores(table: pd.DataFrame, level: float = 0.9) -> dict:
    """The scores of ``pilot_protocol`` from its per-run table."""
    err = table.metric_pred - table.metric
    inside = (table.metric >= table.pred_lo) & (table.metric <= table.pred_hi)
    lo, hi = share_interval(int(inside.sum()), len(inside), level)
    per_task = inside.groupby([table.train_model, table.task]).mean()
    u_lo, u_hi = unit_interval(per_task.to_numpy(), level)
    hits = ranking_hits(table)
    base = ranking_hits(table.dropna(subset=["nearest_metric"]), pred_col="nearest_metric")
    r_lo, r_hi = share_interval(int(hits.sum()), len(hits), level)
    rules = table.groupby(["train_model", "task"], sort=False).rule.first()
    one_size = table.train_model.nunique() == 1
    return {"n_heldout": len(table), "heldout_rmse": float(np.sqrt(np.mean(err ** 2))),
            "heldout_mae": float(np.mean(np.abs(err))), "coverage": float(inside.mean()),
            "coverage_lo": lo, "coverage_hi": hi, "n_units": len(per_task), "coverage_min": float(per_task.min()),
            "coverage_unit_lo": u_lo, "coverage_unit_hi": u_hi,
            "ranking_accuracy": float(hits.mean()) if len(hits) else float("nan"), "n_ranked": len(hits),
            "ranking_lo": r_lo, "ranking_hi": r_hi,
            "ranking_baseline": float(base.mean()) if len(base) else float("nan"),
            "rule": ",".join(f"{t}:{r}" if one_size else f"{m}/{t}:{r}" for (m, t), r in rules.items())}


def pilot_directions(runs: pd.DataFrame, rule: str = DEFAULT_RULE, pilot_config=DEFAULT_PILOT, level: float = 0.9,
                     form: str = "offset_exp", held_out=None) -> pd.DataFrame:
    """``pilot_protocol`` with each measured size (or each of ``held_out``) held out in turn (extrapolation up,
    down and interpolation), scored overall and per task (one row per (held-out size, task) unit, task ``all``
    for the direction), and with more than one size held out a row ``every`` pooling the directions (its
    ``coverage_unit_lo/hi``, over the (size, task) units, is the honest uncertainty of the pooled coverage)."""
    return direction_scores(pilot_tables(runs, rule, pilot_config, level, form, held_out), level)


def pilot_tables(runs: pd.DataFrame, rule: str = DEFAULT_RULE, pilot_config=DEFAULT_PILOT, level: float = 0.9,
                 form: str = "offset_exp", held_out=None) -> dict:
    """{held-out size (params): ``pilot_protocol``'s per-run table} with each measured size (or each of
    ``held_out``) held out in turn."""
    if runs.train_params.nunique() < 2:
        raise InputError("extrapolate_size_pilot needs at least two training sizes")
    sizes = sorted(runs.train_params.unique()) if held_out is None else held_out
    return {size: pilot_protocol(runs, pilot_config, rule, level, form, held_out=size)[1] for size in sizes}


def direction_scores(tables: dict, level: float = 0.9) -> pd.DataFrame:
    """The rows of ``pilot_directions`` from ``pilot_tables``' tables."""
    rows = []
    for size, table in tables.items():
        model = str(table.train_model.iloc[0])
        rows.append({"held_out": model, "held_out_params": size, "task": "all", **pilot_scores(table, level)})
        for task, g in table.groupby("task", sort=False):
            rows.append({"held_out": model, "held_out_params": size, "task": task, **pilot_scores(g, level)})
    if len(tables) > 1:
        every = pd.concat(list(tables.values()), ignore_index=True)
        rows.append({"held_out": "every", "held_out_params": np.nan, "task": "all", **pilot_scores(every, level)})
    return pd.DataFrame(rows)


def pilot_forecast(runs: pd.DataFrame, train_params: float, pilots: list, fraction: float | None = None,
                   method: str | None = None, task: str | None = None, rule: str = DEFAULT_RULE,
                   form: str = "offset_exp", level: float = 0.9) -> pd.DataFrame:
    """Forecast a run at ``train_params`` anchored on ``pilots`` (measured there), from the measured sizes in
    ``runs`` (e.g. the runs behind a ``costlaw fit`` folder): one row per method (or ``method``) at ``fraction``
    (default: the measured fractions)."""
    transfer = PilotTransfer(runs, task, form=form, level=level)
    methods = [method] if method else None
    if method and method not in transfer.methods:
        raise InputError(f"no runs of method '{method}' for task '{transfer.task}'; known: "
                         f"{', '.join(transfer.methods)}")
    fractions = None if fraction is None else [fraction]
    return transfer.forecast(train_params, pilots, methods, fractions, rule=rule)
