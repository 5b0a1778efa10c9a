"""Helpers for tests and benchmarks that need real processes.

- `processes`: a private `redis-server` (stop/start = an outage on the same port), real
  Celery workers and beat in their own process groups (SIGKILL, restart), a ticker for
  the sweep, `wait_for` with a description of the state on time-out, and `stratus_env`
  (the database, Redis, graphsim and keys a worker needs).
- `broker`: point this process's Celery app at the private Redis for one test.
- `tenants`: connect a graphsim tenant through real admin consent, seed users in bulk.
Workers run the project's own Celery app; `M365_GRAPH_TIME_SCALE` in their environment
scales Stratus's write budget like graphsim's clock.
"""
