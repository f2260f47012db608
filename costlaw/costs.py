"""Analytic FLOP counts for finetuning and for each data selector.

Conventions (Kaplan et al. 2020; Hoffmann et al. 2022): a forward pass costs 2 FLOPs per parameter per token,
forward + backward 6. A multiply-add counts as 2 FLOPs. Every default below says where it comes from; the
``paper`` defaults reproduce the selection costs plotted by Yin & Rush (2025): PPL 1.5313e18 and LESS 8.269e18
FLOPs for a 7B selector over their 1.0938e8-token pool.

Selection work splits into a target-independent part (pool embeddings, a BM25 index, LESS's warmup and pool
gradient features) that ``n_tasks`` target tasks can share, and a target-specific part paid by each task.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, replace

from .checks import check_number
from .registry import Registry

FORWARD_FLOPS_PER_PARAM_TOKEN = 2.0
"""Forward pass: one multiply-add per parameter per token (Kaplan et al. 2020)."""
TRAIN_FLOPS_PER_PARAM_TOKEN = 6.0
"""Forward + backward with weight gradients; what the paper charges for training, LoRA included."""
LORA_TRAIN_FLOPS_PER_PARAM_TOKEN = 4.0
"""LoRA-aware: forward 2N + activation gradients 2N; frozen matrices get no weight gradients (adapters ~0)."""

PAPER_SELECTOR_PARAMS = 7e9
"""Llama-2-7B, the paper's PPL and LESS selector at every training size."""
PAPER_POOL_TOKENS = 1.5313e18 / (FORWARD_FLOPS_PER_PARAM_TOKEN * PAPER_SELECTOR_PARAMS)
"""Tokens of the paper's 270,679-example pool, solved from its PPL cost (one 7B forward pass): 1.0938e8."""
PAPER_POOL_EXAMPLES = 270_679
"""Flan v2 + CoT + Dolly + OASST1 (Yin & Rush 2025, after LESS, Xia et al. 2024)."""
EMBED_PARAMS = 110e6
"""GTR-T5-base encoder used by the paper for Embed (~110M parameters)."""


def train_flops(train_params: float, train_tokens: float, lora: bool = False) -> float:
    """FLOPs to finetune a model of ``train_params`` parameters on ``train_tokens`` tokens.

    6 N per token (the paper's count, also used for its LoRA runs) or, with ``lora=True``, 4 N per token.
    """
    per_token = LORA_TRAIN_FLOPS_PER_PARAM_TOKEN if lora else TRAIN_FLOPS_PER_PARAM_TOKEN
    return per_token * check_number(train_params, "train_params", low=0) * check_number(train_tokens, "train_tokens",
                                                                                         low=0)


@dataclass(frozen=True)
class SelectionCost:
    """Selection compute in FLOPs, split by whether other target tasks can share it."""

    shared_flops: float
    """Target-independent work (pool side), divisible over n_tasks."""
    per_task_flops: float
    """Target-specific work (validation side, selector tuning), paid by every task."""

    def flops(self, n_tasks: float = 1) -> float:
        """Selection FLOPs charged to one task when the shared work is split over ``n_tasks`` tasks."""
        n_tasks = check_number(n_tasks, "n_tasks", low=1, allow_inf=True)
        return self.shared_flops / n_tasks + self.per_task_flops


@dataclass(frozen=True)
class SelectorCost:
    """Base of the per-method cost models; subclasses compute ``cost(selector_params, pool_tokens)``."""

    name = "base"
    uses_selector_model = False
    default_params = 0.0
    """Selector size (parameters) used when none is given: the size the paper ran (0 for model-free methods)."""

    def cost(self, selector_params: float, pool_tokens: float) -> SelectionCost:  # pragma: no cover
        raise NotImplementedError

    def flops(self, selector_params: float, pool_tokens: float, n_tasks: float = 1) -> float:
        """Selection FLOPs for one task (FLOPs)."""
        return self.cost(selector_params, pool_tokens).flops(n_tasks)

    def describe(self) -> dict:
        return {"method": self.name, **asdict(self)}


@dataclass(frozen=True)
class RandomCost(SelectorCost):
    """Uniform sampling: no model, no compute."""

    name = "random"

    def cost(self, selector_params=0.0, pool_tokens=0.0) -> SelectionCost:
        return SelectionCost(0.0, 0.0)


