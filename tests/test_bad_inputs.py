"""A corpus of bad inputs over every command: each must end in exit status 2 with one line on stderr that names
the problem (no traceback, no silently accepted garbage). Odd but valid inputs must answer (exit 0) and say what
is odd about them in a ``costlaw: warning:`` line. ``test_corpus_counts`` prints the tally.

Cases run in-process through ``costlaw.cli.main`` (fast: almost all fail before any fitting or training)."""
from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from costlaw.cli import main

ROOT = Path(__file__).resolve().parents[1]
FITS = str(ROOT / "fits" / "paper_offset_exp_size")
PLAN = ["plan", "--budget", "2e18", "--train-params", "7e9", "--pool-tokens", "1.0938e8"]
FORECAST = ["forecast", "--fits", FITS, "--train-params", "3e10", "--fraction", "0.1"]

# ---------------------------------------------------------------------------------------------------- inputs

MINIMAL_SWEEP = """methods = ["random"]
fractions = [0.1]
train_models = ["tiny-xs"]
pretrain_steps = 5
eval_base = false
[task.generated]
target = "copy"
pool_examples = 60
validation_examples = 4
test_examples = 8
pretrain_examples = 50
[train]
epochs = 1
batch_size = 8
"""

JSONL_SWEEP = """methods = ["random"]
fractions = [0.5]
train_models = ["tiny-xs"]
pretrain_steps = 5
eval_base = false
[task]
pool = "POOL"
validation = "GOOD"
test = "GOOD"
"""

GOOD_ROWS = "\n".join(json.dumps({"prompt": f"q{i}", "response": f"a{i}"}) for i in range(6)) + "\n"


def _runs_variants(d: Path) -> dict[str, tuple[Path, str]]:
    """Bad runs CSVs: name -> (path, text the error must contain)."""
    from costlaw import paper_runs
    runs = paper_runs()
    out = {}

    def csv(name, frame, expect):
        path = d / f"{name}.csv"
        frame.to_csv(path, index=False)
        out[name] = (path, expect)

    def raw(name, data: bytes, expect):
        path = d / f"{name}.csv"
        path.write_bytes(data)
        out[name] = (path, expect)

    head = runs.head(20).copy()
    raw("empty", b"", "cannot read runs file")
    raw("header_only", ",".join(runs.columns).encode() + b"\n", "no rows")
    raw("binary", bytes(range(256)) * 4, "cannot read runs file")
    raw("utf16", head.to_csv(index=False).encode("utf-16"), "cannot read runs file")
    raw("json", b'{"task": "mmlu"}\n', "missing required column")
    raw("ragged", head.to_csv(index=False).encode() + b"mmlu,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18\n", "cannot read runs file")
    csv("no_metric", head.drop(columns=["metric"]), "missing required column: metric")
    csv("no_fraction", head.drop(columns=["fraction"]), "missing required column: fraction")
    csv("nan_metric", head.assign(metric=np.where(np.arange(20) == 3, np.nan, head.metric)), "NaN")
    csv("inf_metric", head.assign(metric=np.where(np.arange(20) == 3, np.inf, head.metric)), "infinite")
    csv("text_metric", head.assign(metric=["high"] + list(head.metric[1:])), "not numeric")
    csv("neg_params", head.assign(train_params=-head.train_params), "negative")
    csv("zero_params", head.assign(train_params=0.0), "positive")
    csv("fraction_zero", head.assign(fraction=0.0), "fraction")
    csv("fraction_five", head.assign(fraction=5.0), "fraction")
    csv("fraction_neg", head.assign(fraction=-1.0), "fraction")
    csv("total_mismatch", head.assign(total_flops=head.total_flops * 2), "total_flops")
    csv("empty_task", head.assign(task=""), "empty")
    csv("n_tasks_zero", head.assign(n_tasks=0), "n_tasks")
    csv("neg_flops", head.assign(selection_flops=-1.0, total_flops=head.train_flops - 1.0), "negative")
    csv("overflow", head.assign(train_flops=np.where(np.arange(20) == 0, "1e400", head.train_flops)), "infinite")
    return out


