"""``costlaw sweep`` argument handling: bad input exits 2 with a one-line message."""
import argparse
import subprocess
import sys
from types import SimpleNamespace

import pytest

pytest.importorskip("torch")

from costlaw.harness.cli import add_sweep_command, run_sweep  # noqa: E402
from costlaw.harness.config import ConfigError, load_config  # noqa: E402


def _args(**kw):
    return SimpleNamespace(**{"config": None, "preset": None, "out": "unused", "limit": None, "no_progress": True,
                              **kw})


@pytest.mark.parametrize("kw, message", [
    ({"config": "missing.toml"}, "no such config file"),
    ({"preset": "huge"}, "unknown preset 'huge'; available: demo"),
    ({}, "either CONFIG or --preset"),
    ({"config": "a.toml", "preset": "smoke"}, "either CONFIG or --preset"),
])
def test_bad_input_exits_2(kw, message, capsys):
    assert run_sweep(_args(**kw)) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1


def test_unknown_selector_in_toml_lists_available(tmp_path, capsys):
    path = tmp_path / "s.toml"
    path.write_text('methods = ["bm25", "magic"]\nfractions = [0.1]\ntrain_models = ["tiny-xs"]\n')
    assert run_sweep(_args(config=str(path))) == 2
    assert "unknown selector 'magic'; available:" in capsys.readouterr().err


def test_yaml_and_toml_configs_parse(tmp_path):
    (tmp_path / "s.yaml").write_text("methods: [random, ppl]\nfractions: [0.1, 0.2]\ntrain_models: [tiny-xs]\n"
                                     "selector_models: [tiny-xs]\ntrain: {epochs: 2}\n")
    cfg = load_config(tmp_path / "s.yaml")
    assert cfg.methods == ["random", "ppl"] and cfg.train.epochs == 2
    (tmp_path / "bad.toml").write_text('methods = ["ppl"]\nfractions = [0.1]\ntrain_models = ["tiny-xs"]\n')
    with pytest.raises(ConfigError, match="needs 'selector_models'"):
        load_config(tmp_path / "bad.toml")
    (tmp_path / "bad2.toml").write_text('methods = ["bm25"]\nfractions = [1.5]\ntrain_models = ["tiny-xs"]\n')
    with pytest.raises(ConfigError, match=r"fractions\[0\] must be in \(0, 1\], got 1.5"):
        load_config(tmp_path / "bad2.toml")


def test_registers_on_subparsers_and_runs_as_module():
    parser = argparse.ArgumentParser()
    add_sweep_command(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["sweep", "--preset", "smoke", "--out", "x"])
    assert args.func is run_sweep and args.preset == "smoke"
    proc = subprocess.run([sys.executable, "-m", "costlaw.harness", "sweep", "--preset", "nope", "--out", "x"],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2 and "unknown preset" in proc.stderr
