"""Sending a document's email at most once: the row is claimed (a timestamp set where it is empty) before
the send, and released if the send fails, so a retry (the next run, a task, staff) sends it then."""

from __future__ import annotations

import logging
from collections.abc import Callable

from django.db.models import QuerySet
from django.utils import timezone

from ops.metrics import TASK_FAILURES

logger = logging.getLogger(__name__)


def send_once(*, row: QuerySet, field: str, send: Callable[[], None], task: str, extra: dict) -> bool:
    """Claim ``row`` (one row) through ``field`` and call ``send``; True when this call sent it.

    A failed send clears the claim, counts in TASK_FAILURES under ``task`` and is logged with ``extra``.
    """
    if not row.filter(**{f"{field}__isnull": True}).update(**{field: timezone.now()}):
        return False
    try:
        send()
    except Exception:
        row.update(**{field: None})
        TASK_FAILURES.labels(task=task).inc()
        logger.exception("Sending failed", extra={"task": task, **extra})
        return False
    return True