def _fit_variants(d: Path) -> dict[str, tuple[Path, str]]:
    """Broken `costlaw fit` folders: name -> (path, expected text)."""
    out = {}
    (d / "nofit").mkdir()
    out["fits_empty_dir"] = (d / "nofit", "no fitted results")
    (d / "badjson").mkdir()
    (d / "badjson" / "fit.json").write_text("{not json")
    out["fits_bad_json"] = (d / "badjson", "not a costlaw fit file")
    (d / "wrongkind").mkdir()
    (d / "wrongkind" / "fit.json").write_text('{"hello": 1}')
    out["fits_wrong_kind"] = (d / "wrongkind", "not a costlaw fit file")
    (d / "listjson").mkdir()
    (d / "listjson" / "fit.json").write_text("[1, 2, 3]")
    out["fits_list_json"] = (d / "listjson", "not a costlaw fit file")
    data = json.loads((Path(FITS) / "fit.json").read_text())
    (d / "oldversion").mkdir()
    (d / "oldversion" / "fit.json").write_text(json.dumps({**data, "costlaw_fit_version": 0}))
    out["fits_old_version"] = (d / "oldversion", "version")
    (d / "noreps").mkdir()
    noreps = {**data, "groups": [{**g, "replicates": []} for g in data["groups"]]}
    (d / "noreps" / "fit.json").write_text(json.dumps(noreps))
    out["fits_no_replicates"] = (d / "noreps", "bootstrap refits")
    return out


