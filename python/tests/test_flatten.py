"""Unit tests of the row shape of Client.results (no coordinator needed)."""

from compsweep import flatten_trial


def test_flatten_puts_params_then_metrics_under_their_names() -> None:
    row = flatten_trial({"id": 3, "number": 0, "state": "succeeded", "attempt": 1,
                         "worker": "w", "params": {"quantize.bits": 8, "lr": 0.1},
                         "metrics": {"val_accuracy": 0.9, "size_bytes": 1000.0},
                         "error": None})
    assert list(row) == ["id", "number", "state", "attempt", "worker", "queued_ms",
                         "started_ms", "finished_ms", "duration_ms", "lr", "quantize.bits",
                         "size_bytes", "val_accuracy", "error"]
    assert row["quantize.bits"] == 8 and row["val_accuracy"] == 0.9


def test_flatten_prefixes_colliding_names() -> None:
    row = flatten_trial({"id": 1, "params": {"state": "x", "lr": 1},
                         "metrics": {"lr": 2.0, "error": 0.1}})
    assert row["state"] is None and row["param:state"] == "x"
    assert row["lr"] == 1 and row["metric:lr"] == 2.0
    assert row["error"] is None and row["metric:error"] == 0.1
    assert list(row)[-1] == "error"
