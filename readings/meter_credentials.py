"""Each meter's own broker account in Mosquitto's dynamic security plugin.

A meter logs in with its device id as the MQTT username and a random password, and its
role (``meter-<device_id>``) allows one thing: publishing to its own topics, as its payload
format lays them out (a native meter its telemetry topic; a Tasmota, Shelly or dsmr-reader
device anything under its own root, where its firmware also puts LWT and status). So a
meter cannot publish as another (the broker drops the message) or read anyone's telemetry.
Provisioning issues the account, a change of format re-applies the role's ACLs,
decommissioning disables it, staff rotate the password from the meter admin. Only when
MQTT_ADMIN_URL is set: docs/deployment.md#mqtt-credentials.

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
from devices.identity import NATIVE, TopicPrefixes, meter_publish_root, telemetry_topic
from devices.lifecycle import HookFailed, ProvisionedSecrets
from devices.models import Device
from devices.topics import topic_prefixes
from readings.broker_roles import Acl, acl_fields, acls_from_broker
from readings.ingestion.mqtt import BrokerAccounts, BrokerAdminError, BrokerSettings, MqttConfigError

logger = logging.getLogger("smartmeter.audit")

METER_ROLE_PREFIX = "meter-"
PASSWORD_BYTES = 24  # 32 URL-safe characters
SECRET_KIND_MQTT_PASSWORD = "mqtt_password"  # noqa: S105 (a label: ProvisionedSecrets.kind of the broker password)


class MeterCredentialsError(HookFailed):
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


def meter_role_acls(payload_format: str, device_id: str, prefixes: TopicPrefixes) -> set[Acl]:
    """What a meter of this format may do: publish under its own topics; nothing else (the plugin
    denies what no ACL allows, subscriptions included: the product never sends meters commands).

    A native meter publishes one topic. Tasmota, Shelly and dsmr-reader firmware publish several
    under the root the device is configured with (LWT, STATE, online, ...), so those get
    ``<root>/#``; the root holds the meter's id, so it is still only ever its own.
    """
    if payload_format == NATIVE:
        return {("publishClientSend", telemetry_topic(device_id), True)}
    return {("publishClientSend", f"{meter_publish_root(payload_format, device_id, prefixes)}/#", True)}


def device_role_acls(device: Device) -> set[Acl]:
    return meter_role_acls(device.payload_format, device.device_id, topic_prefixes())


def meter_credentials_issue(*, device: Device) -> ProvisionedSecrets:
    """Create the meter's account and role; returns the password to show staff once.

    An account of that name that is not this meter's (another role on it, say the consumer's
    login) is refused, never taken over. This meter's own account, left behind by a
    provisioning that rolled back after the broker had answered, is reclaimed.
    """
    username, rolename = meter_username(device.device_id), meter_rolename(device.device_id)
    password = secrets.token_urlsafe(PASSWORD_BYTES)
    with _admin() as accounts:
        wanted = device_role_acls(device)
        try:
            accounts.command("createRole", rolename=rolename, acls=[acl_fields(acl) for acl in sorted(wanted)])
        except BrokerAdminError as exc:
            if exc.error != "Role already exists":
                raise _failed("issue", device, exc) from exc
            _role_acls_set(accounts, device=device, wanted=wanted)  # its format may have changed since
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


def meter_role_update(*, device: Device) -> None:
    """Make the meter's role allow exactly what its (new) payload format needs; its password is kept."""
    with _admin() as accounts:
        try:
            _role_acls_set(accounts, device=device, wanted=device_role_acls(device))
        except _RoleMissing:  # never had an account (provisioned before MQTT_ADMIN_URL)
            logger.warning("meter has no broker role to update", extra={"device_id": device.device_id})
            return
    logger.info(
        "meter broker role updated", extra={"device_id": device.device_id, "payload_format": device.payload_format}
    )


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
    lifecycle.on_format_changed(format_changed_hook)
    lifecycle.on_decommissioned(decommissioned_hook)
    return True


def provisioned_hook(device: Device) -> ProvisionedSecrets:
    return meter_credentials_issue(device=device)


def format_changed_hook(device: Device) -> None:
    meter_role_update(device=device)


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


class _RoleMissing(Exception):
    pass


def _role_acls_set(accounts: BrokerAccounts, *, device: Device, wanted: set[Acl]) -> None:
    """Remove the ACLs the role should not have, then add the missing ones (the plugin has no "set")."""
    rolename = meter_rolename(device.device_id)
    try:
        have = acls_from_broker(accounts.command("getRole", rolename=rolename)["role"].get("acls", []))
    except BrokerAdminError as exc:
        if exc.error == "Role not found":
            raise _RoleMissing(rolename) from exc
        raise _failed("read the role of", device, exc) from exc
    commands = [
        {"command": "removeRoleACL", "rolename": rolename, "acltype": acltype, "topic": topic}
        for acltype, topic, _allow in sorted(have - wanted)
    ] + [{"command": "addRoleACL", "rolename": rolename, **acl_fields(acl)} for acl in sorted(wanted - have)]
    if not commands:
        return
    try:
        accounts.commands(commands)
    except BrokerAdminError as exc:
        raise _failed("update the role of", device, exc) from exc


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
        label=f"MQTT password of {device.device_id} (username {meter_username(device.device_id)})",
        value=password,
        kind=SECRET_KIND_MQTT_PASSWORD,
    )