def _sweep_configs(d: Path) -> dict[str, tuple[Path, str]]:
    """Bad sweep configs: name -> (path, expected text)."""
    out = {}

    def cfg(name, text, expect, suffix=".toml"):
        path = d / f"{name}{suffix}"
        path.write_text(text)
        out[name] = (path, expect)

    def edit(name, old, new, expect):
        assert old in MINIMAL_SWEEP, old
        cfg(name, MINIMAL_SWEEP.replace(old, new, 1), expect)

    cfg("toml_syntax", "methods = [\n", "cannot parse")
    cfg("yaml_syntax", "methods: [random\n", "cannot parse", ".yaml")
    cfg("yaml_list", "- 1\n- 2\n", "mapping", ".yaml")
    cfg("yaml_scalar", "42\n", "mapping", ".yaml")
    cfg("bad_suffix", MINIMAL_SWEEP, ".toml, .yaml or .yml", ".ini")
    cfg("empty_config", "", "non-empty")
    edit("unknown_key", "eval_base = false", "eval_base = false\nspeed = 3", "unknown config key")
    edit("methods_empty", 'methods = ["random"]', "methods = []", "methods")
    edit("unknown_method", 'methods = ["random"]', 'methods = ["randm"]', "unknown selector 'randm'")
    edit("method_number", 'methods = ["random"]', "methods = [3]", "methods[0] must be text")
    edit("ppl_no_selector", 'methods = ["random"]', 'methods = ["ppl"]', "selector_models")
    edit("fractions_true", "fractions = [0.1]", "fractions = [true]", "fractions[0] must be a number")
    edit("fractions_zero", "fractions = [0.1]", "fractions = [0]", "fractions[0] must be in (0, 1]")
    edit("fractions_big", "fractions = [0.1]", "fractions = [1.5]", "fractions[0] must be in (0, 1]")
    edit("fractions_text", "fractions = [0.1]", 'fractions = ["a"]', "fractions[0] must be a number")
    edit("fractions_nan", "fractions = [0.1]", "fractions = [nan]", "fractions[0] must be a number")
    edit("fractions_empty", "fractions = [0.1]", "fractions = []", "fractions")
    edit("seeds_text", "pretrain_steps = 5", 'pretrain_steps = 5\nseeds = ["a"]', "seeds[0] must be a whole")
    edit("seeds_neg", "pretrain_steps = 5", "pretrain_steps = 5\nseeds = [-1]", "seeds[0] must be >= 0")
    edit("seeds_frac", "pretrain_steps = 5", "pretrain_steps = 5\nseeds = [1.5]", "seeds[0] must be a whole")
    edit("epochs_neg", "epochs = 1", "epochs = -1", "train.epochs must be positive")
    edit("epochs_zero", "epochs = 1", "epochs = 0", "train.epochs must be positive")
    edit("epochs_text", "epochs = 1", 'epochs = "two"', "train.epochs must be a number")
    edit("epochs_bool", "epochs = 1", "epochs = true", "train.epochs must be a number")
    edit("epochs_inf", "epochs = 1", "epochs = inf", "train.epochs must be finite")
    edit("batch_zero", "batch_size = 8", "batch_size = 0", "train.batch_size must be >= 1")
    edit("batch_neg", "batch_size = 8", "batch_size = -3", "train.batch_size must be >= 1")
    edit("batch_frac", "batch_size = 8", "batch_size = 2.5", "train.batch_size must be a whole")
    edit("lr_text", "epochs = 1", 'epochs = 1\nlr = "fast"', "train.lr must be a number")
    edit("lr_zero", "epochs = 1", "epochs = 1\nlr = 0", "train.lr must be positive")
    edit("lr_nan", "epochs = 1", "epochs = 1\nlr = nan", "train.lr must be a number")
    edit("lora_text", "epochs = 1", 'epochs = 1\nlora = "yes"', "train.lora must be true or false")
    edit("lora_rank_zero", "epochs = 1", "epochs = 1\nlora_rank = 0", "train.lora_rank must be >= 1")
    edit("weight_decay_neg", "epochs = 1", "epochs = 1\nweight_decay = -1", "train.weight_decay must be >= 0")
    edit("train_unknown", "epochs = 1", "epochs = 1\nmomentum = 0.9", "momentum")
    edit("pretrain_neg", "pretrain_steps = 5", "pretrain_steps = -5", "pretrain_steps must be >= 0")
    edit("pretrain_text", "pretrain_steps = 5", 'pretrain_steps = "x"', "pretrain_steps must be a whole")
    edit("n_tasks_zero", "pretrain_steps = 5", "pretrain_steps = 5\nn_tasks = 0", "n_tasks must be >= 1")
    edit("score_batch_zero", "pretrain_steps = 5", "pretrain_steps = 5\nbatch_size = 0", "batch_size must be >= 1")
    edit("eval_base_text", "eval_base = false", 'eval_base = "no"', "eval_base must be true or false")
    edit("max_tokens_small", "eval_base = false", "eval_base = false\nmax_tokens = 4", "max_tokens")
    edit("pool_zero", "pool_examples = 60", "pool_examples = 0", "task.generated.pool_examples must be >= 1")
    edit("pool_neg", "pool_examples = 60", "pool_examples = -1", "task.generated.pool_examples must be >= 1")
    edit("pool_text", "pool_examples = 60", 'pool_examples = "many"', "task.generated.pool_examples must be a whole")
    edit("validation_zero", "validation_examples = 4", "validation_examples = 0", "validation_examples must be >= 1")
    edit("test_zero", "test_examples = 8", "test_examples = 0", "test_examples must be >= 1")
    edit("pretrain_ex_neg", "pretrain_examples = 50", "pretrain_examples = -1", "pretrain_examples must be >= 0")
    edit("target_unknown", 'target = "copy"', 'target = "nope"', "unknown target family")
    edit("generated_unknown", 'target = "copy"', 'target = "copy"\ncolour = 3', "colour")
    edit("unknown_model", 'train_models = ["tiny-xs"]', 'train_models = ["tiny-xxl"]', "unknown model 'tiny-xxl'")
    edit("selectors_unknown", "eval_base = false", "eval_base = false\n[selectors.pppl]\nlr = 1e-3",
         "unknown selector 'pppl'")
    edit("selector_lr_text", "eval_base = false", 'eval_base = false\n[selectors.ppl]\nlr = "fast"',
         "selectors.ppl.lr must be a number")
    edit("selector_dims_zero", "eval_base = false", "eval_base = false\n[selectors.gradient]\nprojection_dims = 0",
         "selectors.gradient.projection_dims must be >= 1")
    edit("selector_ckpt_neg", "eval_base = false", "eval_base = false\n[selectors.gradient]\ncheckpoints = -1",
         "selectors.gradient.checkpoints must be >= 1")
    edit("dtype_unknown", "eval_base = false", 'eval_base = false\ndtype = "fp8"', "dtype")
    edit("attention_unknown", "eval_base = false", 'eval_base = false\nattention = "flash9"', "attention")
    edit("selection_unit_unknown", "eval_base = false", 'eval_base = false\nselection_unit = "bytes"', "selection_unit")
    edit("chat_template_number", "eval_base = false", "eval_base = false\nchat_template = 3", "chat_template must be text")
    edit("gradient_memory_zero", "eval_base = false", "eval_base = false\ngradient_memory_gb = 0",
         "gradient_memory_gb must be positive")
    edit("lr_schedule_unknown", "epochs = 1", 'epochs = 1\nlr_schedule = "wavy"', "lr_schedule")
    edit("warmup_ratio_one", "epochs = 1", "epochs = 1\nwarmup_ratio = 1.5", "train.warmup_ratio must be in [0, 1)")
    edit("lora_dropout_one", "epochs = 1", "epochs = 1\nlora_dropout = 1", "train.lora_dropout must be in [0, 1)")
    cfg("train_not_table", MINIMAL_SWEEP.split("[task.generated]")[0] + 'train = 3\n[task.generated]\ntarget = "copy"\n',
        "train must be a table")
    cfg("task_no_sources", 'methods = ["random"]\nfractions = [0.1]\ntrain_models = ["tiny-xs"]\n[task]\npool = "x"\n',
        "task needs")
    # JSONL pools
    good = d / "good.jsonl"
    good.write_text(GOOD_ROWS)
    pools = {"pool_list_row": ("[1, 2, 3]\n", ":7: expected a JSON object"),
             "pool_number_row": ("42\n", ":7: expected a JSON object"),
             "pool_string_messages": ('{"messages": ["hello", "world"]}\n', ":7: every message must be a mapping"),
             "pool_null_fields": ('{"prompt": null, "response": null}\n', ":7: 'prompt' must be text"),
             "pool_empty_prompt": ('{"prompt": "", "response": "x"}\n', ":7: 'prompt' is empty"),
             "pool_blank_response": ('{"prompt": "x", "response": "   "}\n', ":7: 'response' is empty"),
             "pool_no_keys": ('{"text": "x"}\n', ":7: no known format"),
             "pool_broken_json": ('{"prompt": "x", \n', ":7: not JSON"),
             "pool_no_assistant": ('{"messages": [{"role": "user", "content": "x"}]}\n', ":7: no assistant turn"),
             "pool_null_options": ('{"prompt": "x", "response": "y", "options": [null]}\n', "options[0] must be text")}
    for name, (line, expect) in pools.items():
        pool = d / f"{name}.jsonl"
        pool.write_text(GOOD_ROWS + line)
        cfg(name, JSONL_SWEEP.replace("POOL", str(pool)).replace("GOOD", str(good)), expect)
    (d / "utf16.jsonl").write_bytes(GOOD_ROWS.encode("utf-16"))
    cfg("pool_utf16", JSONL_SWEEP.replace("POOL", str(d / "utf16.jsonl")).replace("GOOD", str(good)), "not UTF-8")
    (d / "binary.jsonl").write_bytes(bytes(range(256)))
    cfg("pool_binary", JSONL_SWEEP.replace("POOL", str(d / "binary.jsonl")).replace("GOOD", str(good)), "binary.jsonl")
    (d / "empty.jsonl").write_text("\n\n")
    cfg("pool_empty", JSONL_SWEEP.replace("POOL", str(d / "empty.jsonl")).replace("GOOD", str(good)), "no examples")
    cfg("pool_missing", JSONL_SWEEP.replace("POOL", str(d / "nope.jsonl")).replace("GOOD", str(good)), "no such file")
    cfg("pool_directory", JSONL_SWEEP.replace("POOL", str(d)).replace("GOOD", str(good)), "not a file")
    return out


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    d = tmp_path_factory.mktemp("bad")
    afile = d / "afile.txt"
    afile.write_text("keep")
    return {"dir": d, "afile": afile, "runs": _runs_variants(d), "fits": _fit_variants(d),
            "sweeps": _sweep_configs(d)}


