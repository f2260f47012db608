"""Speed of the analytic core as ratios against minimal numpy/scipy baselines measured in the same run.

    python benchmarks/core_speed.py                  # fit, 1000 refits, reproduce, plan (a few minutes)
    python benchmarks/core_speed.py --scaling        # + the scaling series 180 ... 180,000 runs (long)
    python benchmarks/core_speed.py --quick          # fewer repetitions, 100 baseline refits
    python benchmarks/core_speed.py --skip-core --scaling --only-reproduce --reproduce-sizes 180,1800,18000
    python benchmarks/core_speed.py --skip-core --scaling --only-reproduce --reproduce-sizes 18000 --jobs 2 --no-figures
    python benchmarks/core_speed.py --plan-only      # only the `costlaw plan` processes (a minute)

Baselines (numpy and scipy only, reading the CSV with ``csv``): the offset_exp fit done directly per panel with
``scipy.optimize.least_squares``, an analytic Jacobian, costlaw's bounds and its three starts; the bootstrap as
warm per-panel ``least_squares`` refits of the same resamples; whole processes against a minimal script that
reads, fits, makes 30 refits and writes a CSV (reproduce) or only imports numpy (plan). In-process
figures are CPU seconds (``time.process_time``), A and B alternated, the ratio taken pair by pair (the machine is
shared). Whole processes are timed with ``os.wait4`` (CPU = user + sys of the child and its workers; peak memory =
its max RSS, the largest single process); in the scaling series ``reproduce`` also gets the peak over time of the
summed RSS and summed PSS of all its processes (sampled from /proc every 0.1 s: with ``--jobs`` > 1 the workers'
memory counts too; RSS counts pages shared after fork once per process, PSS splits them).
The scaling series grows the paper's 180 runs by panels (more tasks) or by seeds (repeats of every run), metric +
N(0, 0.3) on the copies, and reports time and peak memory per size and the fitted exponent of time in runs.
Results go to stdout as a markdown table and to ``results/core_speed.json`` (git-ignored).
"""
from __future__ import annotations

import argparse
import csv
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from scipy.optimize import least_squares

ROOT = Path(__file__).resolve().parents[1]
RUNS_CSV = ROOT / "data" / "paper" / "runs.csv"
K_BOUNDS, K_STARTS = (-30.0, 80.0), (0.5, 5.0, 30.0)


# ---- the minimal baseline: offset_exp per panel with least_squares and an analytic Jacobian ------------------
def read_panels(path=RUNS_CSV):
    """Panels of the runs CSV: (fraction, metric, method code, n_methods, lower, upper) per (task, train_model)."""
    panels: dict = {}
    with open(path) as fh:
        for row in csv.DictReader(fh):
            panels.setdefault((row["task"], row["train_model"]), []).append(
                (float(row["fraction"]), float(row["metric"]), row["method"]))
    out = []
    for rows in panels.values():
        f = np.array([r[0] for r in rows])
        y = np.array([r[1] for r in rows])
        methods = list(dict.fromkeys(r[2] for r in rows))
        code = np.array([methods.index(r[2]) for r in rows])
        lo, hi = y.min(), y.max()
        span = max(hi - lo, 1e-3 * max(abs(hi), 1.0))
        lower = np.r_[lo - 3 * span - 1, lo - 3 * span - 1, np.full(len(methods), K_BOUNDS[0])]
        upper = np.r_[hi + 3 * span + 1, hi + 3 * span + 1, np.full(len(methods), K_BOUNDS[1])]
        out.append((f, y, code, len(methods), lower, upper))
    return out


def _model(theta, f, code):
    p0, pfull, k = theta[0], theta[1], theta[2:][code]
    small = np.abs(k) < 1e-8
    safe = np.where(small, 1.0, k)
    em = np.expm1(-safe)
    h = np.where(small, f, np.expm1(-safe * f) / em)
    dh = np.where(small, 0.5 * f * (1 - f), (-f * np.exp(-safe * f) * em + np.exp(-safe) * np.expm1(-safe * f)) / em ** 2)
    return p0 + (pfull - p0) * h, h, (pfull - p0) * dh


