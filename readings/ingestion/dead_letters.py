"""Dead letters: telemetry that can never be stored, kept (bounded) for staff to see.

See docs/ingestion.md#rejection-reasons.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from django.conf import settings

from readings.models import DeadLetter

STORE_REJECTED = "store_rejected"  # reason: valid telemetry the store refused
CONFLICTING_READING = "conflicting_reading"  # reason: its instant is stored with another register
RETAINED = "retained"  # reason: a retained message replayed at subscribe time (docs/ingestion.md#retained-messages)
PAYLOAD_EXCERPT_CHARS = 4096  # every payload under the 4 KiB limit is kept whole


@dataclass(frozen=True, slots=True)
class DeadLetterEntry:
    topic: str | bytes
    payload: bytes
    reason: str
    detail: str
    received_at: datetime
    device_id: str = ""


def dead_letters_insert(*, entries: Sequence[DeadLetterEntry]) -> int:
    """Keep messages that could never be stored, trimming the store to DEAD_LETTER_MAX_ROWS (oldest go first).

    Runs inside the batch's transaction (readings_ingest_batch).
    """
    DeadLetter.objects.bulk_create(
        DeadLetter(
            topic=excerpt(entry.topic, 255),
            device_id=entry.device_id[:64],
            reason=entry.reason[:64],
            detail=excerpt(entry.detail, 500),
            payload_excerpt=excerpt(entry.payload, PAYLOAD_EXCERPT_CHARS),
            payload_size=len(entry.payload),
            received_at=entry.received_at,
        )
        for entry in entries
    )
    _trim(settings.DEAD_LETTER_MAX_ROWS)
    return len(entries)


def _trim(max_rows: int) -> None:
    newest_dropped = DeadLetter.objects.order_by("-id").values_list("id", flat=True)[max_rows : max_rows + 1]
    newest_dropped = list(newest_dropped)
    if newest_dropped:
        DeadLetter.objects.filter(id__lte=newest_dropped[0]).delete()


def excerpt(value: str | bytes, limit: int) -> str:
    """At most `limit` characters of a topic, payload or message, readable and storable anywhere."""
    if isinstance(value, bytes | bytearray):
        value = bytes(value[: limit * 4]).decode("utf-8", errors="backslashreplace")
    # PostgreSQL text cannot hold NUL; keep it visible instead.
    return shorten(value.replace("\x00", "\\x00"), limit)


def shorten(value: str, limit: int) -> str:
    return value if len(value) <= limit else value[: limit - 1] + "…"