# ----------------------------------------------------------------------------------------------------- cases

def _cases():
    """(id, argv builder (inputs -> argv), text the one-line error must contain)."""
    cases = []

    def add(cid, argv, expect):
        cases.append((cid, argv, expect))

    # the command line itself
    add("no_command", lambda i: [], "required")
    add("unknown_command", lambda i: ["frobnicate"], "invalid choice")
    add("ls_nothing", lambda i: ["ls"], "required")
    add("ls_unknown", lambda i: ["ls", "things"], "invalid choice")
    add("global_unknown_option", lambda i: ["--bogus", "ls", "forms"], "unrecognized")
    # numbers, for every command that takes them
    for value, expect in [("-1", "must be >= 2"), ("0", "must be >= 2"), ("1", "must be >= 2"),
                          ("1.5", "must be a whole number"), ("abc", "must be a whole number"),
                          ("nan", "must be a whole number"), ("1e400", "must be a whole number")]:
        add(f"reproduce_n_boot_{value}", lambda i, v=value: ["reproduce", "--n-boot", v, "--out", str(i["dir"] / "o")],
            f"--n-boot: {expect}")
        add(f"fit_n_boot_{value}", lambda i, v=value: ["fit", "paper", "--n-boot", v, "--out", str(i["dir"] / "o")],
            f"--n-boot: {expect}")
        add(f"compare_n_boot_{value}", lambda i, v=value: ["compare", "paper", "--n-boot", v, "--out",
                                                           str(i["dir"] / "o")], f"--n-boot: {expect}")
    for cmd in ("reproduce", "fit", "compare"):
        pre = [cmd] if cmd == "reproduce" else [cmd, "paper"]
        add(f"{cmd}_seed_neg", lambda i, p=pre: p + ["--seed", "-1", "--out", str(i["dir"] / "o")], "--seed: must be >= 0")
        add(f"{cmd}_seed_text", lambda i, p=pre: p + ["--seed", "x", "--out", str(i["dir"] / "o")], "--seed: must be a whole")
        add(f"{cmd}_form_unknown", lambda i, p=pre: p + ["--form", "cubic", "--out", str(i["dir"] / "o")],
            "unknown form 'cubic'")
        add(f"{cmd}_form_typo", lambda i, p=pre: p + ["--form", "ofset_exp", "--out", str(i["dir"] / "o")],
            "did you mean 'offset_exp'")
        add(f"{cmd}_out_is_file", lambda i, p=pre: p + ["--out", str(i["afile"])], "is an existing file")
        add(f"{cmd}_out_not_dir", lambda i, p=pre: p + ["--out", "/dev/null/x"], "Not a directory: /dev/null/x")
        add(f"{cmd}_unknown_option", lambda i, p=pre: p + ["--bogus", "--out", str(i["dir"] / "o")], "unrecognized")
    for cmd in ("fit", "compare"):
        add(f"{cmd}_loss_unknown", lambda i, c=cmd: [c, "paper", "--loss", "l3", "--out", str(i["dir"] / "o")],
            "invalid choice: 'l3'")
    add("compare_protocol_unknown", lambda i: ["compare", "paper", "--protocol", "extrapolate_fracton", "--out",
                                               str(i["dir"] / "o")], "invalid choice")
    add("fit_by_unknown", lambda i: ["fit", "paper", "--by", "colour", "--out", str(i["dir"] / "o")], "colour")
    add("fit_by_empty", lambda i: ["fit", "paper", "--by", ",", "--out", str(i["dir"] / "o")], "--by")
    add("fit_no_out", lambda i: ["fit", "paper"], "--out")
    add("runs_missing_file", lambda i: ["fit", str(i["dir"] / "nope.csv"), "--out", str(i["dir"] / "o")],
        "no such runs file")
    add("runs_directory", lambda i: ["fit", str(i["dir"]), "--out", str(i["dir"] / "o")], "Is a directory")
    add("reproduce_runs_missing", lambda i: ["reproduce", "--runs", str(i["dir"] / "nope.csv"), "--out",
                                             str(i["dir"] / "o")], "no such runs file")
    # every bad runs table, through each command that reads runs
    for name in ["empty", "header_only", "binary", "utf16", "json", "ragged", "no_metric", "no_fraction", "nan_metric",
                 "inf_metric", "text_metric", "neg_params", "zero_params", "fraction_zero", "fraction_five",
                 "fraction_neg", "total_mismatch", "empty_task", "n_tasks_zero", "neg_flops", "overflow"]:
        add(f"fit_runs_{name}", lambda i, n=name: ["fit", str(i["runs"][n][0]), "--out", str(i["dir"] / "o")],
            ("runs", name))
        add(f"reproduce_runs_{name}", lambda i, n=name: ["reproduce", "--runs", str(i["runs"][n][0]), "--out",
                                                         str(i["dir"] / "o")], ("runs", name))
        add(f"compare_runs_{name}", lambda i, n=name: ["compare", str(i["runs"][n][0]), "--out", str(i["dir"] / "o")],
            ("runs", name))
    # forecast
    for value, expect in [("nan", "must be a number"), ("inf", "must be finite"), ("1e400", "must be finite"),
                          ("-7e9", "must be positive"), ("0", "must be positive"), ("abc", "must be a number"),
                          ("-inf", "must be finite")]:
        add(f"forecast_train_params_{value}", lambda i, v=value: ["forecast", "--fits", FITS, "--train-params", v,
                                                                 "--fraction", "0.1"], f"--train-params: {expect}")
    for value, expect in [("0", "must be in (0, 2]"), ("3", "must be in (0, 2]"), ("-1", "must be in (0, 2]"),
                          ("nan", "must be a number"),
                          ("x", "must be a number")]:
        add(f"forecast_fraction_{value}", lambda i, v=value: ["forecast", "--fits", FITS, "--train-params", "3e10",
                                                             "--fraction", v], f"--fraction: {expect}")
    add("forecast_train_params_1", lambda i: ["forecast", "--fits", FITS, "--train-params", "1", "--fraction", "0.1"],
        "refusing to extrapolate")
    add("forecast_task_unknown", lambda i: FORECAST + ["--task", "gsm8k"], "no fitted curve")
    add("forecast_method_unknown", lambda i: FORECAST + ["--method", "dsir"], "no fitted curve")
    add("forecast_fits_missing", lambda i: ["forecast", "--fits", str(i["dir"] / "nope"), "--train-params", "3e10",
                                            "--fraction", "0.1"], "no fitted results")
    add("forecast_no_fits", lambda i: ["forecast", "--train-params", "3e10", "--fraction", "0.1"], "--fits")
    for name in ["fits_empty_dir", "fits_bad_json", "fits_wrong_kind", "fits_list_json", "fits_old_version",
                 "fits_no_replicates"]:
        add(f"forecast_{name}", lambda i, n=name: ["forecast", "--fits", str(i["fits"][n][0]), "--train-params",
                                                   "3e10", "--fraction", "0.1"], ("fits", name))
        add(f"plan_{name}", lambda i, n=name: PLAN + ["--fits", str(i["fits"][n][0])], ("fits", name))
    # plan
    for opt in ("--budget", "--train-params", "--pool-tokens"):
        for value, expect in [("-1", "must be positive"), ("0", "must be positive"), ("nan", "must be a number"),
                              ("inf", "must be finite"), ("abc", "must be a number"), ("1e400", "must be finite")]:
            def argv(i, o=opt, v=value):
                a = list(PLAN)
                a[a.index(o) + 1] = v
                return a
            add(f"plan{opt}_{value}", argv, f"{opt}: {expect}")
    for value, expect in [("0", "must be >= 1"), ("0.5", "must be >= 1"), ("nan", "must be a number"),
                          ("-3", "must be >= 1")]:
        add(f"plan_n_tasks_{value}", lambda i, v=value: PLAN + ["--n-tasks", v], f"--n-tasks: {expect}")
    for value in ("0", "-1", "nan"):
        add(f"plan_gain_{value}", lambda i, v=value: PLAN + ["--gain", v], "--gain")
    for spec, expect in [("1e17:1e20", "a:b:n"), ("a:b:c", "a:b:n"), ("1e20:1e17:3", "0 < a <= b"),
                         ("1e17:1e20:0", "n >= 1"), ("-1:1e20:3", "0 < a <= b"), ("1e17:nan:3", "0 < a <= b")]:
        add(f"plan_budgets_{spec}", lambda i, s=spec: ["plan", "--budgets", s, "--train-params", "7e9",
                                                       "--pool-tokens", "1e8"], expect)
    for spec, expect in [("foo", "unknown selector 'foo'"), ("ppl:abc", "bad selector size"),
                         ("bm25:7e9", "uses no selector model"), ("ppl:", "no selector size"),
                         ("ppl:-1", "bad selector size")]:
        add(f"plan_selectors_{spec}", lambda i, s=spec: PLAN + ["--selectors", s], expect)
    add("plan_selectors_blank", lambda i: PLAN + ["--selectors", " "], "no selectors")
    add("plan_task_unknown", lambda i: PLAN + ["--task", "gsm8k"], "no fitted curves for task 'gsm8k'")
    add("plan_train_params_1", lambda i: ["plan", "--budget", "2e18", "--train-params", "1", "--pool-tokens", "1e8"],
        "refusing to extrapolate")
    add("plan_both_budgets", lambda i: PLAN + ["--budgets", "1e17:1e20:3"], "not allowed with")
    add("plan_no_budget", lambda i: ["plan", "--train-params", "7e9", "--pool-tokens", "1e8"], "required")
    add("plan_out_is_file", lambda i: PLAN + ["--out", str(i["afile"])], "is an existing file")
    add("plan_out_not_dir", lambda i: PLAN + ["--out", "/dev/null/x"], "Not a directory")
    add("plan_fits_missing", lambda i: PLAN + ["--fits", str(i["dir"] / "nope")], "no fitted results")
    # sweep: the command line
    add("sweep_nothing", lambda i: ["sweep", "--out", str(i["dir"] / "s")], "give either CONFIG or --preset")
    add("sweep_both", lambda i: ["sweep", str(i["sweeps"]["unknown_key"][0]), "--preset", "smoke", "--out",
                                 str(i["dir"] / "s")], "give either CONFIG or --preset")
    add("sweep_preset_typo", lambda i: ["sweep", "--preset", "smokee", "--out", str(i["dir"] / "s")],
        "did you mean 'smoke'")
    add("sweep_config_missing", lambda i: ["sweep", str(i["dir"] / "nope.toml"), "--out", str(i["dir"] / "s")],
        "no such config file")
    add("sweep_config_dir", lambda i: ["sweep", str(i["dir"]), "--out", str(i["dir"] / "s")], "is a folder, not a config file")
    add("sweep_no_out", lambda i: ["sweep", "--preset", "smoke"], "--out")
    add("sweep_out_is_file", lambda i: ["sweep", "--preset", "smoke", "--out", str(i["afile"])], "is an existing file")
    for value, expect in [("-1", "must be >= 1"), ("0", "must be >= 1"), ("abc", "invalid int value")]:
        add(f"sweep_limit_{value}", lambda i, v=value: ["sweep", "--preset", "smoke", "--limit", v, "--out",
                                                       str(i["dir"] / "s")], expect)
    return cases


