"""One writer per sweep folder: a lock on ``DIR/.lock`` (``fcntl.flock``: released when the process ends, even by
SIGKILL), phase rows of unfinished runs dropped on start (phases.csv is written before runs.csv, so a run cut off
between the two would otherwise count its phases twice), and temporary files of dead processes removed."""
from __future__ import annotations

import json
import os
import re
import shutil
import socket
import time
from contextlib import contextmanager
from pathlib import Path

from .config import ConfigError

LOCK_FILE = ".lock"
TEMP_NAME = re.compile(r"\.tmp(\d+)(\.[a-z]+)?$")
"""Temporary names this package writes: ``NAME.tmpPID`` or ``.NAME.tmpPID.EXT``."""


def _is_main_rank() -> bool:
    return int(os.environ.get("RANK", os.environ.get("LOCAL_RANK", "0")) or 0) == 0


@contextmanager
def sweep_lock(out: Path):
    """Hold the lock of the sweep folder ``out`` (made if missing) for the ``with`` body; a second sweep into it
    raises ``ConfigError`` naming the holder. Only the main process of a multi-process launch takes it."""
    if not _is_main_rank():
        yield
        return
    try:
        import fcntl
    except ImportError:  # not POSIX: no lock (the docs say so)
        yield
        return
    out.mkdir(parents=True, exist_ok=True)
    fd = os.open(out / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o666)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 4096, 0).decode(errors="replace").strip() or "{}"
            try:
                h = json.loads(holder)
                who = f"pid {h.get('pid')} on {h.get('host')} since {h.get('since')}"
            except json.JSONDecodeError:
                who = "another process"
            raise ConfigError(f"{out} is in use by another sweep ({who}); wait for it to finish or use another "
                              f"--out") from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps({"pid": os.getpid(), "host": socket.gethostname(),
                                  "since": time.strftime("%Y-%m-%d %H:%M:%S")}).encode(), 0)
        yield
    finally:
        os.close(fd)  # releases the lock


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def remove_stale_temps(*folders: Path) -> list[Path]:
    """Remove temporary files and folders (``*.tmpPID``) under ``folders`` whose process is gone; returns them."""
    removed = []
    for folder in folders:
        if not folder.exists():
            continue
        for path in folder.rglob("*"):
            match = TEMP_NAME.search(path.name)
            if not match or not path.exists() or _alive(int(match.group(1))):
                continue
            shutil.rmtree(path, ignore_errors=True) if path.is_dir() else path.unlink(missing_ok=True)
            removed.append(path)
    return removed


def drop_unfinished_phases(phases_path: Path, runs_path: Path) -> int:
    """Drop phase rows whose run is not in runs.csv (a sweep cut off between the two writes); returns how many."""
    import pandas as pd

    if not phases_path.exists() or phases_path.stat().st_size == 0:
        return 0
    phases = pd.read_csv(phases_path)
    done = set()
    if runs_path.exists() and runs_path.stat().st_size > 0:
        done = set(pd.read_csv(runs_path, usecols=["run_id"])["run_id"].astype(str))
    keep = phases["run_id"].astype(str).isin(done)
    if keep.all():
        return 0
    tmp = phases_path.with_name(f".{phases_path.name}.tmp{os.getpid()}")
    phases[keep].to_csv(tmp, index=False)
    os.replace(tmp, phases_path)
    return int((~keep).sum())
