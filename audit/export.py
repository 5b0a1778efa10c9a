"""Exporting a filtered event list as CSV or JSON, streamed.

Rows are read with `.iterator()` (a server-side cursor on PostgreSQL) and written out
in batches as they arrive, so an export of millions of events takes one query and a
constant amount of memory, and the first bytes leave before the last row is read.
Details never hold a secret (audit.redaction refuses them on the way in), so the
export writes them as they are.
"""

import csv
import io
import json
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime

from django.db.models import QuerySet
from django.http import StreamingHttpResponse

CHUNK_SIZE = 2000  # rows fetched from the database at a time
ROWS_PER_WRITE = 500  # rows per piece of the response body

FORMATS = {"csv": "text/csv; charset=utf-8", "json": "application/json"}

COLUMNS = (
    "id",
    "created_at",
    "type",
    "outcome",
    "actor_id",
    "actor_label",
    "tenant_ref",
    "tenant_label",
    "target_type",
    "target_id",
    "target_label",
    "details",
    "api_key_id",
    "api_key_label",
)
CSV_HEADER = (
    "id",
    "time",
    "type",
    "outcome",
    "actor",
    "tenant_id",
    "tenant",
    "target_type",
    "target_id",
    "target_label",
    "details",
    "api_key_id",
    "api_key",
)
# A spreadsheet runs a cell that starts with one of these as a formula (CSV injection).
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def event_export_response(
    *, events: QuerySet, format: str, filename: str, chunk_size: int = CHUNK_SIZE
) -> StreamingHttpResponse:
    """The events, newest first as given, as a download in `format` (`csv` or `json`)."""
    rows = events.values_list(*COLUMNS).iterator(chunk_size=chunk_size)
    body = _csv(rows) if format == "csv" else _json(rows)
    response = StreamingHttpResponse(body, content_type=FORMATS[format])
    response["Content-Disposition"] = f'attachment; filename="{filename}.{format}"'
    response["Cache-Control"] = "no-store"
    return response


def export_filename(*, organization, now: datetime | None = None) -> str:
    stamp = (now or datetime.now(UTC)).astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")
    return f"stratus-events-{organization.slug}-{stamp}"


def iso_utc(moment: datetime) -> str:
    """ISO 8601 in UTC with a `Z`, as the API writes times."""
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def csv_safe(value: str) -> str:
    return f"'{value}" if value.startswith(FORMULA_STARTS) else value


def _csv(rows: Iterable[tuple]) -> Iterator[str]:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(CSV_HEADER)
    for count, row in enumerate(rows, start=1):
        writer.writerow(_csv_row(row))
        if count % ROWS_PER_WRITE == 0:
            yield _drain(buffer)
    yield _drain(buffer)


def _csv_row(row: tuple) -> list[str]:
    (
        pk,
        created_at,
        type,
        outcome,
        _actor_id,
        actor,
        tenant_ref,
        tenant_label,
        target_type,
        target_id,
        target_label,
        details,
        api_key_id,
        api_key,
    ) = row
    cells = [
        type,
        outcome,
        actor,
        tenant_ref,
        tenant_label,
        target_type,
        target_id,
        target_label,
        json.dumps(details, sort_keys=True, ensure_ascii=False),
        "" if api_key_id is None else str(api_key_id),
        api_key,
    ]
    return [str(pk), iso_utc(created_at), *(csv_safe(cell) for cell in cells)]


def _json(rows: Iterable[tuple]) -> Iterator[str]:
    """A JSON array of events shaped as the API lists them, one event per line."""
    pieces = ["["]
    separator = "\n"
    for count, row in enumerate(rows, start=1):
        pieces.append(separator + json.dumps(_json_event(row), ensure_ascii=False))
        separator = ",\n"
        if count % ROWS_PER_WRITE == 0:
            yield "".join(pieces)
            pieces = []
    pieces.append("\n]\n")
    yield "".join(pieces)


def _json_event(row: tuple) -> dict:
    (
        pk,
        created_at,
        type,
        outcome,
        actor_id,
        actor,
        tenant_ref,
        tenant_label,
        target_type,
        target_id,
        target_label,
        details,
        api_key_id,
        api_key,
    ) = row
    return {
        "id": pk,
        "created_at": iso_utc(created_at),
        "type": type,
        "outcome": outcome,
        "actor_id": actor_id,
        "actor": actor,
        "tenant_ref": tenant_ref,
        "tenant_label": tenant_label,
        "target_type": target_type,
        "target_id": target_id,
        "target_label": target_label,
        "details": details,
        "api_key_id": api_key_id,
        "api_key": api_key,
    }


def _drain(buffer: io.StringIO) -> str:
    text = buffer.getvalue()
    buffer.seek(0)
    buffer.truncate(0)
    return text