CASES = _cases()


def _sweep_cases():
    return [(f"sweep_config_{name}", name) for name in _SWEEP_NAMES]


_SWEEP_NAMES = None  # filled below from a throwaway build of the configs (names only)


def _names_of_sweeps():
    import tempfile
    with tempfile.TemporaryDirectory() as d:
        return list(_sweep_configs(Path(d)))


_SWEEP_NAMES = _names_of_sweeps()
RESULTS: list[tuple[str, str]] = []


def _run(argv, capsys, with_stdout=False):
    try:
        code = main(argv)
    except SystemExit as exc:  # --help/--version only
        code = exc.code
    captured = capsys.readouterr()
    return (code, captured.err.strip(), captured.out) if with_stdout else (code, captured.err.strip())


def _check_error(cid, code, err, expect):
    lines = err.splitlines()
    errors = [line for line in lines if not line.startswith(("costlaw: warning:", "[costlaw]"))]
    ok = code == 2 and len(errors) == 1 and "Traceback" not in err and expect in errors[0]
    RESULTS.append((cid, "clean" if ok else "bad"))
    assert code == 2, f"{cid}: exit {code}, expected 2 ({err[-300:]})"
    assert len(errors) == 1, f"{cid}: expected one error line, got {errors}"
    assert errors[0].startswith("costlaw"), errors[0]
    assert expect in errors[0], f"{cid}: {expect!r} not in {errors[0]!r}"


