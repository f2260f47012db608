"""The fitting engine: analytic Jacobians against finite differences, the batched bootstrap against independent
per-replicate least_squares refits, at-bound and underdetermined diagnostics."""
import warnings

import numpy as np
import pandas as pd
import pytest

from costlaw import fit, get_form
from costlaw.curves import available_forms, columns, numerical_derivatives
from costlaw.errors import CostlawWarning
from costlaw.fitting import context
from costlaw.uncertainty import bootstrap, quantiles, resample_counts

PLAUSIBLE = {"P0": (30.0, 50.0), "Pfull": (45.0, 60.0), "Pbar": (55.0, 60.0), "k": (-20.0, 60.0),
             "rate": (0.01, 30.0), "alpha": (0.05, 4.0), "log10_s": (-4.0, 2.0), "width": (0.1, 10.0),
             "mu": (-10.0, 5.0)}


@pytest.mark.parametrize("name", [n for n in available_forms() if get_form(n).jacobian is not None])
def test_analytic_jacobian_matches_finite_differences(name, paper_runs):
    form = get_form(name)
    rows = columns(context(paper_runs))
    rng = np.random.default_rng(1)
    for _ in range(5):
        params = {p.name: rng.uniform(*PLAUSIBLE[p.name], size=len(paper_runs)) for p in form.params}
        analytic = form.derivatives(rows, **params)
        numeric = numerical_derivatives(form.function, rows, params)
        for p in form.params:
            scale = np.maximum(np.abs(numeric[p.name]), 1e-3)
            assert np.max(np.abs(analytic[p.name] - numeric[p.name]) / scale) < 1e-4, (name, p.name)


def test_exp_rate_derivative_is_continuous_at_zero(paper_runs):
    form = get_form("offset_exp")
    rows = columns(context(paper_runs))
    base = {"P0": 40.0, "Pfull": 50.0}
    near = [form.derivatives(rows, **base, k=np.full(len(paper_runs), k))["k"] for k in (-1e-5, 0.0, 1e-5)]
    assert np.allclose(near[0], near[1], atol=1e-3) and np.allclose(near[2], near[1], atol=1e-3)


def test_user_form_without_jacobian_fits_numerically(paper_runs):
    from costlaw.curves import Form, Param
    params = (Param("a", (-100, 200), (40.0,)), Param("b", (-100, 100), (1.0,), by=("task", "train_model", "method")))
    linear = Form("linear_in_f", params, lambda rows, a, b: a + b * rows.fraction)
    sub = paper_runs[paper_runs.task == "mmlu"]
    fitted = fit(sub, linear, warn=False)
    reference = fit(sub, linear, method="trf", warn=False)
    assert fitted.converged_ and fitted.rmse == pytest.approx(reference.rmse, rel=1e-8)


@pytest.mark.parametrize("form", ["offset_exp", "offset_exp_size"])
def test_batched_bootstrap_matches_per_replicate_least_squares(paper_runs, form):
    """Same resamples, two engines: the batched weighted refit against scipy least_squares on the resampled
    rows (design, bounds and starts rebuilt per replicate, as costlaw did before). Interval ends within 1e-3."""
    point = fit(paper_runs, form, warn=False)
    n_boot, seed = 20, 4
    boot = bootstrap(point, n_boot=n_boot, seed=seed)
    counts = resample_counts(point.runs_, n_boot, np.random.default_rng(seed))
    table = point.params_.set_index(["param", "group", "kind"])
    reference = []
    for c in counts:
        rows = point.runs_.iloc[np.repeat(np.arange(len(point.runs_)), c.astype(int))]
        refit = fit(rows, point.form, start=point, validate=False, warn=False, method="trf")
        reference.append(refit.params_.set_index(["param", "group", "kind"]).value.reindex(table.index).to_numpy())
    free = ~point.params_.fixed.to_numpy()
    lo_ref, hi_ref = quantiles(np.array(reference)[:, free], 0.9)
    ours = boot.params()
    assert np.max(np.abs(ours.lo.to_numpy() - lo_ref)) < 1e-3
    assert np.max(np.abs(ours.hi.to_numpy() - hi_ref)) < 1e-3
    assert boot.converged.all()


def test_fit_reports_parameters_at_a_bound(paper_runs):
    with pytest.warns(CostlawWarning, match="at a bound: k\\[bbh\\|llama2-13b\\|bm25\\] = 80"):
        fitted = fit(paper_runs, "offset_exp")
    assert fitted.stats()["n_at_bound"] == 1
    assert fitted.diagnostics_["at_bound"][0]["bound"] == "upper"


@pytest.mark.parametrize("subset, reason", [
    (lambda r: r.iloc[:1], "fewer runs than parameters"),
    (lambda r: r[r.fraction == 1.0], "every run at one fraction"),
])
def test_fit_warns_when_underdetermined(paper_runs, subset, reason):
    with pytest.warns(CostlawWarning, match=reason):
        fitted = fit(subset(paper_runs), "offset_exp")
    assert fitted.stats()["n_underdetermined"] >= 1


