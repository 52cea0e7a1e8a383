"""Hooks other apps register to act when a meter is provisioned, changes payload format or is decommissioned.

A higher app (readings: the meter's broker credentials) extends the meter's life cycle
without devices importing it: it registers here once, in its AppConfig.ready(), and
devices.services calls every registered hook inside the same transaction, after the row is
written. A hook that raises rolls the change back. docs/architecture.md#dependencies.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from devices.models import Device


class HookFailed(Exception):
    """A hook could not do its part (the message says why); the change it was part of rolls back."""


@dataclass(frozen=True, slots=True)
class ProvisionedSecrets:
    """What a hook hands back to show staff once (a broker password, say); never stored in clear."""

    label: str
    value: str
    kind: str = ""  # what it is, for pages that place it (readings: "mqtt_password")


ProvisionHook = Callable[["Device"], ProvisionedSecrets | None]
DeviceHook = Callable[["Device"], None]
DecommissionHook = DeviceHook

_on_provisioned: list[ProvisionHook] = []
_on_format_changed: list[DeviceHook] = []
_on_decommissioned: list[DecommissionHook] = []


def on_provisioned(hook: ProvisionHook) -> None:
    if hook not in _on_provisioned:
        _on_provisioned.append(hook)


def on_format_changed(hook: DeviceHook) -> None:
    if hook not in _on_format_changed:
        _on_format_changed.append(hook)


def on_decommissioned(hook: DecommissionHook) -> None:
    if hook not in _on_decommissioned:
        _on_decommissioned.append(hook)


def device_provisioned(device: Device) -> list[ProvisionedSecrets]:
    """Run the provisioning hooks; returns the secrets to show staff once."""
    return [secret for hook in _on_provisioned if (secret := hook(device)) is not None]


def device_format_changed(device: Device) -> None:
    """Run the hooks for a meter whose payload format (and so its topics) just changed."""
    for hook in _on_format_changed:
        hook(device)


def device_decommissioned(device: Device) -> None:
    for hook in _on_decommissioned:
        hook(device)