@dataclass(frozen=True)
class BM25Cost(SelectorCost):
    """Lexical BM25: a sparse index and lookups on CPU, charged 0 FLOPs as in the paper (no matmuls)."""

    name = "bm25"

    def cost(self, selector_params=0.0, pool_tokens=0.0) -> SelectionCost:
        return SelectionCost(0.0, 0.0)


@dataclass(frozen=True)
class EmbedCost(SelectorCost):
    """Sentence embeddings: one encoder forward pass over the pool (shared) and the validation set (per task).

    The paper charged Embed ~0; this counts 2 N_embed per token, which for its 110M GTR-T5 encoder over the
    pool is 2.4e16 FLOPs, about a fifth of its smallest 7B run.
    """

    name = "embed"
    uses_selector_model = True
    default_params = EMBED_PARAMS
    validation_tokens: float = 0.0
    """Tokens of the target's validation set (tiny; 0 as in the paper)."""

    def cost(self, selector_params=EMBED_PARAMS, pool_tokens=PAPER_POOL_TOKENS) -> SelectionCost:
        fwd = FORWARD_FLOPS_PER_PARAM_TOKEN * selector_params
        return SelectionCost(fwd * pool_tokens, fwd * self.validation_tokens)


@dataclass(frozen=True)
class PPLCost(SelectorCost):
    """Perplexity ranking: tune a selector LM on the validation set, then one forward pass over the pool.

    The selector is tuned on the target, so nothing is shared across tasks. The paper's plotted cost is the
    forward pass alone (2 N_sel per pool token); ``tuning_tokens`` x ``tuning_epochs`` adds the tuning
    (CCDS tunes 25 epochs on the validation set).
    """

    name = "ppl"
    uses_selector_model = True
    default_params = PAPER_SELECTOR_PARAMS
    tuning_tokens: float = 0.0
    """Validation tokens the selector is tuned on (0: the paper does not charge tuning)."""
    tuning_epochs: float = 25.0
    """Epochs of selector tuning (CCDS repository)."""
    lora: bool = True
    """Selector tuned with LoRA (4 N per token) rather than full finetuning (6 N)."""

    def cost(self, selector_params=PAPER_SELECTOR_PARAMS, pool_tokens=PAPER_POOL_TOKENS) -> SelectionCost:
        scoring = FORWARD_FLOPS_PER_PARAM_TOKEN * selector_params * pool_tokens
        tuning = train_flops(selector_params, self.tuning_tokens * self.tuning_epochs, lora=self.lora)
        return SelectionCost(0.0, scoring + tuning)


@dataclass(frozen=True)
class LESSCost(SelectorCost):
    """LESS-style gradient selection (Xia et al. 2024): LoRA warmup, gradient features at checkpoints, projection.

    Shared across tasks: warmup on ``warmup_share`` of the pool for ``warmup_epochs`` (6 N per token) and the
    pool's gradient features at each of ``checkpoints`` checkpoints (``gradient_flops_per_param_token`` N per
    token each) plus a random projection of each example's ``gradient_dims``-dimensional LoRA gradient to
    ``projection_dims`` (2 x gradient_dims x projection_dims FLOPs per example and checkpoint).
    Per task: the same features for ``validation_tokens``.

    Defaults reproduce the paper's 8.269e18 FLOPs for a 7B selector (10.8 N per pool token): warmup
    0.05 x 4 x 6 = 1.2 N, leaving 2.4 N per token per checkpoint, which the paper does not break down and which
    is below a physical LoRA forward + backward (4 N). ``LESSCost.physical()`` gives the physical count.
    """

    name = "less"
    uses_selector_model = True
    default_params = PAPER_SELECTOR_PARAMS
    warmup_share: float = 0.05
    """Share of the pool used for warmup training (LESS: 5%)."""
    warmup_epochs: float = 4.0
    """Warmup epochs (LESS: 4)."""
    checkpoints: int = 4
    """Warmup checkpoints at which gradient features are taken (LESS: 4)."""
    gradient_flops_per_param_token: float = 2.4
    """Per token and checkpoint, in units of N: solved from the paper's total, (10.8 - 1.2) / 4."""
    gradient_dims: float = 0.0
    """Dimensions of one example's LoRA gradient; 0 leaves the projection out, as the paper's total does."""
    projection_dims: float = 8192
    """Random projection target dimension (LESS: 8192)."""
    pool_examples: float = PAPER_POOL_EXAMPLES
    """Examples in the pool (for the per-example projection)."""
    validation_tokens: float = 0.0
    """Validation tokens whose gradients are taken per task (tiny; 0 as in the paper)."""
    warmup_lora: bool = False
    """Charge the warmup as LoRA training (4 N per token) instead of 6 N; ``selection_flops(..., lora=True)``."""

    @classmethod
    def physical(cls, gradient_dims: float = 0.0, **kw) -> "LESSCost":
        """LoRA forward + activation backward (4 N per token) per checkpoint, projection counted if dims given."""
        return cls(gradient_flops_per_param_token=LORA_TRAIN_FLOPS_PER_PARAM_TOKEN, gradient_dims=gradient_dims, **kw)

    def cost(self, selector_params=PAPER_SELECTOR_PARAMS, pool_tokens=PAPER_POOL_TOKENS) -> SelectionCost:
        warmup = train_flops(selector_params, self.warmup_share * self.warmup_epochs * pool_tokens,
                             lora=self.warmup_lora)
        per_token = self.gradient_flops_per_param_token * selector_params * self.checkpoints
        projection_per_example = 2.0 * self.gradient_dims * self.projection_dims * self.checkpoints
        shared = warmup + per_token * pool_tokens + projection_per_example * self.pool_examples
        return SelectionCost(shared, per_token * self.validation_tokens)


