"""What the meter admin's change form posts, for tests that change one field through it."""


def device_change_form(device, **changes) -> dict:
    """The change form's fields as the device has them, with `changes` applied."""
    form = {
        "device_id": device.device_id,
        "name": device.name,
        "location": device.location,
        "payload_format": device.payload_format,
        "serial": device.serial,
        "sanctioned_load_kw": f"{device.sanctioned_load_kw:.2f}",
        "wifi_ssid": device.wifi_ssid,
        "status": device.status,
        "firmware_version": device.firmware_version,
    }
    form.update(changes)
    return form
