"""Plan a budget: which selector, how large a selector, how many training tokens, with bootstrap intervals.

A plan for one target task trains a model of ``train_params`` parameters on a fraction f of a pool of
``pool_tokens`` tokens chosen by a selector (method, selector_params). It pays

    selection_flops(method, selector_params, pool_tokens, n_tasks) + train_flops(train_params, f x pool_tokens)

from ``budget_flops`` and is scored by fitted utility curves (metric as a function of f, per task and method):
at a measured size by that panel's own fit and elsewhere by a size-aware fit (default: the bundled paper
fits of the forms that win held-out comparison, ``planner.forms``). For each candidate the best fraction is the
argmax of the predicted metric over the fractions the budget affords (curves may be non-monotone); the best plan
is the candidate with the highest predicted metric (lowest for a lower-is-better metric such as a loss), ties
going to the cheaper selector. Every answer (plan, sweep, break-even map, tipping point) is also re-solved under
each shipped form, with the verdict "depends on the form" where they disagree. Every bootstrap replicate of the fit is re-solved, which gives 90% intervals and ``p_best``,
the share of replicates in which a candidate is the best plan.

Assumptions (stated in every plan's notes): the curves in f transfer from the fitted pool to the user's pool;
they are trusted within the fitted fractions (0.025..1 for the paper) and extrapolated below; and unless the
form models it (``Form.selector_size_dependence``), selection quality does not depend on the selector's size,
so a smaller selector only saves cost (the paper's runs all use a 7B selector and cannot identify it).
"""
from __future__ import annotations

from .candidates import (
    DEFAULT_FITS,
    DEFAULT_SELECTORS,
    MAP_TASKS,
    MIN_FRACTION,
    N_GRID,
    PLAN_COLUMNS,
    Candidate,
    parse_selectors,
)
from .command import run_plan_command
from .problem import Problem
from .results import Plan, Tipping, plan, tipping_point
from .sweeps import (
    BreakevenMap,
    BudgetSweep,
    breakeven_map,
    parse_budgets,
    plan_budgets,
)

__all__ = ['BreakevenMap', 'BudgetSweep', 'Candidate', 'DEFAULT_FITS', 'DEFAULT_SELECTORS', 'MAP_TASKS', 'MIN_FRACTION', 'N_GRID', 'PLAN_COLUMNS', 'Plan', 'Problem', 'Tipping', 'breakeven_map', 'parse_budgets', 'parse_selectors', 'plan', 'plan_budgets', 'run_plan_command', 'tipping_point']
