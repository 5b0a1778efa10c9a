"""What a log line is about: the request or task it belongs to, the tenant and binding
it works on, and the last Microsoft request id seen. Context variables, so they follow
each request and task (threads and asyncio included) without being passed around."""

import contextvars
from contextlib import contextmanager

FIELDS = ("request_id", "tenant", "binding", "ms_request_id")
_vars = {name: contextvars.ContextVar(name, default="") for name in FIELDS}


def current() -> dict[str, str]:
    return {name: var.get() for name, var in _vars.items() if var.get()}


def set_field(name: str, value) -> None:
    _vars[name].set(str(value) if value is not None else "")


@contextmanager
def bound(**fields):
    """`with bound(tenant=7):` — the fields hold inside the block only."""
    tokens = [(_vars[name], _vars[name].set(str(value))) for name, value in fields.items()]
    try:
        yield
    finally:
        for var, token in reversed(tokens):
            var.reset(token)


def clear() -> None:
    for var in _vars.values():
        var.set("")
