"""django-q2 entry points for meters: a few lines each, the work is in devices.services."""

import logging

from devices.services import devices_mark_offline
from ops.metrics import TASK_FAILURES

logger = logging.getLogger(__name__)


def mark_silent_meters_offline() -> dict:
    """Every minute: meters not heard from for DEVICE_OFFLINE_AFTER become `offline`."""
    try:
        device_ids = devices_mark_offline()
    except Exception:
        TASK_FAILURES.labels(task="mark_silent_meters_offline").inc()
        logger.exception("Offline sweep failed")
        raise
    return {"marked_offline": len(device_ids), "device_ids": device_ids[:100]}
