"""JSON lines logging (LOG_FORMAT=json) and the redaction every log line goes through.

A plain `logging.Formatter` rather than structlog: every module here, Django, Celery
and MSAL already log through the standard library, and what operators need is the
same records as one JSON object a line, with the context fields (tenant, binding,
request id, Microsoft request id) as fields of their own. structlog would add a
second logging API and still need this formatter for everyone else's records."""

import json
import logging
import re
from datetime import UTC, datetime

from . import context

# Values that are secrets whatever they are attached to (a slip into a message or an
# exception must not reach the log): bearer tokens, JWTs, Stratus API keys and webhook
# secrets, and key=value pairs whose key names a secret.
_SECRET_PATTERNS = [
    re.compile(r"(?i)\b(bearer)\s+[A-Za-z0-9._~+/=-]{8,}"),
    re.compile(r"\beyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]*"),
    re.compile(r"\bstk_[A-Za-z0-9]+_[A-Za-z0-9_-]+"),
    re.compile(r"\bwhsec_[A-Za-z0-9+/=]+"),
    re.compile(
        r"(?i)\b(password|passwd|secret|client_secret|token|access_token|refresh_token|"
        r"api_key|authorization)(\"?\s*[:=]\s*\"?)[^\s\"',;&]+"
    ),
]
# Emailed account tokens sit in the path of activation and reset links (config/logredact.py).
_TOKEN_PATH = re.compile(r"(/portal/(?:activate|reset)/)[^/\s?#\"']+")
_SECRET_KEYS = re.compile(r"(?i)(password|secret|token|authorization|api_key|cookie)")
REDACTED = "[redacted]"

# Attributes every LogRecord has; anything else came from `extra=` and becomes a field.
_STANDARD = set(vars(logging.makeLogRecord({}))) | {"message", "asctime", "taskName"}


def redact(text: str) -> str:
    """`text` with every secret Stratus knows the shape of replaced: the one redaction
    every log line, plain or JSON, and gunicorn's access log go through."""
    text = _TOKEN_PATH.sub(rf"\g<1>{REDACTED}", text)
    for pattern in _SECRET_PATTERNS:
        if pattern.groups == 2:
            text = pattern.sub(lambda m: f"{m.group(1)}{m.group(2)}{REDACTED}", text)
        elif pattern.groups == 1:
            text = pattern.sub(lambda m: f"{m.group(1)} {REDACTED}", text)
        else:
            text = pattern.sub(REDACTED, text)
    return text


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, the context fields, any
    `extra=` fields, and the exception text; all of it redacted."""

    def format(self, record: logging.LogRecord) -> str:
        line = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": redact(record.getMessage()),
            **context.current(),
        }
        for key, value in vars(record).items():
            if key not in _STANDARD and not key.startswith("_"):
                line[key] = _field(key, value)
        if record.exc_info:
            line["exception"] = redact(self.formatException(record.exc_info))
        return json.dumps(line, default=str)


class RedactingFormatter(logging.Formatter):
    """The plain text format, redacted the same way."""

    def format(self, record: logging.LogRecord) -> str:
        return redact(super().format(record))


def _field(key: str, value):
    if _SECRET_KEYS.search(key):
        return REDACTED
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, int | float | bool) or value is None:
        return value
    return redact(str(value))
