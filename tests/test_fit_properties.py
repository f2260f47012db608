"""Properties of the fitting engine: fits recover planted parameters; refits under weights are consistent."""
import numpy as np
import pandas as pd
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from costlaw import fit
from costlaw.curves import exp_shape
from costlaw.fitting import refit

FRACTIONS = (0.025, 0.05, 0.1, 0.25, 0.5, 1.0)


def planted_runs(p0, gain, rates, noise, seed):
    rng = np.random.default_rng(seed)
    rows = []
    for i, k in enumerate(rates):
        for f in FRACTIONS:
            metric = p0 + gain * exp_shape(f, k) + rng.normal(0, noise)
            rows.append(dict(task="t", train_model="m", train_params=1e9, method=f"m{i}", selector_params=0,
                             fraction=f, pool_tokens=1e6, selection_flops=0.0, train_flops=6e15 * f,
                             total_flops=6e15 * f, metric=metric))
    return pd.DataFrame(rows)


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(p0=st.floats(10, 80), gain=st.floats(2, 15), rates=st.lists(st.floats(0.5, 25), min_size=2, max_size=4),
       seed=st.integers(0, 10_000))
def test_offset_exp_recovers_planted_parameters(p0, gain, rates, seed):
    fitted = fit(planted_runs(p0, gain, rates, 1e-4, seed), "offset_exp", warn=False)
    summary = fitted.summary()
    assert fitted.converged_
    assert np.allclose(summary.P0, p0, atol=0.02) and np.allclose(summary.Pfull, p0 + gain, atol=0.01)
    assert np.allclose(summary.k.to_numpy(), rates, rtol=0.05, atol=0.05)


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(p0=st.floats(10, 80), gain=st.floats(2, 15), rates=st.lists(st.floats(0.5, 25), min_size=2, max_size=3),
       seed=st.integers(0, 10_000), scale=st.floats(0.5, 4.0))
def test_refit_under_uniform_weights_keeps_the_optimum(p0, gain, rates, seed, scale):
    fitted = fit(planted_runs(p0, gain, rates, 0.2, seed), "offset_exp", warn=False)
    values, converged = refit(fitted, np.full((1, len(fitted.runs_)), scale))
    assert converged.all()
    assert np.allclose(fitted.predict(fitted.runs_, values=values)[0], fitted.predict(fitted.runs_), atol=1e-4)
