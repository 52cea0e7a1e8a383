"""The readings app: enlarges SQLite's page cache on each new connection, registers the
readings store's probe with /health and, when MQTT_ADMIN_URL is set, the meter life-cycle
hooks that issue and disable each meter's broker account (readings.meter_credentials)."""

from django.apps import AppConfig
from django.db.backends.signals import connection_created

# SQLite's default page cache is 2 MB; a month of one meter's readings in the
# covering series index is a few MB. Reading it from the connection's cache
# instead of re-reading pages makes the readings API's range statements ~15%
# cheaper (bench/readings_api.py). The cache only grows as pages are read.
SQLITE_PAGE_CACHE_KIB = 16_000


def sqlite_page_cache(sender, connection, **kwargs):
    if connection.vendor == "sqlite":
        with connection.cursor() as cursor:
            cursor.execute(f"PRAGMA cache_size = -{SQLITE_PAGE_CACHE_KIB}")


class ReadingsConfig(AppConfig):
    name = "readings"
    verbose_name = "Readings and ingestion"

    def ready(self):
        connection_created.connect(sqlite_page_cache, dispatch_uid="readings-sqlite-page-cache")

        from ops.health import readings_probe_register
        from readings.stores import store_ping

        readings_probe_register(store_ping)

        from readings.meter_credentials import meter_credentials_hooks_register

        meter_credentials_hooks_register()