def baseline_fit_panel(f, y, code, n_methods, lower, upper, starts=None, w=None):
    w = np.ones_like(y) if w is None else np.sqrt(w)

    def fun(t):
        return (_model(t, f, code)[0] - y) * w

    def jac(t):
        _, h, dk = _model(t, f, code)
        J = np.zeros((len(f), 2 + n_methods))
        J[:, 0], J[:, 1] = 1 - h, h
        J[np.arange(len(f)), 2 + code] = dk
        return J * w[:, None]

    if starts is None:
        starts = [np.r_[y.min() - 0.5, y[f == f.max()].mean(), np.full(n_methods, k)] for k in K_STARTS]
    best = None
    span = upper - lower
    for x0 in starts:
        x0 = np.clip(x0, lower + 1e-9 * span, upper - 1e-9 * span)
        res = least_squares(fun, x0, jac=jac, bounds=(lower, upper), x_scale="jac")
        if best is None or res.cost < best.cost:
            best = res
    return best.x


def baseline_fit(panels):
    return [baseline_fit_panel(*p) for p in panels]


def baseline_refits(panels, point, n_boot, seed=0):
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n_boot):
        rep = []
        for (f, y, code, n_methods, lower, upper), x in zip(panels, point):
            w = np.zeros(len(y))
            for c in range(n_methods):
                ix = np.flatnonzero(code == c)
                np.add.at(w, ix[rng.integers(0, len(ix), len(ix))], 1.0)
            rep.append(baseline_fit_panel(f, y, code, n_methods, lower, upper, starts=[x], w=w))
        out.append(rep)
    return out


MINIMAL_JOB = r'''
import sys, csv, numpy as np
sys.path.insert(0, {bench!r})
from core_speed import read_panels, baseline_fit, baseline_refits
panels = read_panels({runs!r})
point = baseline_fit(panels)
reps = baseline_refits(panels, point, {n_boot})
with open({out!r}, "w", newline="") as fh:
    w = csv.writer(fh)
    for x in point:
        w.writerow(list(x))
'''


# ---- timing helpers -------------------------------------------------------------------------------------------
def cpu(fn, *args):
    t = time.process_time()
    fn(*args)
    return time.process_time() - t


def paired(a, b, n):
    """CPU seconds of a() and b(), alternated n times: medians and the median of the pairwise ratios."""
    ta, tb = [], []
    for _ in range(n):
        ta.append(cpu(a))
        tb.append(cpu(b))
    ratio = np.median(np.array(ta) / np.array(tb))
    return float(np.median(ta)), float(np.median(tb)), float(ratio)


def tree_memory_mib(pid: int) -> tuple[float, float]:
    """(summed RSS, summed PSS) in MiB of ``pid`` and its descendants, from /proc (Linux; zeros elsewhere). RSS
    counts pages a forked worker shares with its parent in both; PSS splits each shared page between them."""
    rss = pss = 0.0
    todo = [pid]
    while todo:
        p = todo.pop()
        try:
            with open(f"/proc/{p}/smaps_rollup") as fh:
                for line in fh:
                    if line.startswith(("Rss:", "Pss:")):
                        kb = float(line.split()[1]) / 1024
                        rss, pss = (rss + kb, pss) if line.startswith("Rss:") else (rss, pss + kb)
            with open(f"/proc/{p}/task/{p}/children") as fh:
                todo += [int(c) for c in fh.read().split()]
        except (OSError, ValueError):
            continue
    return rss, pss


def process(argv, env=None, tree: dict | None = None):
    """Run a whole process; CPU seconds (user + sys), wall seconds, peak RSS in MiB (``ru_maxrss``: the largest
    of the process and its waited-for children, not their sum). ``tree``: a dict that gets the peaks over time of
    the summed RSS and summed PSS of the process and its children (``--jobs`` workers), sampled every 0.1 s."""
    import threading
    start = time.perf_counter()
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env, cwd=ROOT)
    done = threading.Event()

    def sample():
        while not done.wait(0.1):
            rss, pss = tree_memory_mib(proc.pid)
            tree["peak_rss_sum_mib"] = max(tree.get("peak_rss_sum_mib", 0.0), rss)
            tree["peak_pss_sum_mib"] = max(tree.get("peak_pss_sum_mib", 0.0), pss)

    sampler = threading.Thread(target=sample, daemon=True) if tree is not None else None
    if sampler:
        sampler.start()
    _, status, usage = os.wait4(proc.pid, 0)
    done.set()
    if sampler:
        sampler.join()
    wall = time.perf_counter() - start
    err = proc.stderr.read().decode()
    proc.stderr.close()
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(map(str, argv))} failed ({proc.returncode}): {err[-2000:]}")
    return usage.ru_utime + usage.ru_stime, wall, usage.ru_maxrss / 1024