@pytest.mark.parametrize("cid, argv, expect", CASES, ids=[c[0] for c in CASES])
def test_bad_input_is_one_line_exit_2(cid, argv, expect, inputs, capsys):
    if isinstance(expect, tuple):  # (kind, name): the expected text sits with the generated input
        expect = inputs[expect[0]][expect[1]][1]
    code, err = _run(argv(inputs), capsys)
    _check_error(cid, code, err, expect)


@pytest.mark.parametrize("cid, name", _sweep_cases(), ids=[c[0] for c in _sweep_cases()])
def test_bad_sweep_config_is_one_line_exit_2(cid, name, inputs, capsys):
    path, expect = inputs["sweeps"][name]
    code, err = _run(["sweep", str(path), "--out", str(inputs["dir"] / f"s_{name}"), "--no-progress"], capsys)
    _check_error(cid, code, err, expect)
    assert not (inputs["dir"] / f"s_{name}" / "runs.csv").exists(), f"{cid}: a run was written"


# Odd but valid inputs: an answer (exit 0) and a warning that names what is odd.
ODD = [
    ("duplicated_rows", "dup", ["fit", "RUNS", "--n-boot", "2", "--out", "OUT"], "duplicated run"),
    ("single_run", "one", ["fit", "RUNS", "--n-boot", "2", "--out", "OUT"], "underdetermined"),
    ("all_at_fraction_1", "f1", ["fit", "RUNS", "--n-boot", "2", "--out", "OUT"], "underdetermined"),
    ("reproduce_without_ppl_less", "nopl", ["reproduce", "--runs", "RUNS", "--n-boot", "2", "--no-figures",
                                            "--out", "OUT"], "not applicable"),
    ("compare_single_run", "one", ["compare", "RUNS", "--n-boot", "2", "--out", "OUT"], "underdetermined"),
    ("reproduce_all_at_fraction_1", "f1", ["reproduce", "--runs", "RUNS", "--n-boot", "2", "--no-figures",
                                           "--out", "OUT"], "underdetermined"),
    ("forecast_small_model", None, ["forecast", "--fits", FITS, "--train-params", "1e9", "--fraction", "0.1"],
     "extrapolates"),
    ("forecast_tiny_fraction", None, ["forecast", "--fits", FITS, "--train-params", "3e10", "--fraction", "0.005"],
     "extrapolates"),
]


