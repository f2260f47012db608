"""An opt-in real-data ladder: a pool from many BIG-bench tasks, one BBH-source task as the target.

``pip install --no-deps bigbench==1.0.0`` (a 358 MB source package, 1.8 GB installed; pip 24+ refuses its
metadata, so use an older pip or pass the folder as ``root``) ships
~1,000 ``task.json`` files under ``bigbench/benchmark_tasks/``; they are read as files (``import bigbench`` needs
dependencies that are not installed). Each example has an ``input`` and a ``target`` (text) or
``target_scores`` (multiple choice: the option scored highest is the response, all options go to ``options``).

``bigbench_task(target="date_understanding")``: the pool holds up to ``max_per_task`` examples of every other
JSON task (the target's subtasks excluded), validation and test are disjoint draws from the target task. Used by
the ``ratio-bigbench`` preset (``[task.bigbench]``); never in CI.
"""
from __future__ import annotations

import importlib.util
import json
import random
from pathlib import Path

from .data import DataError, Example, Task

BBH_SOURCES = ("date_understanding", "logical_deduction", "navigate", "snarks", "hyperbaton", "disambiguation_qa",
               "causal_judgment", "formal_fallacies_syllogisms_negation", "geometric_shapes", "movie_recommendation",
               "penguins_in_a_table", "ruin_names", "salient_translation_error_detection", "sports_understanding",
               "temporal_sequences", "tracking_shuffled_objects", "web_of_lies", "word_sorting", "boolean_expressions",
               "multistep_arithmetic", "object_counting", "reasoning_about_colored_objects", "dyck_languages")
"""BIG-bench tasks that BIG-Bench Hard was drawn from (Suzgun et al. 2022)."""


def tasks_root(root=None) -> Path:
    """``benchmark_tasks/`` of the installed ``bigbench`` package (or ``root``)."""
    if root is not None:
        path = Path(root)
    else:
        spec = importlib.util.find_spec("bigbench")
        if spec is None or not spec.submodule_search_locations:
            raise DataError("the BIG-bench variant needs `pip install --no-deps bigbench==1.0.0` (about 1.8 GB)")
        path = Path(list(spec.submodule_search_locations)[0]) / "benchmark_tasks"
    if not path.is_dir():
        raise DataError(f"no BIG-bench task folder at {path}")
    return path


def task_files(root) -> dict[str, Path]:
    """Every ``task.json`` under ``root`` by task name (``name/subtask`` for subtasks)."""
    root = Path(root)
    return {str(p.parent.relative_to(root)): p for p in sorted(root.rglob("task.json"))}


def read_task(path, family: str, limit: int | None = None, seed: int = 0) -> list[Example]:
    """Examples of one ``task.json`` (a seeded sample of ``limit`` when it has more)."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as err:
        raise DataError(f"{path}: cannot read ({err})") from None
    prefix = data.get("task_prefix", "") or ""
    rows = data.get("examples", [])
    if limit is not None and len(rows) > limit:
        rows = random.Random(seed).sample(rows, limit)
    out = []
    for row in rows:
        prompt = prefix + str(row.get("input", ""))
        if row.get("target_scores"):
            scores = row["target_scores"]
            options = tuple(str(o) for o in scores)
            response = str(max(scores, key=lambda k: float(scores[k])))
        elif "target" in row:
            target = row["target"]
            response, options = str(target[0] if isinstance(target, list) and target else target), ()
        else:
            continue
        if prompt.strip() and response.strip():
            out.append(Example(prompt, response, family, options))
    return out


def bigbench_task(target: str = "date_understanding", max_per_task: int = 40, validation_examples: int = 32,
                  test_examples: int = 100, max_pool_tasks: int | None = None, root=None, seed: int = 0) -> Task:
    """A pool of up to ``max_per_task`` examples from each other BIG-bench JSON task, and ``target``'s examples
    split into validation and test (disjoint). ``target`` names a task folder (its subtasks included)."""
    files = task_files(tasks_root(root))
    mine = {k: p for k, p in files.items() if k == target or k.startswith(target + "/")}
    if not mine:
        raise DataError(f"no BIG-bench task '{target}'; e.g. {', '.join(t for t in BBH_SOURCES if t in files)}")
    held = [ex for name, p in mine.items() for ex in read_task(p, target)]
    rng = random.Random(seed)
    rng.shuffle(held)
    if len(held) < validation_examples + test_examples:
        raise DataError(f"task '{target}' has {len(held)} examples, fewer than validation + test "
                        f"({validation_examples} + {test_examples})")
    others = sorted(k for k in files if k not in mine)
    if max_pool_tasks is not None:
        others = sorted(rng.sample(others, min(max_pool_tasks, len(others))))
    pool = []
    for name in others:
        pool.extend(read_task(files[name], name.split("/")[0], max_per_task, seed))
    rng.shuffle(pool)
    if not pool:
        raise DataError("the BIG-bench pool is empty")
    test = held[validation_examples:validation_examples + test_examples]
    return Task(f"bigbench-{target}", pool, held[:validation_examples], test)
