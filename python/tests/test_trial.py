"""Unit tests of the program-trial side: JSON lines, settings, errors."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path
from typing import Any, Dict, List

import pytest

import compsweep
from compsweep import program as trial_mod


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("COMPSWEEP_SETTINGS", "COMPSWEEP_TRIAL_ID", "COMPSWEEP_ATTEMPT",
                 "COMPSWEEP_ARTIFACT_DIR", "COMPSWEEP_DEVICE"):
        monkeypatch.delenv(name, raising=False)
    trial_mod._reset_for_tests()


def lines(out: str) -> List[Dict[str, Any]]:
    return [json.loads(line) for line in out.splitlines()]


def test_report_writes_one_progress_line(capsys: pytest.CaptureFixture[str]) -> None:
    compsweep.report(3, loss=0.31, val_accuracy=0.82, seen=1200)
    out = capsys.readouterr().out
    assert out.endswith("\n") and out.count("\n") == 1
    assert lines(out) == [{"compsweep": "progress", "step": 3,
                           "metrics": {"loss": 0.31, "val_accuracy": 0.82, "seen": 1200}}]


def test_result_line_with_absolute_artifact(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(tmp_path)
    Path("model.pt").write_bytes(b"x" * 10)
    compsweep.result(artifact="model.pt", val_accuracy=0.85, test_accuracy=0.84)
    (doc,) = lines(capsys.readouterr().out)
    assert doc == {"compsweep": "result", "metrics": {"val_accuracy": 0.85, "test_accuracy": 0.84},
                   "artifact": str(tmp_path.resolve() / "model.pt")}


def test_result_without_artifact_has_no_artifact_key(capsys: pytest.CaptureFixture[str]) -> None:
    compsweep.result(accuracy=1)
    assert lines(capsys.readouterr().out) == [{"compsweep": "result", "metrics": {"accuracy": 1}}]


def test_second_result_raises_and_prints_nothing(capsys: pytest.CaptureFixture[str]) -> None:
    compsweep.result(accuracy=0.5)
    capsys.readouterr()
    with pytest.raises(compsweep.ResultAlreadySentError, match="already called"):
        compsweep.result(accuracy=0.6)
    assert capsys.readouterr().out == ""


def test_missing_artifact_raises(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="nope.pt"):
        compsweep.result(artifact=tmp_path / "nope.pt", accuracy=0.5)


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf])
def test_non_finite_metric_raises(value: float, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(compsweep.ProtocolError, match="only finite numbers"):
        compsweep.report(0, loss=value)
    with pytest.raises(compsweep.ProtocolError, match="'loss'"):
        compsweep.result(loss=value)
    assert capsys.readouterr().out == ""
    compsweep.result(loss=1.0)  # the failed calls did not count as a result


@pytest.mark.parametrize("value", ["0.5", None, True, [1.0], {"a": 1}])
def test_non_numeric_metric_raises(value: Any) -> None:
    with pytest.raises(compsweep.ProtocolError, match="must be a number"):
        compsweep.report(1, accuracy=value)


def test_tensor_like_gets_a_hint() -> None:
    class FakeTensor:
        def item(self) -> float:
            return 1.0

    with pytest.raises(compsweep.ProtocolError, match=r"\.item\(\)"):
        compsweep.report(1, loss=FakeTensor())


@pytest.mark.parametrize("step", [-1, 1.5, "3", True, None])
def test_bad_step_raises(step: Any) -> None:
    with pytest.raises(compsweep.ProtocolError, match="step"):
        compsweep.report(step, loss=1.0)


def test_numpy_scalars_become_plain_numbers(capsys: pytest.CaptureFixture[str]) -> None:
    np = pytest.importorskip("numpy")
    compsweep.report(np.int64(2), acc=np.float32(0.5), n=np.int32(7))
    assert lines(capsys.readouterr().out)[0] == {"compsweep": "progress", "step": 2,
                                                 "metrics": {"acc": 0.5, "n": 7}}


def test_settings_by_hand_parse_json_scalars() -> None:
    argv = ["--lr=0.001", "--quantize.bits=8", "--use_bn=true", "--arch=cnn-small",
            "--name=\"8\"", "--empty=", "--x=null", "--list=[1,2]", "--v=nan"]
    assert compsweep.settings(argv=argv) == {
        "lr": 0.001, "quantize.bits": 8, "use_bn": True, "arch": "cnn-small", "name": "8",
        "empty": "", "x": None, "list": "[1,2]", "v": "nan"}


def test_settings_defaults_and_int_to_float() -> None:
    got = compsweep.settings({"lr": 0.1, "epochs": 2, "alpha": 0.5},
                             argv=["--alpha=1", "--epochs=3"])
    assert got == {"lr": 0.1, "epochs": 3, "alpha": 1.0}
    assert isinstance(got["alpha"], float) and isinstance(got["epochs"], int)


def test_settings_reads_sys_argv(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "argv", ["train.py", "--distill.temperature=4"])
    assert compsweep.settings() == {"distill.temperature": 4}
    assert compsweep.trial() is None and not compsweep.in_trial()


@pytest.mark.parametrize("arg", ["--lr", "lr=0.1", "-l=1", "--=3", "positional"])
def test_settings_rejects_other_arguments(arg: str) -> None:
    with pytest.raises(compsweep.SettingsError, match="--name=value"):
        compsweep.settings(argv=[arg])


def test_settings_from_worker_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    doc = {"trial_id": 7, "attempt": 2,
           "params": {"lr": 0.001, "quantize.bits": 8, "metrics.accuracy": 0.9, "s": "8"},
           "settings": {"program": ["python3", "train.py"]}}
    path = tmp_path / "settings.json"
    path.write_text(json.dumps(doc))
    monkeypatch.setenv("COMPSWEEP_SETTINGS", str(path))
    monkeypatch.setenv("COMPSWEEP_TRIAL_ID", "7")
    monkeypatch.setenv("COMPSWEEP_ATTEMPT", "2")
    monkeypatch.setenv("COMPSWEEP_ARTIFACT_DIR", str(tmp_path / "art"))
    monkeypatch.setenv("COMPSWEEP_DEVICE", "cuda:1")
    # The file wins over the arguments the worker also passes.
    assert compsweep.settings({"lr": 1.0, "epochs": 2}, argv=["--lr=5"]) == {
        "lr": 0.001, "epochs": 2, "quantize.bits": 8, "metrics.accuracy": 0.9, "s": "8"}
    assert compsweep.trial() == doc
    assert compsweep.in_trial()
    assert (compsweep.trial_id(), compsweep.attempt()) == (7, 2)
    assert compsweep.artifact_dir() == tmp_path / "art" and (tmp_path / "art").is_dir()
    assert compsweep.device() == "cuda:1"


def test_unreadable_settings_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COMPSWEEP_SETTINGS", str(tmp_path / "missing.json"))
    with pytest.raises(compsweep.SettingsError, match="missing.json"):
        compsweep.settings()
    (tmp_path / "bad.json").write_text("[1, 2]")
    monkeypatch.setenv("COMPSWEEP_SETTINGS", str(tmp_path / "bad.json"))
    with pytest.raises(compsweep.SettingsError, match="not a JSON object"):
        compsweep.trial()


def test_defaults_outside_a_worker(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert compsweep.device() == "cpu"
    assert compsweep.trial_id() is None and compsweep.attempt() is None
    assert compsweep.artifact_dir() == Path("compsweep-artifacts")
    assert (tmp_path / "compsweep-artifacts").is_dir()


def test_lines_are_flushed_in_order_with_other_output(tmp_path: Path) -> None:
    """A real process: protocol lines interleave with print() output, each on its
    own line, and reach a pipe without waiting for the exit (flushed)."""
    script = tmp_path / "prog.py"
    script.write_text(
        "import sys, compsweep\n"
        "print('hello')\n"
        "compsweep.report(0, loss=1.5)\n"
        "sys.stdout.write(compsweep.__name__ + '\\n')\n"
        "compsweep.result(accuracy=0.25)\n"
        "try:\n"
        "    compsweep.result(accuracy=0.5)\n"
        "except compsweep.ResultAlreadySentError:\n"
        "    print('refused')\n"
        "sys.stdout.flush()\n"
        "import os; os._exit(0)\n")  # no interpreter exit flush: lines must be out already
    src = Path(compsweep.__file__).resolve().parents[1]
    out = subprocess.run([sys.executable, str(script)], capture_output=True, text=True,
                         check=True, env={"PYTHONPATH": str(src), "PATH": "/usr/bin:/bin"},
                         timeout=60).stdout.splitlines()
    assert out[0] == "hello"
    assert json.loads(out[1]) == {"compsweep": "progress", "step": 0, "metrics": {"loss": 1.5}}
    assert out[2] == "compsweep"
    assert json.loads(out[3]) == {"compsweep": "result", "metrics": {"accuracy": 0.25}}
