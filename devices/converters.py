"""The `device_id` path converter: a URL segment is a meter id only if some meter could have it.

A segment that does not match (NUL, '/', non-ASCII, too long) never reaches a view or a
query: the URL does not resolve, so the caller gets the ordinary 404 (JSON under /api/).
Registered on import; every urls.py that takes a meter id imports this module.
"""

from django.urls import register_converter

from devices.identity import DEVICE_ID_CHARS


class DeviceIdConverter:
    regex = DEVICE_ID_CHARS

    def to_python(self, value: str) -> str:
        return value

    def to_url(self, value: str) -> str:
        return value


register_converter(DeviceIdConverter, "device_id")