SELECTOR_COSTS: Registry[SelectorCost] = Registry("selector")
"""Cost model per method name; ``register_selector_cost`` adds one, ``selector_cost`` looks one up."""


def register_selector_cost(cost: SelectorCost, replace: bool = False) -> SelectorCost:
    """Make ``cost`` the cost model of the method ``cost.name`` (a taken name only with ``replace=True``)."""
    return SELECTOR_COSTS.register(cost.name, cost, replace=replace)


for _cost in (RandomCost(), BM25Cost(), EmbedCost(), PPLCost(), LESSCost()):
    register_selector_cost(_cost)

class _DefaultSelectorParams(Mapping):
    """Method -> its cost model's ``default_params``, read from the registry (so a registered cost brings its own)."""

    def __getitem__(self, method: str) -> float:
        return float(SELECTOR_COSTS[method].default_params)

    def __iter__(self):
        return iter(SELECTOR_COSTS)

    def __len__(self) -> int:
        return len(SELECTOR_COSTS)


DEFAULT_SELECTOR_PARAMS: Mapping[str, float] = _DefaultSelectorParams()
"""Default selector size per method (parameters): each registered cost model's ``default_params``."""


def selector_cost(method: str) -> SelectorCost:
    """The cost model of ``method``; unknown names fail (``UnknownName``) with near names and the list."""
    return SELECTOR_COSTS.get(method)


def selection_flops(method: str, selector_params: float | None = None, pool_tokens: float = PAPER_POOL_TOKENS,
                    n_tasks: float = 1, lora: bool = False) -> float:
    """Selection FLOPs charged to one task for ``method`` with the default cost model. ``lora=True`` charges
    any training inside selection (LESS's warmup) at the LoRA rate, 4 N per token, as ``train_flops`` does."""
    if selector_params is None:
        selector_params = DEFAULT_SELECTOR_PARAMS.get(method, 0.0)
    selector_params = check_number(selector_params, "selector_params", low=0)
    pool_tokens = check_number(pool_tokens, "pool_tokens", low=0)
    cost = selector_cost(method)
    if lora and hasattr(cost, "warmup_lora"):
        cost = replace(cost, warmup_lora=True)
    return cost.flops(selector_params, pool_tokens, n_tasks)


def selection_flops_per_selector_param(method: str, pool_tokens: float = PAPER_POOL_TOKENS,
                                       n_tasks: float = 1, lora: bool = False) -> float:
    """d(selection FLOPs)/d(selector params): the cost per selector parameter (FLOPs / param).

    All model-based selectors here cost C0 + a N_sel, linear in the selector's size N_sel, which is what turns a
    break-even selection cost into a break-even train-to-selector size ratio. This is the slope a; the part that
    does not grow with the selector (LESS's random projection of ``gradient_dims``-dimensional gradients) is
    ``selection_flops_fixed``.
    """
    return (selection_flops(method, 1.0, pool_tokens, n_tasks, lora)
            - selection_flops(method, 0.0, pool_tokens, n_tasks, lora))


def selection_flops_fixed(method: str, pool_tokens: float = PAPER_POOL_TOKENS, n_tasks: float = 1,
                          lora: bool = False) -> float:
    """The selection FLOPs that do not grow with the selector's size, C0 (e.g. LESS's random projection)."""
    return selection_flops(method, 0.0, pool_tokens, n_tasks, lora)
