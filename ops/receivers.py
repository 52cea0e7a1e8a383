"""Audit hooks for actions Django performs itself (admin changes, sign-ins).

Only logging happens here; no business rule hangs off these hooks.
"""

import functools

from django.contrib.admin.models import ADDITION, CHANGE, DELETION, LogEntry, LogEntryManager
from django.contrib.auth.signals import user_logged_in, user_login_failed
from django.core.signals import request_finished
from django.dispatch import receiver

from ops.audit import audit_log
from ops.logging import request_id_var

_ADMIN_ACTIONS = {ADDITION: "admin.add", CHANGE: "admin.change", DELETION: "admin.delete"}


def install_admin_audit() -> None:
    """Audit every admin history entry. The admin writes them through
    LogEntryManager.log_actions, which uses bulk_create (no post_save signal) when an
    action touches several objects, so the hook wraps that method instead."""
    original = LogEntryManager.log_actions
    if getattr(original, "_smartmeter_audited", False):
        return

    @functools.wraps(original)
    def log_actions(self, *args, **kwargs):
        result = original(self, *args, **kwargs)
        entries = result if isinstance(result, list) else [result]
        for entry in entries:
            audit_admin_entry(entry)
        return result

    log_actions._smartmeter_audited = True
    LogEntryManager.log_actions = log_actions


def audit_admin_entry(instance: LogEntry) -> None:
    audit_log(
        actor=instance.user,
        action=_ADMIN_ACTIONS.get(instance.action_flag, "admin.action"),
        model=instance.content_type.model if instance.content_type_id else "",
        app_label=instance.content_type.app_label if instance.content_type_id else "",
        object_id=str(instance.object_id),
        object_repr=instance.object_repr,
        change=instance.get_change_message(),
    )


@receiver(user_logged_in, dispatch_uid="ops.audit_login")
def audit_login(sender, request, user, **kwargs):
    audit_log(actor=user, action="auth.login", ip=request.META.get("REMOTE_ADDR", "") if request else "")


@receiver(user_login_failed, dispatch_uid="ops.audit_login_failed")
def audit_login_failed(sender, credentials, request=None, **kwargs):
    # `credentials` holds the password (Django masks it, but take only the login name).
    login = credentials.get("username") or credentials.get("email") or ""
    audit_log(
        actor=None,
        action="auth.login_failed",
        login=str(login)[:254],
        ip=request.META.get("REMOTE_ADDR", "") if request is not None else "",
    )


@receiver(request_finished, dispatch_uid="ops.clear_request_id")
def clear_request_id(sender, **kwargs):
    request_id_var.set("-")
