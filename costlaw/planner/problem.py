"""The planning problem: candidates costed by the cost model and scored by fitted curves (point fit and every
bootstrap refit) on a fraction grid.

Which fit scores a plan: at a training size the runs measured, the per-panel fit of that panel (unbiased there;
a size model's levels, linear in log N_train, miss measured panels by up to a point); at any other size, a size
model (``*_size`` forms). When only a size model is given, the measured panel is refitted with the size model's
base form and bootstrapped. ``Problem.fit_kind`` says which was used.
"""
from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np

from .. import costs
from ..bands import percentile_interval
from ..checks import check_extrapolation, check_number
from ..curves import get_form, panel_form_name
from ..errors import CostlawWarning, InputError
from ..fitarrays import CONTEXT_COLUMNS, FitArrays, context_columns, numeric
from ..noise import DEFAULT_MARGIN_SD, check_margin
from .candidates import MIN_FRACTION, N_GRID, Candidate, parse_selectors


def _load(fits, pilots: bool = False):
    """(list of FitArrays, where they came from): fits folders are read as arrays (no pandas); loaded
    ``Bootstrap`` objects are wrapped. Without ``fits``, the shipped forms that win held-out comparison
    (``planner.forms``): per panel (with ``pilots``, the form whose pilot forecasts do best) and size model."""
    from .._paths import bundled_dir
    from ..store import load_fit_arrays
    if fits is None:
        from .forms import default_form, default_pilot_form, default_size_form
        panel = f"paper_{default_pilot_form() if pilots else default_form()}"
        size = f"paper_{default_size_form()}"
        boots = load_fit_arrays(bundled_dir("fits") / size) + load_fit_arrays(bundled_dir("fits") / panel)
        return boots, f"bundled fits/{size} and fits/{panel}"
    if isinstance(fits, (str, Path)):
        return load_fit_arrays(fits), str(fits)
    boots = list(fits) if isinstance(fits, (list, tuple)) else [fits]
    return [FitArrays.from_bootstrap(b) for b in boots], "given fits"


def is_size_model(form) -> bool:
    """Whether a form models the training size (levels linear in log10 N_train), i.e. can plan unmeasured sizes."""
    return any(p.size for p in form.params)


