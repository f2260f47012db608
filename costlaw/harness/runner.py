"""Running a sweep: select, finetune, evaluate and count FLOPs for every configured run; resumable.

Each finished run is appended to ``DIR/runs.csv`` at once and atomically (temp file + ``os.replace``), and its
per-phase FLOPs to ``DIR/phases.csv``; a restarted sweep skips the runs whose ``run_id`` is already there. Selector
scores and base checkpoints live in a cache (``DIR/cache`` unless the config's ``cache_dir`` or the environment's
``COSTLAW_HARNESS_CACHE`` says otherwise) and are reused across runs and sweeps.

Runs table: the schema of ``costlaw.schema`` (``metric`` is ``answer_prob``, see ``evaluate``) plus
``metric_name``, ``answer_prob``, ``answer_loglik``,
``exact_match``, ``mc_accuracy``, ``base_metric`` (the base model before finetuning), ``measured_selection_flops``,
``measured_train_flops``, ``selection_seconds``, ``train_seconds``, ``eval_flops``, ``measured_eval_flops``,
``eval_seconds``, ``epochs``, ``fraction_nominal``, ``target_share`` and ``pool_target_share`` (generated pool),
``train_params_total`` and ``run_id``. ``train_params`` is the matmul parameter count (lm_head included): what
6 N per token must use to match FlopCounterMode. ``fraction`` is the share of the pool's tokens selected
(training runs ``epochs`` passes over them, so ``train_tokens`` = epochs x fraction x pool_tokens).
"""
from __future__ import annotations

import hashlib
import json
import os
from dataclasses import asdict
from functools import partial
from pathlib import Path

import numpy as np
import pandas as pd

from ..schema import validate_runs
from .outdir import drop_unfinished_phases, remove_stale_temps, sweep_lock
from .config import ConfigError, SweepConfig, build_task, load_config
from .flops import PhaseMeter, PhaseRecord
from .distributed import from_main, ignored_launch, process_state
from .selectors import SelectionContext, SelectorScores, get_selector

RUNS_FILE = "runs.csv"
PHASES_FILE = "phases.csv"
SOURCE = "costlaw harness"


def resolve_config(config_or_preset) -> SweepConfig:
    """A SweepConfig from itself, a dict, a preset name or a TOML/YAML path."""
    from .presets import PRESETS, preset

    if isinstance(config_or_preset, SweepConfig):
        return config_or_preset
    if isinstance(config_or_preset, dict):
        return SweepConfig.from_dict(config_or_preset)
    if isinstance(config_or_preset, str) and config_or_preset in PRESETS:
        return preset(config_or_preset)
    if isinstance(config_or_preset, (str, os.PathLike)) and Path(config_or_preset).suffix in (".toml", ".yaml", ".yml"):
        return load_config(config_or_preset)
    raise ConfigError(f"not a preset ({', '.join(PRESETS)}) nor a .toml/.yaml config: {config_or_preset!r}")


def _hash(*parts) -> str:
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()[:16]


def append_rows(path: Path, rows: list[dict]) -> None:
    """Append ``rows`` to the CSV at ``path`` atomically (write a temp file, then os.replace)."""
    new = pd.DataFrame(rows)
    if path.exists() and path.stat().st_size > 0:
        new = pd.concat([pd.read_csv(path), new], ignore_index=True)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    new.to_csv(tmp, index=False)
    os.replace(tmp, path)


def finished_run_ids(out_dir: Path) -> set[str]:
    path = out_dir / RUNS_FILE
    if not path.exists() or path.stat().st_size == 0:
        return set()
    return set(pd.read_csv(path, usecols=["run_id"])["run_id"].astype(str))


