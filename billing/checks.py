"""Start-up checks of billing settings (run by `manage.py check`, `migrate` and the web server)."""

from django.conf import settings
from django.core.checks import Error, register

from billing.upi import is_vpa


@register()
def upi_address_check(app_configs, **kwargs):
    """A mistyped UPI address would be printed on every bill and pay no one: refuse it at start."""
    vpa = settings.UTILITY_UPI_VPA
    if vpa and not is_vpa(vpa):
        return [
            Error(
                f"UTILITY_UPI_VPA={vpa!r} is not a UPI virtual payment address (name@bank).",
                hint="Set the utility's collection address, e.g. payments@examplebank, or leave it empty for no QR.",
                id="billing.E001",
            )
        ]
    return []
