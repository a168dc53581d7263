"""examples/program/train.py, run by hand and as a worker would run it.

Needs PyTorch (Debian's python3-torch, installed by scripts/setup.sh --with-python);
without it these tests FAIL, they do not skip.
"""

from __future__ import annotations

import gzip
import io
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any, Dict, List

import pytest
from conftest import REPO

import compsweep

TRAIN = REPO / "examples" / "program" / "train.py"
TINY = ["--train_subset=1000", "--test_subset=200", "--teacher.epochs=1", "--student.epochs=1",
        "--prune.finetune_epochs=1", "--batch_size=50"]


@pytest.fixture(scope="module")
def torch() -> Any:
    try:
        import torch as module  # noqa: PLC0415
    except ImportError as e:
        pytest.fail(f"PyTorch is needed to run examples/program/train.py ({e}); install "
                    "python3-torch (scripts/setup.sh --with-python)", pytrace=False)
    return module


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("teacher-cache")


def run(args: List[str], cwd: Path, env: Dict[str, str]) -> List[Dict[str, Any]]:
    """Runs train.py; returns its protocol lines (checks the others are not)."""
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("COMPSWEEP_")}
    full_env["PYTHONPATH"] = os.pathsep.join(
        [str(Path(compsweep.__file__).resolve().parents[1]), full_env.get("PYTHONPATH", "")])
    full_env["OMP_NUM_THREADS"] = "1"
    full_env.update(env)
    proc = subprocess.run([sys.executable, str(TRAIN), *args], cwd=cwd, env=full_env,
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-4000:]
    protocol = [json.loads(line) for line in proc.stdout.splitlines()
                if line.startswith('{"compsweep"')]
    assert protocol, proc.stdout
    return protocol


def check_lines(lines: List[Dict[str, Any]], artifact: Path, torch: Any) -> Dict[str, Any]:
    *progress, result = lines
    assert [p["compsweep"] for p in progress] == ["progress"] * len(progress)
    assert [p["step"] for p in progress] == list(range(len(progress)))
    assert all("val_accuracy" in p["metrics"] or "teacher_val_accuracy" in p["metrics"]
               for p in progress)
    assert result["compsweep"] == "result"
    metrics = result["metrics"]
    for name in ("val_accuracy", "test_accuracy", "float_val_accuracy", "teacher_val_accuracy",
                 "sparsity"):
        assert 0.0 <= metrics[name] <= 1.0, (name, metrics)
    # 10 classes: chance is 0.1; a tiny subset and 1 epoch still learn well above it
    assert metrics["val_accuracy"] > 0.2 and metrics["test_accuracy"] > 0.2
    assert 0 < metrics["latency_ms"] < 1000
    assert Path(result["artifact"]) == artifact.resolve()
    assert metrics["size_bytes"] == artifact.stat().st_size
    model = torch.jit.load(io.BytesIO(gzip.decompress(artifact.read_bytes())))
    out = model(torch.zeros(2, 1, 28, 28))
    assert tuple(out.shape) == (2, 10)
    return metrics


def test_by_hand(torch: Any, cache_dir: Path, tmp_path: Path) -> None:
    lines = run([*TINY, "--distill.temperature=4", "--prune.final_sparsity=0.8",
                 "--prune.scope=global", "--quantize.bits=4", f"--cache_dir={cache_dir}"],
                tmp_path, {})
    metrics = check_lines(lines, tmp_path / "compsweep-artifacts" / "model.pt.gz", torch)
    assert abs(metrics["sparsity"] - 0.8) < 0.01
    assert lines[0]["metrics"].keys() == {"teacher_loss", "teacher_val_accuracy"}
    assert any(f.name.startswith("teacher-") for f in cache_dir.iterdir())


def test_as_a_worker_runs_it(torch: Any, cache_dir: Path, tmp_path: Path) -> None:
    """Settings from COMPSWEEP_SETTINGS (they win over the arguments), the model
    in COMPSWEEP_ARTIFACT_DIR, the teacher from the cache of the first test."""
    params = {"train_subset": 1000, "test_subset": 200, "teacher.epochs": 1,
              "student.epochs": 1, "prune.finetune_epochs": 1, "batch_size": 50,
              "distill.temperature": 2, "distill.alpha": 0.5, "prune.final_sparsity": 0.5,
              "quantize.bits": 8, "cache_dir": str(cache_dir), "metrics.extra": 1}
    settings = tmp_path / "settings.json"
    settings.write_text(json.dumps({"trial_id": 3, "attempt": 1, "params": params,
                                    "settings": {"program": ["python3", "train.py"]}}))
    art = tmp_path / "artifacts"
    art.mkdir()
    argv = sorted(f"--{k}={json.dumps(v) if not isinstance(v, str) else v}"
                  for k, v in params.items())
    lines = run([*argv, "--quantize.bits=2"], tmp_path,
                {"COMPSWEEP_SETTINGS": str(settings), "COMPSWEEP_TRIAL_ID": "3",
                 "COMPSWEEP_ATTEMPT": "1", "COMPSWEEP_ARTIFACT_DIR": str(art),
                 "COMPSWEEP_DEVICE": "cpu"})
    metrics = check_lines(lines, art / "model.pt.gz", torch)
    assert abs(metrics["sparsity"] - 0.5) < 0.01
    assert "teacher_loss" not in lines[0]["metrics"]  # loaded from the cache
    assert not (tmp_path / "compsweep-artifacts").exists()
