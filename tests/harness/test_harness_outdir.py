"""One writer per sweep folder; an interrupted sweep leaves no orphan phase rows and no temporary files."""
import os
import subprocess
import sys

import pandas as pd

from costlaw.harness.outdir import drop_unfinished_phases, remove_stale_temps, sweep_lock


def test_second_sweep_into_a_locked_folder_refuses_in_one_line(tmp_path):
    out = tmp_path / "sweep"
    with sweep_lock(out):
        proc = subprocess.run([sys.executable, "-m", "costlaw.cli", "sweep", "--preset", "smoke", "--out", str(out),
                               "--no-progress"], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 2, proc.stderr[-500:]
    err = proc.stderr.strip().splitlines()
    assert len(err) == 1 and "in use by another sweep" in err[0] and f"pid {os.getpid()}" in err[0]
    assert not (out / "runs.csv").exists()
    with sweep_lock(out):  # released: the next sweep may take it
        pass


def test_phase_rows_of_unfinished_runs_are_dropped(tmp_path):
    pd.DataFrame({"run_id": ["a", "b"], "x": [1, 2]}).to_csv(tmp_path / "runs.csv", index=False)
    pd.DataFrame({"run_id": ["a", "a", "b", "c", "c"], "phase": list("pqpqr")}).to_csv(tmp_path / "phases.csv",
                                                                                       index=False)
    assert drop_unfinished_phases(tmp_path / "phases.csv", tmp_path / "runs.csv") == 2
    assert list(pd.read_csv(tmp_path / "phases.csv").run_id) == ["a", "a", "b"]
    assert drop_unfinished_phases(tmp_path / "phases.csv", tmp_path / "runs.csv") == 0


def test_temporary_files_of_dead_processes_are_removed(tmp_path):
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True,
                          text=True).stdout.strip()
    (tmp_path / "base").mkdir()
    stale_dir = tmp_path / "base" / f"tiny-xs-abc.tmp{dead}"
    stale_dir.mkdir()
    (stale_dir / "model.safetensors").write_text("x")
    stale_file = tmp_path / f".runs.csv.tmp{dead}"
    stale_file.write_text("x")
    live = tmp_path / f".runs.csv.tmp{os.getpid()}"
    live.write_text("x")
    removed = remove_stale_temps(tmp_path)
    assert not stale_dir.exists() and not stale_file.exists() and live.exists()
    assert set(removed) == {stale_dir, stale_file}