def test_well_posed_fit_gives_no_warning(paper_runs):
    with warnings.catch_warnings():
        warnings.simplefilter("error", CostlawWarning)
        fitted = fit(paper_runs[paper_runs.task == "mmlu"], "offset_exp")
    assert fitted.stats()["n_at_bound"] == 0


def test_repr_and_report_name_the_findings(paper_runs):
    fitted = fit(paper_runs, "offset_exp", warn=False)
    assert repr(fitted).startswith("CurveFit(form='offset_exp'") and "at_bound=1" in repr(fitted)
    report = fitted.report()
    assert "[[Parameters]]" in report and "k[bbh|llama2-13b|bm25]" in report and "*" in report
    assert "[[Warnings]]" in report and "at a bound" in report
    assert np.isfinite(fitted.stderr_[~fitted.params_.at_bound.to_numpy()]).all()


def test_reproduce_shows_at_bound_counts(reproduced_paper):
    out, printed = reproduced_paper
    stats = pd.read_csv(out / "stats.csv").set_index("form")
    assert stats.loc["offset_exp", "n_at_bound"] == 1 and stats.loc["paper", "n_at_bound"] == 8
    assert "Fit warnings" in printed and "at a bound" in printed


def test_store_refuses_another_format_version(tmp_path, paper_runs):
    import json

    from costlaw.errors import CostlawError
    from costlaw.store import load_fit_arrays, load_fits, save_fits
    boot = bootstrap(fit(paper_runs[paper_runs.task == "mmlu"], "offset_exp", warn=False), n_boot=4)
    save_fits([boot], tmp_path)
    data = json.loads((tmp_path / "fit.json").read_text())
    assert np.asarray(data["groups"][0]["replicates"]).shape == (4, len(boot.fit.x_))  # one row per replicate
    loaded = load_fits(tmp_path)[0]
    assert np.allclose(loaded.values, boot.values) and np.allclose(loaded.fit.predict(paper_runs[:5]),
                                                                   boot.fit.predict(paper_runs[:5]))
    arrays = load_fit_arrays(tmp_path)[0].bootstrap()          # the planner's fit, as pandas: the same reader
    assert np.array_equal(arrays.values, loaded.values) and np.array_equal(arrays.converged, loaded.converged)
    assert (arrays.seed, arrays.level) == (loaded.seed, loaded.level) == (boot.seed, boot.level)
    data["costlaw_fit_version"] = 1
    (tmp_path / "fit.json").write_text(json.dumps(data))
    with pytest.raises(CostlawError, match="format version 1.*reads version 2"):
        load_fits(tmp_path)
    data["costlaw_fit_version"] = 2
    del data["groups"][0]["seed"]
    (tmp_path / "fit.json").write_text(json.dumps(data))
    with pytest.raises(CostlawError, match="not a valid costlaw fit file.*seed"):
        load_fits(tmp_path)


def test_planner_does_not_import_the_reproduce_job():
    import subprocess
    import sys
    code = "import sys, costlaw.planner, costlaw.store; print('costlaw.reproduce' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"


def test_plan_imports_only_what_it_needs():
    import subprocess
    import sys
    code = ("import sys; from costlaw import plan; plan(2e18, 7e9, 1.0938e8, task='mmlu'); "
            "print(sorted(m for m in ('matplotlib', 'statsmodels', 'scipy.optimize', 'scipy.stats', "
            "'costlaw.reproduce', 'costlaw.compare') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


@pytest.mark.parametrize("name", ["offset_exp_size", "power_size", "logistic_size"])
def test_size_model_design_jacobian_matches_finite_differences(name, paper_runs):
    """White box: the fit's Jacobian of the residuals in every free entry of a block, levels' slopes in log10
    N_train included (the chain rule through the size covariate), against central differences, at the fit."""
    from costlaw.fitting import _Design, build_layout
    form = get_form(name)
    fitted = fit(paper_runs, form, warn=False)
    runs = context(paper_runs)
    layout, maps = build_layout(form, runs)
    design = _Design(layout, runs, maps)
    for b, entries in enumerate(design.block_entries):
        rows = design.block_rows[b][None, :]
        w = np.ones(rows.shape)
        x = fitted.x_[entries][None, :]
        _, jac = design.evaluate(x, rows, w)
        for j in range(x.shape[1]):
            step = 1e-6 * max(abs(x[0, j]), 1.0)
            up, down = x.copy(), x.copy()
            up[0, j] += step
            down[0, j] -= step
            numeric = (design.evaluate(up, rows, w, jacobian=False)[0]
                       - design.evaluate(down, rows, w, jacobian=False)[0]) / (2 * step)
            scale = max(np.max(np.abs(numeric)), 1e-3)
            assert np.max(np.abs(jac[0, :, j] - numeric[0])) / scale < 1e-5, (name, b, j)
