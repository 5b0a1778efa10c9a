"""Keep emailed account tokens out of logs.

Activation and reset links carry their single-use token in the URL path
(`/portal/reset/<token>/`), so every access log line for them, and the Referer of the
page's own assets, would hand a working link to whoever reads the logs. Logs are read by
more people than mailboxes, so the token part of those paths is replaced before a line
is written: by a logging filter on Stratus's log handler (which the development server,
`django.server`, and `django.request` write through), and by a gunicorn logger class
for production's access log (`--logger-class config.logredact.GunicornLogger`).

A filter was chosen over moving the token into the session with a redirect: that only
hides the token from later requests, while the first request, the one in the log,
still carries it.
"""

import logging

from gunicorn.glogging import Logger

from ops.logs import REDACTED, redact

__all__ = ["REDACTED", "GunicornLogger", "RedactAccountTokens", "redact"]


class RedactAccountTokens(logging.Filter):
    """Rewrites a record's message with tokens replaced; never drops a record."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = redact(message)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        return True


class GunicornLogger(Logger):
    """gunicorn's logger, with the token removed from every access-log field (the
    request line, the path and the Referer)."""

    def atoms(self, resp, req, environ, request_time):
        atoms = super().atoms(resp, req, environ, request_time)
        return {k: redact(v) if isinstance(v, str) else v for k, v in atoms.items()}