def paired_process(a, b, n, env):
    rows = [(process(a, env), process(b, env)) for _ in range(n)]
    ca, cb = [r[0][0] for r in rows], [r[1][0] for r in rows]
    return (float(np.median(ca)), float(np.median(cb)), float(np.median(np.array(ca) / np.array(cb))),
            float(np.median([r[0][2] for r in rows])))


PLAN_CASES = {  # the README's and docs/plan.md's examples (goal: the single plans under 0.3 s whole process)
    "plan": ["--budget", "1.5e19", "--train-params", "70e9", "--task", "mmlu"],
    "plan_json": ["--budget", "2e18", "--train-params", "7e9", "--task", "mmlu", "--json"],
    "plan_sweep": ["--budgets", "1e17:1e20:31", "--train-params", "30e9"],
    "plan_sweep_map": ["--budgets", "1e17:1e20:31", "--train-params", "30e9", "--map"],
    # pilot-anchored plans (costlaw.pilot): per-panel refits and transfers of each shipped form; they load pandas
    "plan_pilot": ["--budget", "1e18", "--train-params", "3e10", "--task", "mmlu", "--pilot", "random:0.025:58.0"],
    "plan_pilot_sweep": ["--budgets", "1e17:1e20:31", "--train-params", "3e10", "--task", "mmlu",
                         "--pilot", "random:0.025:58.0", "--pilot", "bm25:0.025:58.6"],
}


