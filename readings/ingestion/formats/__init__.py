"""Payload formats: one small pure module per device format, and the registry that picks one.

Each module has ``NAME``, ``to_mapped(document, *, device_id, rest, local_zone) -> Mapped`` and
``untimed(payload, rest) -> bool`` (the message carries no time of its own). Adding a format is
one module, one line here, and its topic layout in devices.identity (docs/ingestion.md#adding-a-format).
"""

from readings.ingestion.formats import dsmr_reader, native, shelly_gen2, tasmota

FORMATS = {module.NAME: module for module in (native, tasmota, shelly_gen2, dsmr_reader)}
