"""Client against a real `compsweep coordinator` process (the built binary).

These tests FAIL (not skip) when the binary is missing; see conftest.py.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import pytest
from conftest import REPO, Coordinator, start_worker

from compsweep import ApiError, Client, SweepValidationError

TINY = (REPO / "examples" / "tiny-synthetic.yaml").read_text()
TINY_PARAMS = {(0.5, 8), (0.5, 4), (0.9, 8), (0.9, 4)}

INVALID = """name: broken
method: grid
data: {dataset: synthetic}
student: {arch: mlp}
pipeline: [distill, prune]
objectives: {accuracy: maximize}
parameters:
  prune.final_sparsity: {values: [1.5]}
  distill.temprature: {values: [4]}
"""

# Cheapest trials there are (issue 9): the worker runs `true` and reports the
# metrics.* parameters as the trial's metrics.
NOOP_PROGRAM = """name: python-client-noop
method: grid
program: [true]
objectives: {accuracy: maximize, size_bytes: minimize}
parameters:
  metrics.accuracy: {values: [0.5, 0.7, 0.9]}
  metrics.size_bytes: {values: [1000, 2000]}
"""


@pytest.fixture
def coord(start_coordinator: Callable[..., Coordinator]) -> Coordinator:
    return start_coordinator()


def test_submit_status_results_of_a_queued_sweep(coord: Coordinator) -> None:
    client = Client(coord.url)
    assert client.health()["db"] is True
    sweep = client.submit(TINY)
    assert isinstance(sweep, int) and sweep >= 1
    status = client.status(sweep)
    assert status["id"] == sweep and status["name"] == "tiny-synthetic"
    assert status["state"] == "active" and status["total"] == 4
    assert status["counts"]["queued"] == 4 and status["counts"]["succeeded"] == 0
    assert [s["id"] for s in client.status()] == [sweep]
    assert client.workers() == []
    with pytest.raises(TimeoutError, match="still active"):
        client.wait(sweep, timeout=0.3, poll_s=0.1)

    rows = client.results(sweep, as_frame=False)
    assert isinstance(rows, list) and len(rows) == 4
    assert {r["state"] for r in rows} == {"queued"}
    assert {(r["prune.final_sparsity"], r["quantize.bits"]) for r in rows} == TINY_PARAMS
    assert [r["number"] for r in rows] == [0, 1, 2, 3]
    assert client.results(sweep, pareto=True, as_frame=False) == []

    # The same sweep again resumes it: same id.
    assert client.submit(TINY) == sweep
    client.cancel(sweep)
    assert client.status(sweep)["state"] == "cancelled"
    assert {r["state"] for r in client.results(sweep, as_frame=False)} == {"cancelled"}
    # the 4 trials, the teacher training, the dense-student baseline and the
    # 3 shared stages (one distill stage, one prune stage per sparsity)
    assert client.retry_failed(sweep) == 9


def test_results_as_data_frame(coord: Coordinator) -> None:
    pandas = pytest.importorskip("pandas", reason="the test stage installs python3-pandas")
    client = Client(coord.url)
    sweep = client.submit(TINY)
    frame = client.results(sweep, as_frame=True)
    assert isinstance(frame, pandas.DataFrame) and len(frame) == 4
    assert list(frame.columns[:3]) == ["id", "number", "state"]
    assert set(zip(frame["prune.final_sparsity"], frame["quantize.bits"])) == TINY_PARAMS
    assert isinstance(client.results(sweep), pandas.DataFrame)  # auto: pandas is there
    empty = client.results(sweep, pareto=True, as_frame=True)
    assert isinstance(empty, pandas.DataFrame) and len(empty) == 0


def test_submit_file_reports_errors_with_positions(coord: Coordinator, tmp_path: Path) -> None:
    client = Client(coord.url)
    path = tmp_path / "broken sweep.yaml"
    path.write_text(INVALID)
    with pytest.raises(SweepValidationError) as info:
        client.submit(path)
    err = info.value
    assert err.status == 400 and len(err.errors) >= 2
    text = str(err)
    assert "broken sweep.yaml:8:" in text and "broken sweep.yaml:9:" in text
    assert any("temprature" in d.message for d in err.errors)
    assert all(d.line > 0 and d.column > 0 for d in err.errors)
    with pytest.raises(SweepValidationError, match=r"request\.yaml:8:\d+: "):
        client.submit(INVALID)  # YAML text: the default file name
    with pytest.raises(FileNotFoundError):
        client.submit(tmp_path / "nothing.yaml")


def test_errors_of_unknown_sweeps_and_unreachable_coordinators(coord: Coordinator) -> None:
    client = Client(coord.url)
    with pytest.raises(ApiError) as info:
        client.status(999)
    assert info.value.status == 404 and "999" in str(info.value)
    with pytest.raises(ApiError, match="cannot reach the coordinator") as info:
        Client(coord.url.rsplit(":", 1)[0] + ":9", timeout=2).status()
    assert info.value.status is None
    with pytest.raises(ValueError, match="http://"):
        Client("127.0.0.1:8321")


def test_token(start_coordinator: Callable[..., Coordinator]) -> None:
    coord = start_coordinator(token="s3cret-token")
    with pytest.raises(ApiError) as info:
        Client(coord.url, token="").submit(TINY)
    assert info.value.status == 401 and "Bearer" in str(info.value)
    with pytest.raises(ApiError) as info:
        Client(coord.url, token="wrong").submit(TINY)
    assert info.value.status == 401
    client = Client(coord.url, token="s3cret-token")
    sweep = client.submit(TINY)
    assert Client(coord.url, token="").status(sweep)["total"] == 4  # reads need no token


def test_program_trials_results_and_pareto(coord: Coordinator, compsweep_bin: Path,
                                           tmp_path: Path) -> None:
    """`program: [true]` trials run by a real worker; metrics from metrics.* parameters."""
    client = Client(coord.url)
    sweep = client.submit(NOOP_PROGRAM)
    start_worker(compsweep_bin, coord, tmp_path)
    status = client.wait(sweep, timeout=120, poll_s=0.2)
    assert status["state"] == "done", status
    assert status["counts"]["succeeded"] == 6, status
    rows = client.results(sweep, as_frame=False)
    assert {(r["accuracy"], r["size_bytes"]) for r in rows} == {
        (a, s) for a in (0.5, 0.7, 0.9) for s in (1000, 2000)}
    front = client.results(sweep, pareto=True, as_frame=False)
    assert [(r["accuracy"], r["size_bytes"]) for r in front] == [(0.9, 1000)]
    assert front[0]["metrics.accuracy"] == 0.9 and front[0]["state"] == "succeeded"
