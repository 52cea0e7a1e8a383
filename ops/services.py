"""Write use cases of ops: recording a process's heartbeat."""

from django.utils import timezone

from ops.models import ServiceHeartbeat


def heartbeat_record(*, name: str, connected: bool, detail: str = "") -> None:
    """Record a process's state; called on connect/disconnect and periodically while it runs."""
    ServiceHeartbeat.objects.update_or_create(
        name=name, defaults={"connected": connected, "detail": detail[:255], "updated_at": timezone.now()}
    )
