"""The ``rules`` benchmark task and the ratio presets: structure, BM25 purity, ladder range, a tiny ladder sweep."""
import numpy as np
import pandas as pd
import pytest

from costlaw.harness.config import ConfigError, build_task
from costlaw.harness.presets import preset
from costlaw.harness.rules import POOL_PHRASINGS, RULES, TOPICS, VALIDATION_PHRASINGS, apply_rule, rules_task


def test_rules_join_the_words_and_unknown_rules_fail():
    assert apply_rule("then", ["a", "b", "c"]) == "a then b then c"
    assert apply_rule("comma", ["a", "b"]) == "a, b"
    assert len({apply_rule(r, ["x", "y", "z"]) for r in RULES}) == len(RULES)
    with pytest.raises(ValueError, match="unknown rule"):
        apply_rule("sort", ["a"])


def test_task_layout_target_topic_and_disjoint_held_out_sets():
    task = rules_task(pool_examples=600, pretrain_examples=300, leak_share=0.3)
    assert task.target_family == "then" and task.pool_target_share == pytest.approx(1 / 6)
    fruit = set(TOPICS["fruit"])
    for ex in task.validation + task.test:
        assert ex.family == "then" and set(ex.prompt.split(": ", 1)[1].split()) <= fruit
        assert any(ex.prompt.startswith(p.split("{")[0]) for p in VALIDATION_PHRASINGS["then"])
    assert not {ex.prompt for ex in task.pool} & {ex.prompt for ex in task.validation + task.test}
    assert all(ex.family != "then" for ex in task.pretrain)
    assert all(ex.response in ex.options and len(ex.options) == 4 for ex in task.test)
    target = [ex for ex in task.pool if ex.family == "then"]
    leaked = np.mean([any(ex.prompt.startswith(p.split("{")[0]) for p in VALIDATION_PHRASINGS["then"])
                      for ex in target])
    assert 0.15 < leaked < 0.45
    # the decoys share the validation wording; the target's own pool phrasings do not
    stop = {"the", "a", "in", "out", "of", "one"}
    words = lambda p: {w.lower().strip(":,") for w in p.split()[:-1]} - stop  # noqa: E731
    val_words = set().union(*map(words, VALIDATION_PHRASINGS["then"]))
    assert not val_words & set().union(*map(words, POOL_PHRASINGS["then"]))
    decoys = [p for rule, ps in POOL_PHRASINGS.items() if rule != "then" for p in ps]
    assert sum(bool(val_words & words(p)) for p in decoys) >= 10
    assert rules_task(pool_examples=600, pretrain_examples=300).fingerprint() == task.fingerprint()


def test_bad_rules_tables_fail_in_one_line():
    with pytest.raises(ConfigError, match="task.rules"):
        build_task({"rules": {"target": "comma"}})
    with pytest.raises(ConfigError, match="task.rules"):
        build_task({"rules": {"leak_share": 2}})
    with pytest.raises(ConfigError, match="task.rules"):
        build_task({"rules": {"colour": "red"}})


def test_bm25_finds_the_target_only_partly():
    pytest.importorskip("bm25s")
    from costlaw.harness.batches import lengths
    from costlaw.harness.selectors import SelectionContext, get_selector
    from costlaw.harness.subset import select_top_tokens

    task = build_task(preset("ratio").task)
    scores = get_selector("bm25").score(SelectionContext(task)).scores
    family = np.array([ex.family for ex in task.pool])
    token_lengths = np.array([len(ex.text.split()) for ex in task.pool])
    share = (family[select_top_tokens(scores, token_lengths, 0.05)] == "then").mean()
    assert share < 0.5


def test_ratio_preset_ladder_brackets_ratios_below_1_and_above_100(tmp_path):
    pytest.importorskip("torch")
    from costlaw.harness.models import model_params, task_tokenizer, tiny_model

    cfg = preset("ratio")
    assert 1.0 in cfg.fractions and len(cfg.seeds) >= 3 and cfg.eval_base
    task = build_task(cfg.task)
    vocab = len(task_tokenizer(task, tmp_path))
    params = {m: model_params(tiny_model(m, vocab))["matmul_params"] for m in set(cfg.train_models + cfg.selector_models)}
    ratios = [params[t] / params[s] for t in cfg.train_models for s in cfg.selector_models]
    assert min(ratios) < 1 and max(ratios) > 100


@pytest.mark.slow
def test_tiny_ladder_sweep_feeds_the_ratio_analysis(tmp_path, harness_cache):
    pytest.importorskip("torch")
    from costlaw.harness import sweep
    from costlaw.ladder import ratio_analysis

    cfg = preset("ratio-tiny")
    cfg.cache_dir = str(harness_cache)
    runs = sweep(cfg, tmp_path, progress=False)
    assert len(runs) == 2 * 2 * 2 * 3  # seeds x fractions x trained models x (random + ppl at 2 sizes)
    assert runs.base_metric.notna().all()
    full = runs[runs.fraction_nominal == 1.0]
    # every method trains on the whole pool at f = 1: one training per (model, seed), reused
    assert full.groupby(["train_model", "seed"]).metric.nunique().eq(1).all()
    ppl = runs[runs.method == "ppl"]
    # one selection per selector size (selection_seed), whatever the training seed
    assert ppl.groupby("selector_model").selection_flops.nunique().eq(1).all()
    result = ratio_analysis(runs, n_boot=10)
    table = result.summary()
    assert set(table.arm) == {"ppl@tiny-3xs", "ppl@tiny-2xs"}
    assert (table.ladder_lo < table.ladder_hi).all()
    assert "paper" in result.report()


def _fake_bigbench(root):
    import json

    def write(name, examples):
        path = root / name / "task.json"
        path.parent.mkdir(parents=True)
        path.write_text(json.dumps({"name": name, "task_prefix": "Q: ", "examples": examples}))

    write("date_understanding", [{"input": f"date {i}?", "target_scores": {"a": 0, "b": 1}} for i in range(12)])
    write("arith", [{"input": f"{i}+1", "target": [str(i + 1), "x"]} for i in range(30)])
    write("logic/sub1", [{"input": f"p{i}", "target": "yes"} for i in range(5)] + [{"input": "no target"}])


def test_bigbench_variant_reads_task_files(tmp_path):
    from costlaw.harness.bigbench import bigbench_task
    from costlaw.harness.data import DataError

    _fake_bigbench(tmp_path)
    task = bigbench_task("date_understanding", max_per_task=10, validation_examples=4, test_examples=8, root=tmp_path)
    assert len(task.validation) == 4 and len(task.test) == 8
    assert all(ex.response == "b" and ex.options == ("a", "b") and ex.prompt.startswith("Q: date")
               for ex in task.validation + task.test)
    assert {ex.family for ex in task.pool} == {"arith", "logic"} and len(task.pool) == 15
    assert not {ex.prompt for ex in task.validation} & {ex.prompt for ex in task.test}
    assert all(ex.response != "x" for ex in task.pool)  # the first of several targets
    with pytest.raises(DataError, match="no BIG-bench task"):
        bigbench_task("navigate", root=tmp_path)
    with pytest.raises(DataError, match="fewer than"):
        bigbench_task("date_understanding", validation_examples=10, test_examples=10, root=tmp_path)
    assert preset("ratio-bigbench").task["bigbench"]["target"] == "date_understanding"