def median(values) -> float:
    """``np.median`` of a 1-d array, the same number (the middle value, or the mean of the middle two; NaN if any
    is NaN) without the import of ``numpy.ma`` that ``np.median`` makes on first use (15-25 ms of a plan)."""
    x = np.sort(np.asarray(values).ravel())
    n = len(x)
    if n == 0 or np.isnan(x[-1]):  # sorting puts NaN last
        return float("nan")
    if n % 2:
        return float(x[n // 2])
    return float(np.mean(x[n // 2 - 1:n // 2 + 1]))


def _higher_is_better(runs: dict) -> bool:
    """Whether a larger metric is better for the runs of one task (``schema.higher_is_better``: the column's first
    value given, True without the column)."""
    given = [v for v in runs.get("higher_is_better", np.array([])).tolist() if v is not None and v == v]
    return bool(given[0]) if given else True


def grid_values(form, grid_cols: dict, params: dict, shape: tuple) -> np.ndarray:
    """The form on the grid rows (columns of length keys x grid) with per-(sample, key) parameters (samples x
    keys): samples x keys x grid. Forms are elementwise, so the columns go in as keys x grid and the parameters as
    samples x keys x 1 and broadcast: what depends on the parameters alone is computed once per (sample, key), not
    once per grid point (the same numbers, 2-4x less work). A form that does not broadcast so (its result has
    another shape, or it fails on two-dimensional columns) is evaluated on parameters repeated along the grid."""
    n_samples, n_keys, n_grid = shape
    cols = {c: (v.reshape(n_keys, n_grid) if isinstance(v, np.ndarray) and v.shape == (n_keys * n_grid,) else v)
            for c, v in grid_cols.items()}
    try:
        values = form(numeric(cols), **{n: np.asarray(v)[..., None] for n, v in params.items()})
        if values.shape == shape:
            return values
    except (ValueError, IndexError, TypeError):  # a form that is not elementwise: evaluated the plain way below
        pass
    values = form(numeric(grid_cols), **{n: np.repeat(v, n_grid, axis=-1) for n, v in params.items()})
    return values.reshape(shape)


def _panel_rows(boot: FitArrays, task: str, train_params: float) -> np.ndarray:
    """Mask of ``boot``'s runs of ``task`` at ``train_params`` (rtol 1e-3)."""
    runs = boot.runs
    return (runs["task"] == task) & np.isclose(np.asarray(runs["train_params"], float), train_params, rtol=1e-3)


def _has_panel(boot: FitArrays, task: str, train_params: float) -> bool:
    return bool(_panel_rows(boot, task, train_params).any())


def _panel_refit(boot: FitArrays, task: str, train_params: float) -> FitArrays:
    """A per-panel fit (and bootstrap) of one measured panel from a size model's runs, with its base form."""
    from ..fitting import fit
    from ..uncertainty import bootstrap
    runs = boot.fit.runs_
    panel = runs[(runs.task == task) & np.isclose(runs.train_params, train_params, rtol=1e-3)]
    name = boot.form.name
    base = get_form(panel_form_name(name) if name.endswith("_size") else "offset_exp")
    cols = [c for c in panel.columns if c not in CONTEXT_COLUMNS]
    fitted = fit(panel[cols], base, loss=boot.loss)
    return FitArrays.from_bootstrap(bootstrap(fitted, n_boot=max(boot.n_boot, 1), seed=boot.seed, level=boot.level))


class Problem:
    """A task, training size, pool, cost settings and candidates, with every candidate's curve evaluated on a
    fraction grid for the point fit and each bootstrap replicate (``curves``: samples x curve keys x grid).

    ``curves`` are oriented: sign x metric, sign -1 for a lower-is-better metric (a loss), so the best plan is
    always the largest value; ``rows`` and ``predict`` turn them back into metric units.

    Works on arrays only (``FitArrays``; ``run_columns``: the task's fitted runs, name -> array), so that a plan
    never imports pandas; ``runs`` gives them as a DataFrame."""

    def __init__(self, train_params: float, pool_tokens: float, task: str | None = None, selectors=None,
                 n_tasks: float = 1, lora: bool = False, fits=None, min_fraction: float = MIN_FRACTION,
                 n_grid: int = N_GRID, margin: float | None = None, pilots=None, rule: str = "headroom"):
        train_params = check_number(train_params, "train_params", low=0, low_open=True)
        pool_tokens = check_number(pool_tokens, "pool_tokens", low=0, low_open=True)
        n_tasks = check_number(n_tasks, "n_tasks", low=1, allow_inf=True)
        min_fraction = check_number(min_fraction, "min_fraction", low=0, high=1, low_open=True, high_open=True)
        self.train_params, self.pool_tokens = float(train_params), float(pool_tokens)
        self.n_tasks, self.lora, self.min_fraction = float(n_tasks), bool(lora), float(min_fraction)
        self.margin_given = check_margin(margin)
        self._measured: dict = {}
        self.candidates = parse_selectors(selectors)
        boots, self.fits_source = _load(fits, pilots=bool(pilots))
        self.bundled = fits is None
        tasks = list(dict.fromkeys(t for b in boots for t in b.unique("task")))
        if task is None:
            task = tasks[0]
        if task not in tasks:
            raise InputError(f"no fitted curves for task '{task}'; fitted: {', '.join(tasks)}")
        self.task, self.other_tasks = task, [t for t in tasks if t != task]
        task_boots = [b for b in boots if task in set(b.unique("task"))]
        self.boot, self.fit_kind = self._choose_fit(task_boots)
        if self.boot.n_boot < 2:
            raise InputError(f"the fit ({self.fits_source}) holds {self.boot.n_boot} bootstrap refits; plans need at "
                             f"least 2 for their intervals: refit with `costlaw fit RUNS --out DIR --n-boot 50`")
        self.form = self.boot.form
        mine = self.boot.runs["task"] == task
        runs = {c: v[mine] for c, v in self.boot.runs.items()}
        self.run_columns = runs
        self.higher_is_better = _higher_is_better(runs)
        # +1 when a larger metric is better, -1 for losses: ``curves`` hold sign x metric, so the solver always
        # maximises and every lead, margin and gain is an improvement in metric points
        self.sign = 1.0 if self.higher_is_better else -1.0
        methods = list(dict.fromkeys(runs["method"].tolist()))
        missing = sorted({c.method for c in self.candidates} - set(methods))
        if missing:
            raise InputError(f"no fitted curve for method(s) {', '.join(missing)} on task '{task}'; fitted: "
                             f"{', '.join(methods)}")
        sizes = np.asarray(runs["train_params"])
        if self.form.name.endswith("_size") or len(set(sizes.tolist())) > 1:  # refuse sizes > 1000x outside
            with warnings.catch_warnings():  # inside the refusal limit, notes() says it (marked !)
                warnings.simplefilter("ignore", CostlawWarning)
                check_extrapolation(self.train_params, sizes.min(), sizes.max(),
                                    "train_params", "the fitted model sizes")
        same = np.isclose(sizes, self.train_params, rtol=1e-3)
        self.train_model = str(runs["train_model"][same][0]) if same.any() else f"{self.train_params:.3g}"
        self.tokens_per_pool_token = self._tokens_per_pool_token(runs)
        self.full_train_flops = costs.train_flops(self.train_params, self.pool_tokens * self.tokens_per_pool_token,
                                                  lora=self.lora)
        self.fitted_fractions = (float(runs["fraction"].min()), float(runs["fraction"].max()))
        self.fitted_sizes = (float(sizes.min()), float(sizes.max()))
        self.fitted_pool_tokens = median(runs["pool_tokens"])
        self.level = self.boot.level
        self._curve_depends_on_cost = (not self.form.models_selection_offset) or self.form.selector_size_dependence
        self._evaluate_curves(n_grid)
        self.pilots, self.rule = list(pilots or []), rule
        if self.pilots:
            self._pilot_curves(task_boots, rule)

    @property
    def runs(self):
        """The task's fitted runs as a DataFrame (imports pandas; the planner itself reads ``run_columns``)."""
        import pandas as pd
        return pd.DataFrame({c: v for c, v in self.run_columns.items()})

    # which fit, which tokens --------------------------------------------------------------------------------
    def _choose_fit(self, boots: list):
        """(Bootstrap, fit_kind): the per-panel fit at a measured size, else the size model."""
        measured = [b for b in boots if _has_panel(b, self.task, self.train_params)]
        panel = [b for b in measured if not is_size_model(b.form)]
        sized = [b for b in boots if is_size_model(b.form)]
        if panel:
            return panel[0], "per-panel fit (measured size)"
        if measured and sized:
            return _panel_refit(sized[0], self.task, self.train_params), "per-panel refit (measured size)"
        if sized:
            return sized[0], "size model (unmeasured size)"
        if measured:
            return measured[0], "per-panel fit (measured size)"
        raise InputError(f"no fit can plan a {self.train_params:.3g}-parameter model for task '{self.task}': the "
                         f"fits have no panel of that size and their form '{boots[0].form.name}' does not model "
                         f"size (fit a *_size form, e.g. offset_exp_size)")

    def _tokens_per_pool_token(self, runs: dict) -> float:
        """Training tokens per pool token at this size, from the runs' training FLOPs (6 N per token) where the
        size was measured (the paper's runs imply 1.0, 1.012 and 1.072 at 7B, 13B and 70B), else 1."""
        same = np.isclose(np.asarray(runs["train_params"], float), self.train_params, rtol=1e-3)
        if not same.any():
            return 1.0
        col = {c: runs[c][same] for c in ("train_flops", "train_params", "fraction", "pool_tokens")}
        implied = col["train_flops"] / (costs.TRAIN_FLOPS_PER_PARAM_TOKEN * col["train_params"] * col["fraction"]
                                        * col["pool_tokens"])
        return median(implied)

    # the curves ------------------------------------------------------------------------------------------
    def selection_flops(self, candidate: Candidate, n_tasks: float | None = None) -> float:
        return costs.selection_flops(candidate.method, candidate.selector_params, self.pool_tokens,
                                     self.n_tasks if n_tasks is None else n_tasks, lora=self.lora)

    def key(self, c: Candidate):
        """The curve key of candidate ``c`` (an index into ``key_index``): (method, selector size) when the form
        makes the curve depend on the selection cost, else (method, None)."""
        return (c.method, c.selector_params) if self._curve_depends_on_cost else (c.method, None)

    def _evaluate_curves(self, n_grid: int) -> None:
        self.log_grid = np.linspace(np.log(self.min_fraction), 0.0, max(int(n_grid), 2))
        self.grid = np.exp(self.log_grid)
        self.grid[-1] = 1.0
        keys = list(dict.fromkeys(self.key(c) for c in self.candidates))
        self.key_index = {k: i for i, k in enumerate(keys)}
        self.sel = np.array([self.selection_flops(c) for c in self.candidates])
        first = {}
        for c, s in zip(self.candidates, self.sel):
            first.setdefault(self.key(c), (c, s))
        heads = [first[k] for k in keys]
        n_keys, n_grid = len(keys), len(self.grid)
        head_cols = {"task": np.array([self.task] * n_keys), "train_model": np.array([self.train_model] * n_keys),
                     "method": np.array([c.method for c, _ in heads]),
                     "train_params": np.full(n_keys, self.train_params),
                     "selector_params": np.array([c.selector_params for c, _ in heads], float),
                     "pool_tokens": np.full(n_keys, self.pool_tokens), "n_tasks": np.full(n_keys, self.n_tasks),
                     "selection_flops": np.array([s for _, s in heads], float)}
        grid_cols = {c: np.repeat(v, n_grid) for c, v in head_cols.items()}
        grid_cols["fraction"] = np.tile(self.grid, n_keys)
        grid_cols["train_flops"] = grid_cols["fraction"] * self.full_train_flops
        grid_cols["total_flops"] = grid_cols["selection_flops"] + grid_cols["train_flops"]
        grid_cols["train_flops_full"] = np.full(n_keys * n_grid, self.full_train_flops)
        grid_cols = context_columns(grid_cols)
        head_cols = context_columns({**head_cols, "fraction": np.ones(n_keys),
                                     "train_flops": np.full(n_keys, self.full_train_flops),
                                     "total_flops": head_cols["selection_flops"] + self.full_train_flops})
        entries = np.vstack([self.boot.x[None], self.boot.values])        # point fit and replicates: one gather
        params = self.boot.param_values(head_cols, values=entries)  # samples x keys, broadcast along the grid
        curves = grid_values(self.form, grid_cols, params, (len(entries), n_keys, n_grid))  # samples x keys x grid
        # a plan never predicts better than its own fit's full-pool level (Pfull, or the paper form's Pbar): a
        # ceiling for higher-is-better metrics, a floor for losses (oriented: sign x metric, capped above)
        cap = next((n for n in ("Pfull", "Pbar") if n in self.form.param_names), None)
        self.capped = cap is not None
        self.ceiling = (self.sign * np.broadcast_to(params[cap], curves.shape[:2]).astype(float) if cap
                        else np.full(curves.shape[:2], np.inf))               # samples x keys, oriented
        self.set_curves(np.minimum(self.sign * curves, self.ceiling[:, :, None]))
        sd = self.boot.noise_sd()
        default = float(np.sqrt(np.mean(np.square(np.array(list(sd.values())))))) if len(sd) else 0.0
        self.noise_sd = float(sd.get((self.task, self.train_model), default))
        self.margin = DEFAULT_MARGIN_SD * self.noise_sd if self.margin_given is None else self.margin_given

    def _pilot_curves(self, boots: list, rule: str) -> None:
        """Replace the curves by pilot-anchored forecasts at this size (``costlaw.pilot``): the level from the
        pilot runs, each method's gain transferred from per-panel fits of the measured sizes. Samples: the point
        forecast plus, per refit, one shift common to every method (the pilots' noise and the shared between-size
        departure, Student t with its degrees of freedom) and one per method (the method's own departure); the
        new run's noise is added back by the prediction band."""
        from ..pilot import shared_transfer
        if self._curve_depends_on_cost:
            raise InputError(f"pilot-anchored plans need a form with the selection cost as an offset; "
                             f"'{self.form.name}' is not")
        source = max(boots, key=lambda b: len(b.unique("train_params")))
        runs = source.fit.runs_
        cols = [c for c in runs.columns if c not in CONTEXT_COLUMNS]
        from ..curves import available_forms
        name = self.form.name
        base = panel_form_name(name) if panel_form_name(name) in available_forms() else name
        transfer = shared_transfer(runs[runs.task == self.task][cols], self.task, form=base, level=self.level)
        rng = np.random.default_rng(self.boot.seed)
        sigma = transfer.noise_sd()
        curves = np.empty_like(self.curves)
        n = len(curves) - 1
        shared = None
        methods = list(dict.fromkeys(method for method, _ in self.key_index))
        fc = transfer.forecast(self.train_params, self.pilots, methods, self.grid, rule=rule,  # one rule choice
                               intervals=False)  # the samples below make the bands (no Student t quantile)
        by_method = {m: g for m, g in fc.groupby("method", sort=False)}
        for (method, _), i in self.key_index.items():
            first = by_method[method].iloc[0]
            if shared is None:
                shared = (rng.normal(size=n) * sigma / np.sqrt(len(self.pilots))
                          + _t_draws(rng, first.df_shared, n) * first.sd_shared)
            point = by_method[method].metric_pred.to_numpy()
            curves[0, i] = self.sign * point
            curves[1:, i] = self.sign * (point[None, :] + (shared + _t_draws(rng, first.df_specific, n)
                                                           * first.sd_specific)[:, None])
        rule = str(fc.rule.iloc[0])
        self.pilot_between_from = str(fc.between_from.iloc[0])
        self.ceiling = np.full(curves.shape[:2], np.inf)
        self.set_curves(curves)
        self.noise_sd = sigma
        self.margin = DEFAULT_MARGIN_SD * sigma if self.margin_given is None else self.margin_given
        sizes = ", ".join(f"{v:.3g}" for v in transfer.sizes)
        self.pilot_source_sizes = list(transfer.sizes)
        self.fit_kind = (f"pilot-anchored forecast ({len(self.pilots)} pilot run(s), {rule} rule; gains from "
                         f"per-panel {base} fits of the measured sizes {sizes})")

    def set_curves(self, curves: np.ndarray) -> None:
        """Take ``curves`` (samples x keys x grid, oriented: sign x metric; the point fit first) as the problem's
        curves, with the running maxima the solver reads."""
        self.curves = curves
        self.run_max = np.maximum.accumulate(self.curves, axis=2)
        idx = np.arange(len(self.grid))
        # the point fit's running argmax (only its fractions are reported): 1 x keys x grid
        self.run_arg = np.maximum.accumulate(np.where(self.curves[:1] >= self.run_max[:1], idx, 0), axis=2)

    # the solver ------------------------------------------------------------------------------------------
    def train_tokens(self, fraction):
        """Tokens trained on for ``fraction`` of the pool (``tokens_per_pool_token`` per pool token)."""
        return np.asarray(fraction, float) * self.pool_tokens * self.tokens_per_pool_token

    def train_flops(self, fraction):
        """Training FLOPs of ``fraction`` of the pool (costs.train_flops, vectorised with the same rounding)."""
        per_token = costs.LORA_TRAIN_FLOPS_PER_PARAM_TOKEN if self.lora else costs.TRAIN_FLOPS_PER_PARAM_TOKEN
        return per_token * self.train_params * self.train_tokens(fraction)

    def max_fraction(self, sel: np.ndarray, budgets: np.ndarray) -> np.ndarray:
        """Largest fraction (<= 1) each budget affords after selection; never lets total_flops exceed it."""
        frac = np.minimum((budgets[None, :] - sel[:, None]) / self.full_train_flops, 1.0)
        for _ in range(8):
            over = sel[:, None] + self.train_flops(frac) > budgets[None, :]
            frac = np.where(over, np.nextafter(frac, -np.inf), frac)
        return frac

    def _interp(self, keys: np.ndarray, frac: np.ndarray) -> np.ndarray:
        """Curves (all samples) at fractions ``frac`` (shape of keys), linear in log f: samples x shape."""
        step = self.log_grid[1] - self.log_grid[0]
        pos = (np.log(np.clip(frac, self.min_fraction, 1.0)) - self.log_grid[0]) / step
        lo = np.clip(np.floor(pos).astype(int), 0, len(self.grid) - 2)
        w = np.clip(pos - lo, 0.0, 1.0)
        return self.curves[:, keys, lo] * (1 - w) + self.curves[:, keys, lo + 1] * w

    def best_given(self, keys: np.ndarray, sel: np.ndarray, budgets: np.ndarray):
        """For curve keys and selection costs (length C) and budgets (B): the best metric of each candidate at
        each budget for every sample (samples x C x B; -inf where unaffordable) and the point fit's fraction."""
        frac_max = self.max_fraction(sel, budgets)
        ok = frac_max >= self.min_fraction
        kk = np.broadcast_to(keys[:, None], frac_max.shape)
        gi = np.clip(np.searchsorted(self.grid, frac_max, side="right") - 1, 0, None)
        on_grid = self.run_max[:, kk, gi]
        at_max = self._interp(kk, frac_max)
        use_max = at_max >= on_grid
        value = np.where(ok[None], np.where(use_max, at_max, on_grid), -np.inf)
        frac = np.where(use_max[0], frac_max, self.grid[self.run_arg[0, kk, gi]])
        return value, np.where(ok, frac, np.nan)

    def predict(self, method: str, fractions) -> np.ndarray:
        """The point fit's metric for ``method`` at ``fractions`` of the pool (capped at the full-pool level)."""
        key = self.key_index[self.key(next(c for c in self.candidates if c.method == method))]
        frac = np.atleast_1d(np.asarray(fractions, float))
        return self.sign * self._interp(np.full(frac.shape, key), frac)[0]

    def best_of_key(self, key: int, sel_flops: np.ndarray, budgets: np.ndarray) -> np.ndarray:
        """Best metric of curve ``key`` when its selection costs ``sel_flops`` (samples x budgets, FLOPs) at each
        budget, for every sample; -inf where the budget cannot pay selection plus ``min_fraction`` of the pool
        (the within-budget guard)."""
        frac_max = np.minimum((budgets[None, :] - sel_flops) / self.full_train_flops, 1.0)
        ok = frac_max >= self.min_fraction
        gi = np.clip(np.searchsorted(self.grid, frac_max, side="right") - 1, 0, None)
        s_idx = np.arange(len(self.curves))[:, None]
        on_grid = self.run_max[s_idx, key, gi]
        step = self.log_grid[1] - self.log_grid[0]
        pos = (np.log(np.clip(frac_max, self.min_fraction, 1.0)) - self.log_grid[0]) / step
        lo = np.clip(np.floor(pos).astype(int), 0, len(self.grid) - 2)
        w = np.clip(pos - lo, 0.0, 1.0)
        curve = self.curves[:, key, :]
        at_max = curve[s_idx, lo] * (1 - w) + curve[s_idx, lo + 1] * w
        return np.where(ok, np.maximum(on_grid, at_max), -np.inf)

    def wins(self, key: int, sel_flops: np.ndarray, theirs: np.ndarray, budgets: np.ndarray,
             margin: float | None = None) -> np.ndarray:
        """Whether curve ``key`` at selection cost ``sel_flops`` beats ``theirs`` (samples x budgets) by more
        than ``margin`` (default: the problem's margin) at each budget and sample."""
        margin = self.margin if margin is None else margin
        return self.best_of_key(key, sel_flops, budgets) > theirs + margin + 1e-6

    def solve(self, budgets_flops) -> dict:
        """Every candidate at every budget: value (samples x C x B), fraction (C x B, point fit), order."""
        budgets = np.atleast_1d(np.asarray(budgets_flops, float))
        if not np.all(budgets > 0):
            raise InputError("budgets must be positive FLOPs")
        keys = np.array([self.key_index[self.key(c)] for c in self.candidates])
        value, frac = self.best_given(keys, self.sel, budgets)
        return {"budgets": budgets, "value": value, "fraction": frac}

    def cheapest_flops(self) -> float:
        """Smallest budget any candidate can plan with (selection plus the minimum fraction)."""
        return float(np.min(self.sel) + self.min_fraction * self.full_train_flops)

    # plans -----------------------------------------------------------------------------------------------
    def rows(self, budget: float, solved: dict, b: int):
        """``records`` as a DataFrame (imports pandas)."""
        from ..tables import frame
        return frame(self.records(budget, solved, b))

    def records(self, budget: float, solved: dict, b: int) -> list[dict]:
        """One record per candidate at budget b of ``solved``, ranked best first (unaffordable last)."""
        value, frac = solved["value"][:, :, b], solved["fraction"][:, b]
        order = np.lexsort((self.sel, -np.where(np.isfinite(value[0]), value[0], -np.inf)))
        # p_best: re-solved per replicate; ties go to the cheaper selector
        by_cost = np.argsort(self.sel, kind="stable")
        winners = by_cost[np.argmax(value[1:][:, by_cost], axis=1)] if len(value) > 1 else by_cost[:0]
        feasible = np.isfinite(value[1:]).any(axis=1) if len(value) > 1 else np.array([], bool)
        counts = np.bincount(winners[feasible], minlength=len(self.candidates))
        p_best = counts / max(len(value) - 1, 1)
        at, lo, hi, pred_lo, pred_hi = (v[..., b] for v in self._bands(solved))
        if self.sign < 0:  # oriented (-loss) back to the metric: the intervals mirror, so orientation is moot
            at, (lo, hi), (pred_lo, pred_hi) = -at, (-hi, -lo), (-pred_hi, -pred_lo)
        # lead over the next-ranked affordable candidate, each re-solved per refit, and P(lead > margin)
        ranked = [i for i in order if np.isfinite(value[0, i])]
        nxt = {a: b for a, b in zip(ranked, ranked[1:])}
        out = []
        for i in order:
            c, f = self.candidates[i], frac[i]
            affordable = bool(np.isfinite(value[0, i]))
            train = float(self.train_flops(f)) if affordable else np.nan
            out.append({
                "method": c.method, "selector_params": c.selector_params,
                "fraction": f if affordable else np.nan,
                "train_tokens": float(self.train_tokens(f)) if affordable else np.nan,
                "selection_flops": self.sel[i], "train_flops": train,
                "total_flops": self.sel[i] + train if affordable else np.nan,
                "metric_pred": at[0, i] if affordable else np.nan,
                "metric_lo": lo[i] if affordable else np.nan, "metric_hi": hi[i] if affordable else np.nan,
                "pred_lo": pred_lo[i] if affordable else np.nan, "pred_hi": pred_hi[i] if affordable else np.nan,
                "p_best": p_best[i], "affordable": affordable,
                "next_method": self.candidates[nxt[i]].label if i in nxt else None,
                "lead_over_next": value[0, i] - value[0, nxt[i]] if i in nxt else np.nan,
                "p_lead": (float(np.mean(value[1:, i] - value[1:, nxt[i]] > self.margin)) if i in nxt
                           and len(value) > 1 else np.nan),
                "min_total_flops": self.sel[i] + self.min_fraction * self.full_train_flops,
                "extrapolated": bool(affordable and (f < self.fitted_fractions[0] * (1 - 1e-9)
                                                     or not self._size_in_range())),
                "selector_measured": self._selector_measured(c),
            })
        return out

    def _bands(self, solved: dict) -> tuple:
        """(at, lo, hi, pred_lo, pred_hi) of every candidate at every budget of ``solved``: the curves at the point
        fit's fraction (samples x C x B), their percentile interval and the prediction band (C x B), computed once
        for all budgets (kept in ``solved``). The band's run noise is one draw per (refit, candidate) from the
        fit's seed, the same at every budget, as ``prediction_band`` draws it for one budget."""
        if "bands" not in solved:
            frac = solved["fraction"]
            keys = np.array([self.key_index[self.key(c)] for c in self.candidates])
            at = self._interp(np.broadcast_to(keys[:, None], frac.shape), np.nan_to_num(frac, nan=self.min_fraction))
            refits = at[1:] if len(at) > 1 else at
            lo, hi = percentile_interval(at[1:], self.level) if len(at) > 1 else (at[0], at[0])
            draws = np.random.default_rng(self.boot.seed).normal(size=refits.shape[:2])
            noisy = refits + draws[:, :, None] * np.asarray(self.noise_sd, float)
            pred_lo, pred_hi = percentile_interval(noisy, self.level)
            solved["bands"] = (at, lo, hi, pred_lo, pred_hi)
        return solved["bands"]

    def _size_in_range(self) -> bool:
        lo, hi = self.fitted_sizes
        return lo * (1 - 1e-3) <= self.train_params <= hi * (1 + 1e-3)

    def _selector_measured(self, c: Candidate) -> bool:
        known = self._measured  # per candidate, computed once (records() asks at every budget)
        if c not in known:
            runs = self.run_columns
            seen = np.asarray(runs["selector_params"], float)[runs["method"] == c.method]
            known[c] = (not costs.selector_cost(c.method).uses_selector_model
                        or bool(np.any(np.isclose(seen, c.selector_params, rtol=1e-3))))
        return known[c]

    def _size_model_error_note(self) -> str:
        """How far the bundled size model misses a held-out size (the shipped ``leave_size_out`` comparison): the
        fold in the same position as this plan's size (between measured sizes: the interpolation fold; above or
        below them: the extrapolation fold that way) and every fold pooled."""
        from .forms import SIZE_HELDOUT, SIZE_PROTOCOL, compare_rows
        base = panel_form_name(self.form.name)
        rows = [r for r in compare_rows(SIZE_HELDOUT) if r["form"] == base]
        lo, hi = self.fitted_sizes
        position = ("interpolation" if lo < self.train_params < hi else
                    "extrapolation up" if self.train_params >= hi else "extrapolation down")
        fold = next((r for r in rows if r["protocol"].startswith(f"{SIZE_PROTOCOL}@") and ":" not in r["protocol"]
                     and r.get("position") == position), None)
        pooled = next((r for r in rows if r["protocol"] == SIZE_PROTOCOL), None)
        if fold is None or pooled is None:
            return "the size model's held-out error is not known"
        return (f"size models are rough: holding out each measured size in turn, {self.form.name} misses the "
                f"{fold['held_out']} runs ({position}, like this size) by {float(fold['heldout_rmse']):.2g} points "
                f"RMSE with {100 * float(fold['coverage']):.0f}% inside its 90% intervals ({float(pooled['heldout_rmse']):.2g} "
                f"and {100 * float(pooled['coverage']):.0f}% over every size; fits/{SIZE_HELDOUT}): read the "
                f"levels and intervals here as rough; a pilot run at this size (--pilot) anchors the level")

    def notes(self) -> list[str]:
        out = [f"scored by the {self.fit_kind}: form {self.form.name}"]
        if self.pilots:
            from .forms import PILOT_FORMS_HELDOUT, pilot_ranking
            r = pilot_ranking()
            if r is not None:
                out.append(f"which method is best is not predictable across sizes: on the paper's runs, holding out "
                           f"each size in turn, pilot forecasts pick the best method at {r['hits']} of "
                           f"{r['n_ranked']} (task, fraction) points ({100 * r['accuracy']:.0f}%, 90% interval "
                           f"{100 * r['lo']:.0f}-{100 * r['hi']:.0f}%), against {r['baseline_hits']} of "
                           f"{r['n_ranked']} for the best method at the nearest measured size "
                           f"({r['form']} forecasts, fits/{PILOT_FORMS_HELDOUT}); read p_best and the verdict, "
                           f"not the rank")
            k = len(self.pilot_source_sizes)
            if k == 1:
                out.append("the forecasts come from one measured size: their intervals hold only run noise, not "
                           "how curves depart between sizes")
            elif k == 2:
                out.append("the forecasts' between-size variance comes from two measured sizes (one contrast): "
                           "the intervals are wide, and a size that departs in a way the measured ones do not "
                           "show stays uncovered (13B from 7B + 70B on the paper's runs)")
            if self.pilot_between_from == "pilots":
                out.append("the pilots disagree with the transfer more than the measured sizes did: the intervals "
                           "use the pilots' own departure (few degrees of freedom, wide)")
            elif self.pilot_between_from == "sources+pilots":
                out.append("the pilots follow the transfer at least as well as the measured sizes did: their "
                           "agreement updates the between-size variance (narrower intervals)")
            elif len({(p.method, p.fraction) for p in self.pilots}) == 1 and k >= 2:
                out.append("pilots at one configuration cannot show whether this size departs from the measured "
                           "ones; a pilot at a second configuration (e.g. bm25 at the same fraction) can")
        elif self.bundled and self.fit_kind.startswith("size model"):
            out.append(self._size_model_error_note())
        if self.tokens_per_pool_token != 1.0:
            out.append(f"training tokens per pool token at this size from the runs' training FLOPs: "
                       f"{self.tokens_per_pool_token:.4g}")
        if not self.higher_is_better:
            out.append(f"lower is better for {self.task} (higher_is_better false): the best plan has the lowest "
                       f"predicted metric, leads and gains are reductions"
                       + (", and no curve goes below its fit's full-pool level" if self.capped else ""))
        out.append(f"a plan beats another only by more than the margin, {self.margin:.3g} metric points ("
                   + ("given" if self.margin_given is not None else f"{DEFAULT_MARGIN_SD:g} x the panel's noise sd")
                   + ")")
        if not self.form.selector_size_dependence:
            sizes = sorted({float(s) for m, s in zip(self.run_columns["method"].tolist(),
                                                     self.run_columns["selector_params"].tolist())
                            if costs.selector_cost(m).uses_selector_model and m not in ("embed",)})
            seen = ", ".join(f"{s:.3g}" for s in sizes) or "none"
            out.append(f"selection quality is assumed independent of selector size (the fits saw {seen} "
                       f"selectors): a smaller selector only saves cost; unmeasured sizes are marked *")
        lo, hi = self.fitted_fractions
        out.append(f"curves are trusted within the fitted fractions {lo:g}..{hi:g} of the pool; "
                   f"plans below {lo:g} are extrapolated (marked !)")
        if not self._size_in_range():
            out.append(f"train_params {self.train_params:.3g} is outside the fitted sizes "
                       f"{self.fitted_sizes[0]:.3g}..{self.fitted_sizes[1]:.3g}: the size model extrapolates (!)")
        if not np.isclose(self.pool_tokens, self.fitted_pool_tokens, rtol=0.01):
            out.append(f"curves in the fraction of the pool are assumed to transfer from the fitted pool "
                       f"({self.fitted_pool_tokens:.4g} tokens) to this one ({self.pool_tokens:.4g})")
        return out


def _t_draws(rng, df: float, n: int) -> np.ndarray:
    """n standard Student t draws with ``df`` degrees of freedom (normal when infinite or 0 = no estimate)."""
    return rng.standard_t(df, size=n) if 0 < df < np.inf else rng.normal(size=n)