def plan_lines(results: dict, env, n: int) -> list:
    """``costlaw plan`` whole processes against ``python -c "import numpy"`` with one BLAS thread (the floor of any
    numpy program; the plan loads numpy so too), alternated: CPU (user + sys) and wall medians and the median of
    the CPU ratios of the pairs."""
    base = [sys.executable, "-c", "import numpy"]
    base_env = dict(env, OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    lines = []
    for name, argv in PLAN_CASES.items():
        cmd = [sys.executable, "-m", "costlaw.cli", "plan", "--pool-tokens", "1.0938e8", *argv]
        rows = [(process(cmd, env), process(base, base_env)) for _ in range(n)]
        cpu_a, cpu_b = [r[0][0] for r in rows], [r[1][0] for r in rows]
        wall_a, wall_b = float(np.median([r[0][1] for r in rows])), float(np.median([r[1][1] for r in rows]))
        a, b, ratio = float(np.median(cpu_a)), float(np.median(cpu_b)), float(np.median(np.array(cpu_a) / cpu_b))
        results[name] = {"argv": argv, "costlaw_cpu_s": a, "baseline_cpu_s": b, "ratio": ratio, "costlaw_wall_s":
                         wall_a, "baseline_wall_s": wall_b, "peak_mib": float(np.median([r[0][2] for r in rows]))}
        lines.append(f"| `costlaw plan {' '.join(argv)}` whole process (CPU s; wall {wall_a:.3f} vs {wall_b:.3f}) | "
                     f"{a:.3f} | {b:.3f} (`import numpy`, one BLAS thread) | {ratio:.2f}x |")
    return lines


# ---- synthetic runs for the scaling series --------------------------------------------------------------------
def grow(runs, m: int, how: str, seed: int = 0):
    """The paper's runs grown m-fold: ``panels`` (tasks copied as '<task>_r<i>') or ``seeds`` (every run
    repeated with a seed column); metric + N(0, 0.3) on the copies."""
    import pandas as pd
    rng = np.random.default_rng(seed)
    parts = []
    for i in range(m):
        copy = runs.copy()
        if i:
            copy["metric"] = copy.metric + rng.normal(0, 0.3, len(copy))
        if how == "panels":
            copy["task"] = copy.task if i == 0 else copy.task + f"_r{i}"
        else:
            copy["seed"] = i
        parts.append(copy)
    return pd.concat(parts, ignore_index=True)


def exponent(sizes, times):
    sizes, times = np.log(np.asarray(sizes, float)), np.log(np.asarray(times, float))
    return float(np.polyfit(sizes, times, 1)[0]) if len(sizes) >= 2 else float("nan")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer repetitions; 100 baseline refits")
    parser.add_argument("--scaling", action="store_true", help="run the scaling series too")
    parser.add_argument("--sizes", default="180,1800,18000,180000", help="scaling sizes (runs)")
    parser.add_argument("--reproduce-sizes", default="1800,18000,180000", help="sizes for reproduce (panels grow)")
    parser.add_argument("--skip-core", action="store_true", help="only the scaling series")
    parser.add_argument("--only-reproduce", action="store_true",
                        help="in the scaling series, time only reproduce (at --reproduce-sizes), not fit")
    parser.add_argument("--jobs", type=int, default=1,
                        help="reproduce --jobs in the scaling series (default 1: CPU seconds of one process; "
                             "with more, CPU counts the workers too and wall is the figure to read)")
    parser.add_argument("--plan-only", action="store_true", help="only the `costlaw plan` processes")
    parser.add_argument("--no-figures", dest="figures", action="store_false",
                        help="reproduce --no-figures in the scaling series (CSVs only)")
    parser.add_argument("--out", default=str(ROOT / "results" / "core_speed.json"))
    args = parser.parse_args(argv)
    import warnings

    sys.path.insert(0, str(ROOT))
    from costlaw import datasets, fit
    from costlaw.errors import CostlawWarning
    from costlaw.uncertainty import bootstrap
    warnings.simplefilter("ignore", CostlawWarning)
    env = dict(os.environ, PYTHONPATH=str(ROOT), MPLBACKEND="Agg", PYTHONWARNINGS="ignore")
    results: dict = {"load_before": os.getloadavg()[0]}
    reps = 3 if args.quick else 7
    lines = ["| what | costlaw | baseline | ratio (median of pairs) |", "|---|---|---|---|"]

    if args.plan_only:
        lines += plan_lines(results, env, 5 if args.quick else 10)
        print("\n".join(lines))
    elif not args.skip_core:
        runs = datasets.paper_runs()
        panels = read_panels()
        fit(runs, "offset_exp")  # warm caches and imports
        a, b, r = paired(lambda: fit(runs, "offset_exp"), lambda: baseline_fit(panels), reps)
        results["point_fit"] = {"costlaw_s": a, "baseline_s": b, "ratio": r}
        lines.append(f"| offset_exp point fit, 180 runs (CPU s) | {a:.3f} | {b:.3f} | {r:.2f}x |")
        point = fit(runs, "offset_exp")
        base_point = baseline_fit(panels)
        n_base = 100 if args.quick else 1000
        t_ours = [cpu(lambda: bootstrap(point, n_boot=1000, seed=s)) for s in range(2 if args.quick else 3)]
        t_base = cpu(lambda: baseline_refits(panels, base_point, n_base))
        ours, base = float(np.median(t_ours)), t_base * 1000 / n_base
        results["refits_1000"] = {"costlaw_s": ours, "baseline_s": base, "baseline_refits_timed": n_base,
                                  "ratio": ours / base}
        lines.append(f"| 1000 bootstrap refits of offset_exp (CPU s) | {ours:.2f} | {base:.2f} (warm per-panel "
                     f"least_squares{', scaled from %d' % n_base if n_base != 1000 else ''}) | {ours / base:.3f}x |")
        with tempfile.TemporaryDirectory() as tmp:
            minimal = Path(tmp) / "minimal.py"
            minimal.write_text(MINIMAL_JOB.format(bench=str(ROOT / "benchmarks"), runs=str(RUNS_CSV), n_boot=30,
                                                  out=str(Path(tmp) / "min.csv")))
            n_proc = 2 if args.quick else 3
            a, b, r, mem = paired_process([sys.executable, "-m", "costlaw.cli", "reproduce", "--out",
                                           str(Path(tmp) / "rep"), "--jobs", str(args.jobs)],
                                          [sys.executable, str(minimal)], n_proc, env)
            results["reproduce"] = {"costlaw_cpu_s": a, "baseline_cpu_s": b, "ratio": r, "peak_mib": mem}
            lines.append(f"| `costlaw reproduce` whole process (CPU s) | {a:.2f} | {b:.2f} (minimal fit + 30 refits "
                         f"script) | {r:.2f}x |")
            lines += plan_lines(results, env, 5 if args.quick else 10)
            c_pass = float(np.median([process([sys.executable, "-c", "pass"], env)[0] for _ in range(3)]))
            results["python_pass_cpu_s"] = c_pass
        print("\n".join(lines))

    if args.scaling:
        results["scaling"] = scaling(args, env)
    results["load_after"] = os.getloadavg()[0]
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=1))
    print(f"\nwrote {out} (1-minute load {results['load_before']:.1f} -> {results['load_after']:.1f})")
    return 0


