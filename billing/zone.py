"""The billing time zone, the one place that reads settings.BILLING_TIME_ZONE as a ZoneInfo.

Billing months, issue and due dates and the schedules are counted in it
(docs/billing.md#a-months-consumption). It lives in billing because only billing and
the dashboard above it need it: readings and devices deal in instants and TIME_ZONE.
Migrations keep their own copy, since they never import live application modules.
"""

from zoneinfo import ZoneInfo

from django.conf import settings


def billing_zone() -> ZoneInfo:
    """Read on every call, so a test (or a deployment) that changes the setting is followed at once."""
    return ZoneInfo(settings.BILLING_TIME_ZONE)