@pytest.fixture(scope="module")
def odd_runs(tmp_path_factory):
    from costlaw import paper_runs
    d = tmp_path_factory.mktemp("odd")
    runs = paper_runs()
    pd.concat([runs, runs]).to_csv(d / "dup.csv", index=False)
    runs.head(1).to_csv(d / "one.csv", index=False)
    runs[runs.fraction == 1].to_csv(d / "f1.csv", index=False)
    runs[runs.method.isin(["random", "bm25", "embed"])].to_csv(d / "nopl.csv", index=False)
    return d


@pytest.mark.parametrize("cid, table, argv, warning", ODD, ids=[c[0] for c in ODD])
def test_odd_input_answers_with_a_warning(cid, table, argv, warning, odd_runs, capsys):
    argv = [a.replace("RUNS", str(odd_runs / f"{table}.csv")).replace("OUT", str(odd_runs / f"out_{cid}"))
            for a in argv]
    code, err, out = _run(argv, capsys, with_stdout=True)
    # said as a "costlaw: warning:" line, or in the report the command prints (reproduce's "Fit warnings")
    warned = any(line.startswith("costlaw: warning:") and warning in line for line in err.splitlines()) or \
        warning in out
    RESULTS.append((cid, "answered with warning" if code == 0 and warned else "bad"))
    assert code == 0 and warned, f"{cid}: exit {code}, stderr {err[-400:]}"
    assert "Traceback" not in err


def test_corpus_counts():
    """The tally of this corpus (run after the cases above; -p no:randomly keeps the order)."""
    counts = Counter(kind for _, kind in RESULTS)
    print(f"\nbad-input corpus: {len(RESULTS)} cases, {dict(counts)}")
    assert len(CASES) + len(_SWEEP_NAMES) + len(ODD) >= 150
    assert counts.get("bad", 0) == 0
