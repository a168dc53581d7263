"""compsweep: the Python side of the compsweep sweep runner.

In a program trial (a script that a compsweep worker runs)::

    import compsweep
    params = compsweep.settings({"lr": 0.001})      # flat dict of the trial's parameters
    for epoch in range(3):
        ...
        compsweep.report(epoch, loss=loss, val_accuracy=acc)
    compsweep.result(artifact=path, val_accuracy=acc, test_accuracy=test_acc)

Against a coordinator's HTTP API::

    from compsweep import Client
    client = Client("http://127.0.0.1:8321")
    sweep = client.submit("sweep.yaml")
    rows = client.results(sweep, pareto=True)
"""

from compsweep.client import Client, flatten_trial
from compsweep.errors import (
                              ApiError,
                              CompsweepError,
                              Diagnostic,
                              ProtocolError,
                              ResultAlreadySentError,
                              SettingsError,
                              SweepValidationError,
)
from compsweep.program import (
                              artifact_dir,
                              attempt,
                              device,
                              in_trial,
                              parse_args,
                              report,
                              result,
                              settings,
                              trial,
                              trial_id,
)

__version__ = "0.1.0"

__all__ = [
    "ApiError",
    "Client",
    "CompsweepError",
    "Diagnostic",
    "ProtocolError",
    "ResultAlreadySentError",
    "SettingsError",
    "SweepValidationError",
    "artifact_dir",
    "attempt",
    "device",
    "flatten_trial",
    "in_trial",
    "parse_args",
    "report",
    "result",
    "settings",
    "trial",
    "trial_id",
]