def scaling(args, env) -> dict:
    from costlaw import datasets
    runs = datasets.paper_runs()
    sizes = [int(s) for s in args.sizes.split(",") if s]
    rsizes = [int(s) for s in args.reproduce_sizes.split(",") if s]
    out = {"fit": {"panels": [], "seeds": []}, "reproduce": {"panels": []}, "jobs": args.jobs}
    if args.only_reproduce:
        sizes = rsizes
    with tempfile.TemporaryDirectory() as tmp:
        for how in ("panels", "seeds"):
            for n in sizes:
                path = Path(tmp) / f"{how}_{n}.csv"
                if how == "seeds" and args.only_reproduce:
                    continue
                grow(runs, n // len(runs), how).to_csv(path, index=False)
                if not args.only_reproduce:
                    cpu_s, wall, mem = process([sys.executable, "-m", "costlaw.cli", "fit", str(path), "--form",
                                                "offset_exp", "--out", str(Path(tmp) / f"fit_{how}_{n}"),
                                                "--n-boot", "30"], env)
                    out["fit"][how].append({"runs": n, "cpu_s": cpu_s, "wall_s": wall, "peak_mib": mem,
                                            "load": os.getloadavg()[0]})
                    print(f"fit --n-boot 30, {how} grow, {n} runs: {cpu_s:.1f} s CPU, {wall:.1f} s wall, {mem:.0f} MiB",
                          flush=True)
                if how == "panels" and n in rsizes:
                    load, tree = os.getloadavg()[0], {}
                    cpu_s, wall, mem = process([sys.executable, "-m", "costlaw.cli", "reproduce", "--runs", str(path),
                                                "--out", str(Path(tmp) / f"rep_{n}"), "--jobs", str(args.jobs)]
                                               + ([] if args.figures else ["--no-figures"]), env, tree=tree)
                    out["reproduce"]["panels"].append({"runs": n, "cpu_s": cpu_s, "wall_s": wall, "peak_mib": mem,
                                                       **tree, "figures": args.figures,
                                                       "load_before": load, "load_after": os.getloadavg()[0]})
                    summed = (f"; all processes together: RSS {tree.get('peak_rss_sum_mib', 0):.0f}, PSS "
                              f"{tree.get('peak_pss_sum_mib', 0):.0f} MiB" if args.jobs > 1 else "")
                    print(f"reproduce --jobs {args.jobs}{'' if args.figures else ' --no-figures'}, panels grow, {n} "
                          f"runs: {cpu_s:.1f} s CPU, {wall:.1f} s wall, peak {mem:.0f} MiB (largest process{summed}; "
                          f"1-minute load {load:.1f} -> {os.getloadavg()[0]:.1f})", flush=True)
    floor = process([sys.executable, "-c", "import costlaw, pandas, scipy.optimize"], env)[0]
    out["import_floor_cpu_s"] = floor
    for kind, series in (("fit", out["fit"]["panels"]), ("fit", out["fit"]["seeds"]),
                         ("reproduce", out["reproduce"]["panels"])):
        big = [r for r in series if r["runs"] >= 1800]
        for r in series:
            r["work_s"] = max(r["cpu_s"] - floor, 1e-3)
        if len(big) >= 2:
            exp = exponent([r["runs"] for r in big], [r["work_s"] for r in big])
            series_name = "seeds" if series is out["fit"]["seeds"] else "panels"
            out.setdefault("exponents", {})[f"{kind}_{series_name}"] = exp
            print(f"{kind}, {series_name} grow: CPU-minus-import time ~ runs^{exp:.2f} (1,800 and up)")
    return out


if __name__ == "__main__":
    sys.exit(main())
