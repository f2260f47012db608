"""One command shape and one error discipline: every command registers from its own module, user errors are one
line with exit 2, bugs keep their traceback, outputs are checked before the work."""
import importlib
import os
import stat
import subprocess
import sys

import pytest

from costlaw.cli import build_parser, main
from costlaw.commands import COMMANDS
from costlaw.errors import CostlawError, UnknownName
from costlaw.registry import Registry


def test_every_command_module_has_the_shape():
    for name, module_name in COMMANDS.items():
        module = importlib.import_module(module_name)
        assert callable(module.add_parser) and callable(module.run), name
    sub = build_parser()._subparsers._group_actions[0]
    assert list(sub.choices) == list(COMMANDS)


@pytest.mark.parametrize("what, expect", [("forms", ["paper", "offset_exp", "offset_exp_size"]),
                                          ("selectors", ["bm25", "less", "gradient", "ppl-mid"]),
                                          ("presets", ["smoke", "demo"])])
def test_ls_lists_registries(what, expect, capsys):
    assert main(["ls", what]) == 0
    names = [line.split()[0] for line in capsys.readouterr().out.splitlines()]
    assert set(expect) <= set(names)


def test_version(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["--version"])
    assert exc.value.code == 0 and capsys.readouterr().out.startswith("costlaw ")


def test_a_bug_keeps_its_traceback(monkeypatch):
    import costlaw.commands.ls as ls

    def broken(what):
        return {}["form"]  # a programming error, not the user's
    monkeypatch.setattr(ls, "rows", broken)
    with pytest.raises(KeyError):
        main(["ls", "forms"])


def test_user_error_is_one_line(capsys):
    assert main(["fit", "paper", "--form", "ofset_exp", "--out", "x"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "did you mean 'offset_exp'" in err


def test_output_checked_before_the_work(tmp_path, monkeypatch, capsys):
    import costlaw.reproduce
    monkeypatch.setattr(costlaw.reproduce, "reproduce", lambda *a, **k: pytest.fail("fitted before checking --out"))
    afile = tmp_path / "README.md"
    afile.write_text("keep me")
    for argv in (["reproduce", "--out", str(afile)], ["compare", "paper", "--out", str(afile)],
                 ["fit", "paper", "--out", str(afile)], ["sweep", "--preset", "smoke", "--out", str(afile)],
                 ["plan", "--budget", "1e18", "--train-params", "7e9", "--pool-tokens", "1e8", "--out", str(afile)]):
        assert main(argv) == 2, argv
        assert "is an existing file" in capsys.readouterr().err
    assert afile.read_text() == "keep me"


def test_os_errors_about_paths_are_one_line(tmp_path, capsys):
    assert main(["plan", "--budget", "1e18", "--train-params", "7e9", "--pool-tokens", "1e8",
                 "--out", "/dev/null/x"]) == 2
    err = capsys.readouterr().err.strip()
    assert err == "costlaw: error: Not a directory: /dev/null/x"


def test_unwritable_out_is_one_line(tmp_path, capsys):
    if os.geteuid() == 0:  # root writes through chmod 555; /sys refuses new folders even to root
        target = "/sys/costlaw-test-out"
    else:
        ro = tmp_path / "ro"
        ro.mkdir()
        ro.chmod(0o555)
        target = str(ro / "f")
    assert main(["fit", "paper", "--out", target]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and target in err and err.startswith("costlaw: error: ")


def test_sweep_without_the_harness_extra_says_what_to_install(monkeypatch, tmp_path, capsys):
    import importlib.util as util
    real = util.find_spec
    monkeypatch.setattr(util, "find_spec", lambda name, *a: None if name == "torch" else real(name, *a))
    assert main(["sweep", "--preset", "smoke", "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "pip install 'costlaw[harness]'" in err and "torch" in err


def test_results_get_normal_permissions(tmp_path):
    from costlaw.io import write_csv_atomic
    import pandas as pd
    old = os.umask(0o022)
    try:
        path = write_csv_atomic(tmp_path / "t.csv", pd.DataFrame({"a": [1]}))
    finally:
        os.umask(old)
    assert stat.S_IMODE(path.stat().st_mode) == 0o644


def test_registry_refuses_duplicates_and_suggests():
    reg = Registry("thing")
    reg.register("alpha", 1)
    with pytest.raises(CostlawError, match="already registered"):
        reg.register("alpha", 2)
    reg.register("alpha", 3, replace=True)
    assert reg.get("alpha") == 3 and "alpha" in reg and list(reg) == ["alpha"]
    with pytest.raises(UnknownName, match=r"did you mean 'alpha'\?\); available: alpha") as exc:
        reg.get("alpah")
    assert isinstance(exc.value, KeyError) and not str(exc.value).startswith('"')


def test_form_signature_checked_at_registration():
    from costlaw.curves import LEVELS, Form, register_form
    with pytest.raises(CostlawError, match="not taken: Pfull"):
        register_form(Form("typo_form", LEVELS, lambda rows, P0, Pful: P0))
    with pytest.raises(CostlawError, match="already registered"):
        register_form(Form("offset_exp", LEVELS, lambda rows, P0, Pfull: P0))


def test_negative_numbers_reach_their_check():
    proc = subprocess.run([sys.executable, "-m", "costlaw.cli", "forecast", "--fits", "x", "--train-params", "-7e9",
                           "--fraction", "0.1"], capture_output=True, text=True)
    assert proc.returncode == 2 and "--train-params: must be positive" in proc.stderr and "Traceback" not in proc.stderr


def test_csv_parts_are_the_bytes_of_their_concatenation(tmp_path):
    """reproduce streams curves.csv / frontier.csv one form at a time: one header, the same bytes as writing the
    concatenated table (floats, NaN, inf, None, booleans)."""
    import numpy as np
    import pandas as pd
    from costlaw.io import write_csv_atomic, write_csv_parts_atomic
    parts = [pd.DataFrame({"task": ["a", "b"], "x": [1.0 / 3, np.nan], "y": [np.inf, 2e20], "up": ["m", None],
                           "ok": [True, False]}),
             pd.DataFrame({"task": ["c"], "x": [-0.0], "y": [5.0], "up": [None], "ok": [True]})]
    write_csv_atomic(tmp_path / "whole.csv", pd.concat(parts, ignore_index=True))
    write_csv_parts_atomic(tmp_path / "parts.csv", iter(parts))
    assert (tmp_path / "parts.csv").read_bytes() == (tmp_path / "whole.csv").read_bytes()
    assert (tmp_path / "parts.csv").read_text().count("task,") == 1