class ScoreCache:
    """Selector scores on disk: ``scores/KEY.npz`` plus ``scores/KEY.json`` (phases and selector facts)."""

    def __init__(self, cache_dir: Path):
        self.dir = cache_dir / "scores"
        self.dir.mkdir(parents=True, exist_ok=True)

    def get(self, key: str) -> SelectorScores | None:
        meta = self.dir / f"{key}.json"
        if not meta.exists():
            return None
        info = json.loads(meta.read_text())
        scores = np.load(self.dir / f"{key}.npz")["scores"]
        return SelectorScores(scores, [PhaseRecord(**p) for p in info["phases"]], info["selector_model"],
                              info["selector_params"], info.get("extra", {}))

    def put(self, key: str, s: SelectorScores) -> None:
        tmp = self.dir / f".{key}.tmp{os.getpid()}.npz"
        np.savez(tmp, scores=s.scores)
        os.replace(tmp, self.dir / f"{key}.npz")
        info = {"phases": [p.to_dict() for p in s.phases], "selector_model": s.selector_model,
                "selector_params": s.selector_params, "extra": s.extra}
        tmp = self.dir / f".{key}.tmp{os.getpid()}.json"
        tmp.write_text(json.dumps(info))
        os.replace(tmp, self.dir / f"{key}.json")


def text_settings(cfg: SweepConfig) -> dict:
    """The settings that change what a model sees or computes (part of every cache key and run id)."""
    return {"max_tokens": cfg.max_tokens, "chat_template": cfg.chat_template, "dtype": cfg.dtype,
            "selection_unit": cfg.selection_unit}


def plan_runs(cfg: SweepConfig, task_fingerprint: str) -> list[dict]:
    """Every run of the sweep as a dict of its coordinates and its ``run_id``."""
    runs = []
    for seed in cfg.seeds:
        for method in cfg.methods:
            sel = get_selector(method)
            for selector_model in (cfg.selector_models if sel.uses_selector_model else [""]):
                for train_model in cfg.train_models:
                    for fraction in cfg.fractions:
                        coords = dict(seed=int(seed), method=sel.name, selector_model=selector_model,
                                      train_model=train_model, fraction=float(fraction))
                        run_id = _hash(task_fingerprint, coords, asdict(cfg.train), cfg.pretrain_steps,
                                       cfg.selectors.get(sel.name, {}), cfg.n_tasks, text_settings(cfg))
                        runs.append({**coords, "run_id": run_id})
    return runs


def sweep(config_or_preset, out_dir, progress: bool = True, limit: int | None = None) -> pd.DataFrame:
    """Run (or resume) a sweep into ``out_dir``; returns every run in ``out_dir/runs.csv``.

    ``limit`` stops after that many new runs (for tests and for splitting a sweep over sessions).
    """
    from .precision import using

    cfg = resolve_config(config_or_preset)
    problem = ignored_launch()
    if problem:
        raise ConfigError(problem)
    with using(cfg.dtype), sweep_lock(Path(out_dir)):  # one writer per folder (harness/outdir.py)
        return _sweep(cfg, Path(out_dir), progress, limit)


