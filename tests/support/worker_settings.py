"""Settings of the worker processes that reliability tests and benchmarks start: the
project's settings, plus the sync lease read from the environment.

The lease (how long a claimed binding stays with its worker before another may take it)
is 90 s in production; a test that kills a worker shortens it so the rows the dead
worker had claimed come free within the test's time budget. Nothing else changes.
"""

import os

from config.settings import *  # noqa: F403

if os.environ.get("M365_SYNC_LEASE_SECONDS"):
    M365_SYNC_LEASE_SECONDS = int(os.environ["M365_SYNC_LEASE_SECONDS"])
