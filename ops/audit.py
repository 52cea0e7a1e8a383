"""Audit trail of billing and staff actions, on the "smartmeter.audit" logger.

Call `audit_log(actor=..., action=..., **fields)` from the service that performs the action;
admin changes and sign-ins are audited through ops.receivers. What is recorded:
docs/operations.md#audit-trail.
"""

from __future__ import annotations

import logging

from ops.logging import RESERVED_ATTRS

audit_logger = logging.getLogger("smartmeter.audit")


def _actor_fields(actor) -> dict:
    if actor is None:
        return {"actor": "system", "actor_id": None}
    if isinstance(actor, str):
        return {"actor": actor, "actor_id": None}
    if not getattr(actor, "is_authenticated", False):
        return {"actor": "anonymous", "actor_id": None}
    return {
        "actor": getattr(actor, "email", None) or str(actor),
        "actor_id": actor.pk,
        "actor_is_staff": bool(getattr(actor, "is_staff", False)),
    }


def audit_log(*, actor, action: str, **fields) -> None:
    """Write one audit line: who (`actor`: a user, a system name, or None for the
    system itself) did what (`action`, dotted, e.g. "tariff.create") to which objects."""
    extra = {"audit": True, "action": action, **_actor_fields(actor)}
    for key, value in fields.items():
        # LogRecord attribute names (name, msg, module, ...) cannot be extras.
        extra[f"field_{key}" if key in RESERVED_ATTRS or key in extra else key] = value
    audit_logger.info("%s by %s", action, extra["actor"], extra=extra)
