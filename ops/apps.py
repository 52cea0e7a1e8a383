"""The operations app: notes the process start for /health's uptime, and at start-up connects the
sign-in and admin audit and the OpenAPI schema extensions."""

import time

from django.apps import AppConfig

# Process start, for /health's uptime.
PROCESS_STARTED = time.monotonic()


class OpsConfig(AppConfig):
    name = "ops"
    verbose_name = "Operations"

    def ready(self):
        from ops import receivers  # connects the sign-in audit receivers

        receivers.install_admin_audit()

        from ops.openapi import install_schema_extensions

        install_schema_extensions()