def _sweep(cfg: SweepConfig, out: Path, progress: bool, limit: int | None) -> pd.DataFrame:
    import copy

    import torch
    import transformers
    from tqdm.auto import tqdm

    # costlaw's own bars say what runs and what is left; the library's per-load bars only add noise
    transformers.utils.logging.disable_progress_bar()

    from .batches import Encoder, lengths, truncation_counts
    from .evaluate import PRIMARY_METRIC, evaluate
    from .models import ModelSpec, load_model, model_params
    from .subset import select_top_examples, select_top_tokens
    from .train import add_lora_from, finetune

    out.mkdir(parents=True, exist_ok=True)
    cache = Path(cfg.cache_dir or os.environ.get("COSTLAW_HARNESS_CACHE") or out / "cache")
    cache.mkdir(parents=True, exist_ok=True)
    state = process_state()
    if state.is_main_process:  # under the lock: undo what an interrupted sweep left half-done
        remove_stale_temps(out, cache)
        drop_unfinished_phases(out / PHASES_FILE, out / RUNS_FILE)
    bars = partial(tqdm, disable=not progress or not state.is_main_process, dynamic_ncols=True)
    task = build_task(cfg.task)
    fingerprint = task.fingerprint()
    if state.is_main_process:
        (out / "config.json").write_text(json.dumps(cfg.to_dict(), indent=2, default=str))
    plan = plan_runs(cfg, fingerprint)
    done = from_main(finished_run_ids(out), state)
    todo = [r for r in plan if r["run_id"] not in done]
    if limit is not None:
        todo = todo[:limit]
    scores_cache = ScoreCache(cache)
    models: dict[str, tuple] = {}
    base_metrics: dict[str, float] = {}
    outer = bars(total=len(plan), initial=len(plan) - len([r for r in plan if r["run_id"] not in done]),
                 desc=f"sweep {cfg.name}", unit="run")
    settings = text_settings(cfg)
    trained: dict = {}

    def encoder_for(model, tok):
        limit_tokens = getattr(model.config, "max_position_embeddings", None) or cfg.max_tokens
        return Encoder(tok, min(cfg.max_tokens, int(limit_tokens)), cfg.chat_template)

    def train_side(name):
        """(spec, encoder, tokens per pool example, params, base model) of a training model, loaded once per sweep."""
        if name not in models:
            spec = ModelSpec.parse(name, cfg.pretrain_steps)
            model, tok = load_model(spec, task, cache, progress_factory=bars, attention=cfg.attention)
            enc = encoder_for(model, tok)
            pool_encoded = enc.encode(task.pool)
            token_lengths = lengths(pool_encoded)
            cut = truncation_counts(pool_encoded + enc.encode(task.test))
            if (cut["prompt_truncated"] or cut["response_truncated"]) and state.is_main_process:
                tqdm.write(f"{name}: {cut['prompt_truncated']} prompts cut from the left and "
                           f"{cut['response_truncated']} responses cut to fit max_tokens={enc.max_tokens} "
                           f"(of {cut['examples']} pool and test examples)")
            models[name] = (spec, enc, token_lengths, model_params(model), model)
            if cfg.eval_base:
                key = f"base-{_hash(fingerprint, asdict(spec), cfg.batch_size, settings)}.json"
                path = cache / key
                cached = from_main(json.loads(path.read_text()) if path.exists() else None, state)
                if cached is None:  # every process evaluates (a collective); the main one writes
                    cached = evaluate(model, enc, task.test, cfg.batch_size)
                    if state.is_main_process:
                        path.write_text(json.dumps(cached))
                base_metrics[name] = cached[PRIMARY_METRIC]
        return models[name]

    def selector_scores(method, selector_model, seed):
        sel = get_selector(method)
        options = dict(cfg.selectors.get(sel.name, {}))
        # selection_seed: one selection shared by every training seed (bounds the cost of a seed ladder)
        seed = options.pop("selection_seed", seed)
        spec = ModelSpec.parse(selector_model, cfg.pretrain_steps) if selector_model else None
        key = _hash(fingerprint, sel.name, asdict(spec) if spec else None, seed if sel.seeded else None,
                    options, cfg.batch_size, settings if sel.uses_selector_model else None)
        cached = scores_cache.get(key) if state.is_main_process else None
        cached = from_main(cached, state)
        if cached is None:  # every process takes part (work is sharded); the main one writes
            outer.set_postfix_str(f"selecting: {sel.name} {selector_model}".strip())
            ctx = SelectionContext(task, int(seed), cache, spec, options, cfg.batch_size, bars,
                                   max_tokens=cfg.max_tokens, chat_template=cfg.chat_template,
                                   attention=cfg.attention, gradient_memory_gb=cfg.gradient_memory_gb)
            try:
                cached = sel.score(ctx)
            except ValueError as err:  # a bad selector option
                raise ConfigError(f"selector '{sel.name}': {err}") from None
            if state.is_main_process:
                scores_cache.put(key, cached)
        return sel, cached

    for run in todo:
        sel, scores = selector_scores(run["method"], run["selector_model"], run["seed"])
        spec, enc, token_lengths, params, base = train_side(run["train_model"])
        outer.set_postfix_str(f"{run['method']} {run['train_model']} f={run['fraction']:g} seed={run['seed']}")
        if cfg.selection_unit == "examples":
            idx = select_top_examples(scores.scores, run["fraction"], seed=run["seed"])
        else:
            idx = select_top_tokens(scores.scores, token_lengths, run["fraction"], seed=run["seed"])
        subset = [task.pool[i] for i in idx]
        # the same set of examples with the same seed (e.g. every method at fraction 1.0) is trained once per
        # sweep and its metrics and FLOP records reused; the set's order (which only changes how batches are
        # composed) is that of the first method that trained it
        same = (run["train_model"], run["seed"], hashlib.sha256(np.sort(idx).tobytes()).hexdigest())
        if same in trained:
            metrics, train_meter, eval_meter = trained[same]
        else:
            model = copy.deepcopy(base)  # the base is loaded once per sweep; each run trains its own copy
            if cfg.train.lora:
                model = add_lora_from(model, cfg.train)
            train_meter, eval_meter = PhaseMeter("training"), PhaseMeter("evaluation")
            torch.manual_seed(run["seed"])
            model = finetune(model, enc, subset, cfg.train, seed=run["seed"], meter=train_meter,
                             progress_factory=bars, desc=f"train {run['train_model']}")
            metrics = evaluate(model, enc, task.test, cfg.batch_size, eval_meter)
            del model
            trained[same] = (metrics, train_meter, eval_meter)
        cut_train = truncation_counts(enc.encode(subset))
        cut_test = truncation_counts(enc.encode(task.test))
        pool_tokens = float(token_lengths.sum())
        selected_tokens = float(token_lengths[idx].sum())
        selection_flops = scores.flops() / cfg.n_tasks
        train = train_meter.record
        row = {
            "task": task.name, "train_model": run["train_model"], "train_params": float(params["matmul_params"]),
            "method": sel.method, "selector_params": float(scores.selector_params),
            "selector_model": scores.selector_model or "", "fraction": selected_tokens / pool_tokens,
            "pool_tokens": pool_tokens, "train_tokens": selected_tokens * cfg.train.epochs,
            "selection_flops": selection_flops, "train_flops": train.analytic_flops,
            "total_flops": selection_flops + train.analytic_flops, "metric": metrics[PRIMARY_METRIC],
            "seed": run["seed"], "n_tasks": cfg.n_tasks, "source": SOURCE,
            "metric_name": PRIMARY_METRIC, **metrics, "base_metric": base_metrics.get(run["train_model"], np.nan),
            "measured_selection_flops": scores.flops(measured=True) / cfg.n_tasks,
            "measured_train_flops": train.measured_flops,
            "selection_seconds": scores.seconds, "train_seconds": train.seconds,
            "eval_flops": eval_meter.record.analytic_flops, "measured_eval_flops": eval_meter.record.measured_flops,
            "eval_seconds": eval_meter.record.seconds, "epochs": cfg.train.epochs,
            "fraction_nominal": run["fraction"], "selected_examples": len(idx),
            "selection_unit": cfg.selection_unit, "max_tokens": enc.max_tokens,
            "train_prompt_truncated": cut_train["prompt_truncated"],
            "train_response_truncated": cut_train["response_truncated"],
            "test_prompt_truncated": cut_test["prompt_truncated"],
            "test_response_truncated": cut_test["response_truncated"],
            "processes": state.num_processes,
            "target_share": (float(np.mean([task.pool[i].family == task.target_family for i in idx]))
                             if task.target_family else np.nan),
            "pool_target_share": task.pool_target_share,
            "train_params_total": float(params["total_params"]), "lora": cfg.train.lora, "run_id": run["run_id"],
        }
        validate_runs(pd.DataFrame([row]))
        phases = [{"run_id": run["run_id"], "method": sel.method, "train_model": run["train_model"],
                   "selector_model": scores.selector_model, **p.to_dict()} for p in scores.phases + [train, eval_meter.record]]
        if state.is_main_process:
            append_rows(out / PHASES_FILE, phases)
            append_rows(out / RUNS_FILE, [row])
        outer.update(1)
    outer.close()
    state.wait_for_everyone()
    path = out / RUNS_FILE
    return pd.read_csv(path) if path.exists() else pd.DataFrame()
