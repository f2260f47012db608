import pytest

from costlaw import costs
from costlaw.datasets import paper_runs


def test_paper_selection_costs_within_1pct():
    assert costs.selection_flops("ppl", 7e9) == pytest.approx(1.5313e18, rel=0.01)
    assert costs.selection_flops("less", 7e9) == pytest.approx(8.269e18, rel=0.01)
    assert costs.selection_flops("random") == 0 and costs.selection_flops("bm25") == 0


@pytest.mark.parametrize("n_tasks", [5, 10, 20])
def test_less_amortisation(n_tasks):
    full = costs.selection_flops("less", 7e9)
    assert costs.selection_flops("less", 7e9, n_tasks=n_tasks) == pytest.approx(full / n_tasks, rel=1e-9)


def test_ppl_is_not_shared_across_tasks():
    assert costs.selection_flops("ppl", 7e9, n_tasks=10) == costs.selection_flops("ppl", 7e9)


def test_cost_model_matches_bundled_runs():
    runs = paper_runs()
    for method in ("ppl", "less"):
        observed = runs[(runs.method == method) & (runs.train_model == "llama2-7b")].selection_flops
        assert observed.median() == pytest.approx(costs.selection_flops(method, 7e9), rel=0.01)


def test_training_flops_6n_and_lora():
    assert costs.train_flops(7e9, 1e8) == pytest.approx(4.2e18)
    assert costs.train_flops(7e9, 1e8, lora=True) == pytest.approx(2.8e18)
    runs = paper_runs()
    full = runs[(runs.train_model == "llama2-7b") & (runs.fraction == 1.0) & (runs.method == "random")]
    assert full.train_flops.iloc[0] == pytest.approx(costs.train_flops(7e9, costs.PAPER_POOL_TOKENS), rel=0.01)


def test_physical_less_is_costlier_and_counts_projection():
    paper = costs.LESSCost().flops(7e9, costs.PAPER_POOL_TOKENS)
    physical = costs.LESSCost.physical().flops(7e9, costs.PAPER_POOL_TOKENS)
    projected = costs.LESSCost.physical(gradient_dims=1e8).flops(7e9, costs.PAPER_POOL_TOKENS)
    assert physical > paper and projected > physical


def test_selection_cost_scales_with_selector_size():
    per_param = costs.selection_flops_per_selector_param("ppl")
    assert costs.selection_flops("ppl", 1e9) == pytest.approx(1e9 * per_param)


def test_unknown_method_lists_known():
    with pytest.raises(KeyError, match="available: .*bm25"):
        costs.selector_cost("dsir")


def test_bad_n_tasks():
    with pytest.raises(ValueError, match="n_tasks"):
        costs.selection_flops("less", 7e9, n_tasks=0)
