import subprocess
import sys

import pytest

from synthgen.cli import main
from tests.conftest import tiny_spec


def test_help_imports_nothing_heavy():
    code = ("import sys, synthgen.cli as c\n"
            "try:\n    c.main(['--help'])\nexcept SystemExit:\n    pass\n"
            "heavy = {'torch', 'ctgan', 'prefect', 'great_expectations', 'polars', 'sklearn'} & set(sys.modules)\n"
            "assert not heavy, heavy\n")
    subprocess.run([sys.executable, "-c", code], check=True, capture_output=True)


def test_bad_spec_exits_2_naming_key(spec_file, capsys):
    spec = tiny_spec()
    spec["modle"] = {}
    assert main(["check", str(spec_file(spec))]) == 2
    assert "modle: unknown key" in capsys.readouterr().err


def test_check_accepts_overrides(spec_file, capsys):
    path = spec_file(tiny_spec())
    assert main(["check", str(path), "--set", "model.epochs=3"]) == 0
    assert main(["check", str(path), "--set", "model.epochs=zero"]) == 2


def test_gate_failure_exits_3_and_publishes_nothing(spec_file, tmp_path, capsys):
    out = tmp_path / "out"
    rc = main(["run", str(spec_file(tiny_spec())), "--no-prefect", "--quiet", "--out", str(out),
               "--set", "gates.quality_score=0.9999"])  # a fidelity gate: no small-sample allowance
    assert rc == 3
    assert "quality_score" in capsys.readouterr().err
    assert not (out / "arrests_tiny").exists()


@pytest.mark.parametrize("cmd", [["builtins"], ["schema"]])
def test_info_commands(cmd, capsys):
    assert main(cmd) == 0
    assert capsys.readouterr().out


def test_every_spec_runs_and_the_worst_exit_code_wins(spec_file, tmp_path, capsys, validations):
    good = spec_file(tiny_spec(), "good.yaml")
    bad = spec_file(tiny_spec(label="missing"), "bad.yaml")
    out = tmp_path / "out"
    assert main(["run", str(bad), str(good), "--no-prefect", "--quiet", "--out", str(out)]) == 2
    # the CLI refuses a bad spec before starting a run, and the run validates it once more: at most 2
    assert 1 <= validations.count(str(good)) <= 2 and len(validations) <= 4, validations
    captured = capsys.readouterr()
    assert "label column 'missing' not found" in captured.err
    assert "published" in captured.out and (out / "arrests_tiny" / "LATEST").exists()


def test_the_cli_finds_the_flows_through_entry_points():
    """The library never imports flows/; the CLI loads them through the `synthgen.flows` entry points."""
    from flows.augment import augment_dataset_flow
    from flows.deploy import deploy_spec
    from flows.screen import screen_dataset_flow
    from synthgen.cli import flow
    from synthgen.errors import SynthgenError

    assert flow("augment") is augment_dataset_flow
    assert flow("screen") is screen_dataset_flow
    assert flow("deploy") is deploy_spec
    with pytest.raises(SynthgenError, match="entry point 'nope'"):
        flow("nope")


def test_a_retired_key_is_accepted_with_a_one_line_warning(spec_file, capsys):
    import warnings

    before = warnings.formatwarning
    spec = {"modality": "image", "name": "x", "source": {"builtin": "mnist"}, "sample": {"max_rounds": 5}}
    with warnings.catch_warnings():
        warnings.simplefilter("always")
        # what Python does outside pytest (pytest records warnings instead of printing them)
        warnings.showwarning = lambda message, category, filename, lineno, file=None, line=None: sys.stderr.write(
            warnings.formatwarning(message, category, filename, lineno, line))
        assert main(["check", str(spec_file(spec))]) == 0
    err = capsys.readouterr().err
    assert "synthgen: warning: sample.max_rounds is no longer used and is ignored" in err
    assert warnings.formatwarning is before  # the CLI's format does not leak into the caller


def test_a_per_class_typo_exits_2_before_training(spec_file, tmp_path, capsys):
    out = tmp_path / "out"
    rc = main(["run", str(spec_file(tiny_spec())), "--no-prefect", "--quiet", "--out", str(out),
               "--set", "sample.per_class={Maybe: 3}"])
    assert rc == 2
    err = capsys.readouterr().err
    assert "sample.per_class" in err and "'Maybe'" in err and "Traceback" not in err
    assert not (out / ".models").exists() and not (out / "_quarantine").exists()
