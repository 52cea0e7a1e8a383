"""Each meter's own broker account in Mosquitto's dynamic security plugin.

A meter logs in with its device id as the MQTT username and a random password, and its
role (``meter-<device_id>``) allows one thing: publishing to its own telemetry topic. So a
meter cannot publish as another (the broker drops the message) or read anyone's telemetry.
Provisioning issues the account, decommissioning disables it, staff rotate the password
from the meter admin. Only when MQTT_ADMIN_URL is set: docs/deployment.md#mqtt-credentials.

Mosquitto does not tell subscribers who published a message, so the consumer cannot check
a reading's topic against the publisher's login: this ACL is the check.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Iterator
from contextlib import contextmanager

from django.conf import settings

from accounts.models import User
from devices import lifecycle
from devices.identity import telemetry_topic
from devices.lifecycle import ProvisionedSecrets
from devices.models import Device
from readings.ingestion.mqtt import BrokerAccounts, BrokerAdminError, BrokerSettings, MqttConfigError

logger = logging.getLogger("smartmeter.audit")

METER_ROLE_PREFIX = "meter-"
PASSWORD_BYTES = 24  # 32 URL-safe characters


class MeterCredentialsError(Exception):
    """The meter's broker account could not be created or changed (the reason is in the message)."""


def broker_administration_configured() -> bool:
    return bool(settings.MQTT_ADMIN_URL)


def broker_accounts() -> BrokerAccounts:
    """An admin connection for MQTT_ADMIN_URL (TLS files as for MQTT_URL); use it as a context manager."""
    return BrokerAccounts(BrokerSettings.from_settings(settings.MQTT_ADMIN_URL))


def meter_username(device_id: str) -> str:
    """A meter's MQTT username is its device id: what its firmware already knows."""
    return device_id


def meter_rolename(device_id: str) -> str:
    return f"{METER_ROLE_PREFIX}{device_id}"


def meter_role_acls(device_id: str) -> list[dict]:
    """Publish to its own telemetry topic; nothing else (the plugin denies what no ACL allows)."""
    return [{"acltype": "publishClientSend", "topic": telemetry_topic(device_id), "priority": 0, "allow": True}]


def meter_credentials_issue(*, device: Device) -> ProvisionedSecrets:
    """Create the meter's account and role; returns the password to show staff once.

    An account of that name that is not this meter's (another role on it, say the consumer's
    login) is refused, never taken over. This meter's own account, left behind by a
    provisioning that rolled back after the broker had answered, is reclaimed.
    """
    username, rolename = meter_username(device.device_id), meter_rolename(device.device_id)
    password = secrets.token_urlsafe(PASSWORD_BYTES)
    with _admin() as accounts:
        try:
            accounts.command("createRole", rolename=rolename, acls=meter_role_acls(device.device_id))
        except BrokerAdminError as exc:
            if exc.error != "Role already exists":
                raise _failed("issue", device, exc) from exc
        try:
            accounts.command("createClient", username=username, password=password, roles=[{"rolename": rolename}])
        except BrokerAdminError as exc:
            if exc.error != "Client already exists":
                raise _failed("issue", device, exc) from exc
            _reclaim(accounts, device=device, password=password)
    logger.info("meter broker account issued", extra={"device_id": device.device_id, "mqtt_username": username})
    return _secret(device, password)


def meter_credentials_rotate(*, device: Device, actor: User | None = None) -> ProvisionedSecrets:
    """A new password; the broker disconnects sessions opened with the old one, which stops working."""
    if device.is_decommissioned:
        raise MeterCredentialsError(f"{device.device_id} is decommissioned: its broker account stays disabled")
    password = secrets.token_urlsafe(PASSWORD_BYTES)
    with _admin() as accounts:
        _require_own_account(accounts, device=device)
        try:
            accounts.command("setClientPassword", username=meter_username(device.device_id), password=password)
        except BrokerAdminError as exc:
            raise _failed("rotate", device, exc) from exc
    logger.info(
        "meter broker password rotated",
        extra={"device_id": device.device_id, "actor": actor.email if actor else None},
    )
    return _secret(device, password)


