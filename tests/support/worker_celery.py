"""The Celery app of worker processes that reliability tests and benchmarks start:
`config.celery`'s app, with Stratus's idea of Microsoft's clock scaled like graphsim's.

graphsim's `time_scale` divides every quota window by the scale (3,000 writes per
150/scale seconds), but Stratus's write budget refills at a fixed 90 % of the real
quota. `STRATUS_GRAPH_TIME_SCALE=s` multiplies the budget's refill rate by `s`, so a
time-scaled run is the real run sped up, not a run with a budget `s` times too strict.
(Stratus has no setting for this: the rate is a constructor default.)

    celery -A tests.support.worker_celery worker ...
"""

import os

from config.celery import app  # noqa: F401

TIME_SCALE = float(os.environ.get("STRATUS_GRAPH_TIME_SCALE") or 1)


def _scale_write_budget(scale: float) -> None:
    from m365bridge.graph import budget

    original = budget.WriteBudget.__init__

    def __init__(self, *args, rate: float = budget.DEFAULT_RATE * scale, **kwargs):
        original(self, *args, rate=rate, **kwargs)

    budget.WriteBudget.__init__ = __init__


if TIME_SCALE != 1:
    _scale_write_budget(TIME_SCALE)