def meter_credentials_disable(*, device: Device) -> None:
    """Disable the account (kept, so the broker's log and the role stay explainable); connections end now."""
    with _admin() as accounts:
        try:
            accounts.command("disableClient", username=meter_username(device.device_id))
        except BrokerAdminError as exc:
            if exc.error == "Client not found":  # never had an account (provisioned before MQTT_ADMIN_URL)
                logger.warning("meter has no broker account to disable", extra={"device_id": device.device_id})
                return
            raise _failed("disable", device, exc) from exc
    logger.info("meter broker account disabled", extra={"device_id": device.device_id})


def meter_accounts_existing() -> set[str]:
    """The usernames the broker has accounts for (meters' and the product's own)."""
    with _admin() as accounts:
        try:
            listed = accounts.command("listClients", verbose=False, count=-1, offset=0)
        except BrokerAdminError as exc:
            raise MeterCredentialsError(f"could not list the broker's accounts: {exc}") from exc
    return {client if isinstance(client, str) else client["username"] for client in listed.get("clients", [])}


# --- hooks (devices.lifecycle calls them positionally) ----------------------------


def meter_credentials_hooks_register() -> bool:
    """Called from ReadingsConfig.ready(): with no MQTT_ADMIN_URL (the open embedded broker of
    `make run`) meters get no accounts and nothing is registered. True when registered."""
    if not broker_administration_configured():
        return False
    lifecycle.on_provisioned(provisioned_hook)
    lifecycle.on_decommissioned(decommissioned_hook)
    return True


def provisioned_hook(device: Device) -> ProvisionedSecrets:
    return meter_credentials_issue(device=device)


def decommissioned_hook(device: Device) -> None:
    meter_credentials_disable(device=device)


# --- helpers ----------------------------------------------------------------------


@contextmanager
def _admin() -> Iterator[BrokerAccounts]:
    try:
        accounts = broker_accounts()
        accounts.open()
    except (BrokerAdminError, MqttConfigError) as exc:
        raise MeterCredentialsError(f"broker administration (MQTT_ADMIN_URL) is unusable: {exc}") from exc
    try:
        yield accounts
    finally:
        accounts.close()


def _reclaim(accounts: BrokerAccounts, *, device: Device, password: str) -> None:
    _require_own_account(accounts, device=device)
    try:
        accounts.commands(
            [
                {"command": "setClientPassword", "username": meter_username(device.device_id), "password": password},
                {"command": "enableClient", "username": meter_username(device.device_id)},
            ]
        )
    except BrokerAdminError as exc:
        raise _failed("issue", device, exc) from exc


def _require_own_account(accounts: BrokerAccounts, *, device: Device) -> None:
    """Refuse to touch a broker account that is not exactly this meter's."""
    username = meter_username(device.device_id)
    try:
        client = accounts.command("getClient", username=username)["client"]
    except BrokerAdminError as exc:
        raise _failed("find", device, exc) from exc
    roles = {role["rolename"] for role in client.get("roles", [])}
    if roles != {meter_rolename(device.device_id)} or client.get("groups"):
        raise MeterCredentialsError(
            f"the broker account {username!r} is not {device.device_id}'s meter account "
            f"(roles {sorted(roles)}): a meter id may not reuse another broker login"
        )


def _failed(action: str, device: Device, exc: BrokerAdminError) -> MeterCredentialsError:
    return MeterCredentialsError(f"could not {action} the broker account of {device.device_id}: {exc}")


def _secret(device: Device, password: str) -> ProvisionedSecrets:
    return ProvisionedSecrets(
        label=f"MQTT password of {device.device_id} (username {meter_username(device.device_id)})", value=password
    )
