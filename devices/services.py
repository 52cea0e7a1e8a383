"""Write use cases of meters: provision, claim, assign, decommission, reassign, exchange, and liveness
(seen / offline).

Provisioning and claiming: docs/deployment.md#provisioning-meters; exchange: docs/operations.md#meter-exchange.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Iterable
from datetime import datetime, timedelta
from decimal import Decimal
from typing import NamedTuple, Protocol

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.crypto import constant_time_compare, salted_hmac

from accounts.models import User
from devices.identity import DEVICE_ID_RULE, NATIVE, PAYLOAD_FORMATS, is_device_id
from devices.lifecycle import ProvisionedSecrets, device_decommissioned, device_format_changed, device_provisioned
from devices.models import DEFAULT_SANCTIONED_LOAD_KW, Device, MeterExchange
from ops.audit import audit_log

logger = logging.getLogger("smartmeter.audit")
liveness_logger = logging.getLogger("smartmeter.ingest")

MARK_SEEN_CHUNK = 1000  # meters per UPDATE: one statement per batch up to this many meters


class Heard(Protocol):
    """What liveness needs of a stored reading: whose it is and when it was taken."""

    device_id: str
    timestamp: datetime


class DeviceAlreadyRegistered(Exception):
    """A meter with this id (or, when provisioning, this serial) exists already."""

    def __init__(self, device_id: str, *, field: str = "device_id", message: str = ""):
        super().__init__(device_id)
        self.device_id = device_id
        self.field = field
        self.message = message or f"Meter '{device_id}' is already registered."


class DeviceNotClaimable(Exception):
    """Raised alike for an unknown id, a wrong code, a meter already claimed (by anyone) and a
    decommissioned one, so the answer never says which: no oracle for meter ids."""


class DeviceUnavailable(Exception):
    """The meter's state forbids this: a claim code only for an unclaimed meter in service, no
    assignment of a decommissioned one. The message says which (for staff)."""


# The one answer to every failed claim, on the API and the page alike.
CLAIM_REFUSED_MESSAGE = "No meter with this id and claim code."

# No 0/O, 1/I/L, 5/S or 8/B look-alikes: read off a sticker and typed on a phone.
CLAIM_CODE_ALPHABET = "2345679ACDEFGHJKMNPQRTUVWXYZ"
CLAIM_CODE_LENGTH = 10  # 28**10, about 48 bits; guessing is also rate limited and the code is single-use
CLAIM_CODE_GROUPS = (4, 4, 2)  # K7QP-3MXW-9T


class ProvisionedMeter(NamedTuple):
    """A newly provisioned meter, its claim code and what the life-cycle hooks hand back;
    the code and secrets exist in clear only here, to show staff once."""

    device: Device
    claim_code: str
    secrets: list[ProvisionedSecrets]


def claim_code_generate() -> str:
    raw = "".join(secrets.choice(CLAIM_CODE_ALPHABET) for _ in range(CLAIM_CODE_LENGTH))
    groups, start = [], 0
    for size in CLAIM_CODE_GROUPS:
        groups.append(raw[start : start + size])
        start += size
    return "-".join(groups)


def claim_code_normalize(code: str) -> str:
    """What is hashed and compared: upper case, without the dashes or spaces people type or leave out."""
    return "".join(char for char in str(code).upper() if char.isalnum())


CLAIM_CODE_HASH_SALT = "smartmeter.devices.claim-code"
CLAIM_CODE_HASH_PREFIX = "hmac-sha256$"


def claim_code_hash_of(code: str) -> str:
    """A keyed hash (HMAC-SHA256 under SECRET_KEY): a claim code is ~50 random bits, so a slow
    password hasher buys nothing and would cost ~0.3 s a meter (an import of 10,000 meters:
    most of an hour), while the key keeps a copied table from being searched offline."""
    digest = salted_hmac(CLAIM_CODE_HASH_SALT, claim_code_normalize(code), algorithm="sha256").hexdigest()
    return f"{CLAIM_CODE_HASH_PREFIX}{digest}"


def claim_code_matches(code: str, stored_hash: str) -> bool:
    return bool(stored_hash) and constant_time_compare(claim_code_hash_of(code), stored_hash)


@transaction.atomic
def device_provision(
    *,
    device_id: str,
    serial: str = "",
    sanctioned_load_kw: Decimal = DEFAULT_SANCTIONED_LOAD_KW,
    location: str = "",
    name: str = "",
    wifi_ssid: str = "",
    firmware_version: str = "",
    payload_format: str = NATIVE,
    actor: User | None = None,
) -> ProvisionedMeter:
    """Add a meter nobody owns yet, with a one-time claim code for its customer.

    The code is stored only as a hash; the returned code and hook secrets are the only copies.
    ``payload_format`` decides its topics and what the broker lets it publish.
    """
    _require_payload_format(payload_format)
    if Device.objects.filter(device_id=device_id).exists():
        raise DeviceAlreadyRegistered(device_id)
    if serial and Device.objects.filter(serial=serial).exists():
        raise DeviceAlreadyRegistered(
            device_id, field="serial", message=f"A meter with serial '{serial}' is already provisioned."
        )
    claim_code = claim_code_generate()
    try:
        with transaction.atomic():
            device = Device.objects.create(
                device_id=device_id,
                serial=serial,
                sanctioned_load_kw=sanctioned_load_kw,
                location=location,
                name=name,
                wifi_ssid=wifi_ssid,
                firmware_version=firmware_version,
                payload_format=payload_format,
                claim_code_hash=claim_code_hash_of(claim_code),
            )
    except IntegrityError as exc:  # a concurrent provisioning of the same id or serial
        raise DeviceAlreadyRegistered(device_id) from exc
    provisioned = device_provisioned(device)
    logger.info(
        "device provisioned",
        extra={
            "device_id": device_id,
            "serial": serial,
            "payload_format": payload_format,
            "actor": actor.email if actor else None,
        },
    )
    return ProvisionedMeter(device=device, claim_code=claim_code, secrets=provisioned)


@transaction.atomic
def device_claim_code_reset(*, device: Device, actor: User | None = None) -> str:
    """Issue a new claim code (the old one stops working); returns it, to show staff once."""
    device = Device.objects.select_for_update().get(pk=device.pk)
    if device.is_claimed or device.is_decommissioned:
        raise DeviceUnavailable(
            f"Meter '{device.device_id}' is {'decommissioned' if device.is_decommissioned else 'already claimed'}: "
            "it has no claim code."
        )
    claim_code = claim_code_generate()
    device.claim_code_hash = claim_code_hash_of(claim_code)
    device.save(update_fields=["claim_code_hash"])
    logger.info(
        "device claim code reset", extra={"device_id": device.device_id, "actor": actor.email if actor else None}
    )
    return claim_code


@transaction.atomic
def device_claim(*, device_id: str, claim_code: str, user: User, name: str = "") -> Device:
    """Make ``user`` the owner of the unclaimed meter ``device_id`` whose claim code they have.

    Every failure raises DeviceNotClaimable, in about the same time: a hash is always
    checked, even when there is no meter to check it against.
    """
    device = (
        Device.objects.select_for_update()
        .filter(device_id=device_id, owner__isnull=True)
        .exclude(status=Device.Status.DECOMMISSIONED)
        .exclude(claim_code_hash="")
        .first()
    )
    if device is None:
        matches = claim_code_matches(claim_code, "")  # the same work either way
    else:
        matches = claim_code_matches(claim_code, device.claim_code_hash)
    if not matches:
        logger.info("device claim refused", extra={"device_id": device_id, "user": user.email})
        raise DeviceNotClaimable(device_id)
    device.owner = user
    device.claimed_at = timezone.now()
    device.claim_code_hash = ""  # single use
    update_fields = ["owner", "claimed_at", "claim_code_hash"]
    if name:
        device.name = name
        update_fields.append("name")
    device.save(update_fields=update_fields)
    logger.info("device claimed", extra={"device_id": device_id, "owner": user.email})
    return device


@transaction.atomic
def device_assign(*, device: Device, owner: User, actor: User | None = None) -> Device:
    """Staff give a meter to a customer directly (no claim code needed; any open code stops
    working), or move a claimed meter to another customer (its issued invoices stay put).

    A retired meter that nobody claimed cannot be given out; a claimed one may still change hands.
    """
    device = Device.objects.select_for_update(of=("self",)).select_related("owner").get(pk=device.pk)
    if device.is_decommissioned and not device.is_claimed:
        raise DeviceUnavailable(f"Meter '{device.device_id}' is decommissioned.")
    previous = device.owner.email if device.owner else None
    device.owner = owner
    device.claimed_at = device.claimed_at if previous else timezone.now()
    device.claim_code_hash = ""
    device.save(update_fields=["owner", "claimed_at", "claim_code_hash"])
    logger.info(
        "device reassigned" if previous else "device assigned",
        extra={
            "device_id": device.device_id,
            "from": previous,
            "to": owner.email,
            "actor": actor.email if actor else None,
        },
    )
    return device


@transaction.atomic
def device_payload_format_change(*, device: Device, payload_format: str, actor: User | None = None) -> Device:
    """The meter speaks another format from now on: new topics, and (through the life-cycle hooks)
    broker permissions that follow them. A hook that fails rolls the change back."""
    _require_payload_format(payload_format)
    device = Device.objects.select_for_update().get(pk=device.pk)
    if device.payload_format == payload_format:
        return device
    previous = device.payload_format
    device.payload_format = payload_format
    device.save(update_fields=["payload_format"])
    device_format_changed(device)
    logger.info(
        "device payload format changed",
        extra={
            "device_id": device.device_id,
            "from": previous,
            "to": payload_format,
            "actor": actor.email if actor else None,
        },
    )
    return device


def _require_payload_format(payload_format: str) -> None:
    if payload_format not in PAYLOAD_FORMATS:
        raise ValueError(f"unknown payload format {payload_format!r}: one of {', '.join(PAYLOAD_FORMATS)}")


@transaction.atomic
def device_decommission(*, device: Device, actor: User | None = None, at: datetime | None = None) -> Device:
    """Retire a meter: it keeps its readings and invoices but is no longer billed or accepted.

    ``at``: when it left service (a meter exchange records the swap's instant); default now.
    """
    if device.is_decommissioned:
        return device
    device.status = Device.Status.DECOMMISSIONED
    device.decommissioned_at = at or timezone.now()
    device.claim_code_hash = ""  # a retired meter can no longer be claimed
    device.save(update_fields=["status", "decommissioned_at", "claim_code_hash"])
    device_decommissioned(device)
    logger.info(
        "device decommissioned",
        extra={"device_id": device.device_id, "actor": actor.email if actor else None},
    )
    return device


class ExchangeRefused(Exception):
    """The exchange cannot be recorded as asked; the message says why (for staff)."""

    def __init__(self, message: str, *, field: str | None = None):
        super().__init__(message)
        self.message = message
        self.field = field  # the form field at fault, when one is


@transaction.atomic
def device_exchange(
    *,
    old_device: Device,
    new_device_id: str,
    new_serial: str = "",
    old_final_register: Decimal,
    new_initial_register: Decimal,
    exchanged_at: datetime,
    notes: str = "",
    actor: User | None = None,
) -> MeterExchange:
    """Replace ``old_device`` by the meter ``new_device_id`` at ``exchanged_at``.

    The new meter is provisioned (with its broker credentials, as any meter) unless a meter with
    that id is already provisioned, unclaimed and in service, in which case that one is used. It
    goes to the old meter's owner with the old one's name, location, sanctioned load and (when it
    declares none of its own) register digits; the old meter is decommissioned at the instant.

    The returned exchange carries ``provisioned``: the new meter's ProvisionedMeter (its one-time
    secrets, to show staff once; the claim code is void, the meter being assigned) or None when an
    existing meter was used. Raises ExchangeRefused.
    """
    if timezone.is_naive(exchanged_at):
        raise ExchangeRefused("The exchange instant needs a time zone.", field="exchanged_at")
    # To the millisecond, as readings are stored: "at or after the exchange" is then exact.
    exchanged_at = exchanged_at.replace(microsecond=exchanged_at.microsecond // 1000 * 1000)
    for field, value in (("old_final_register", old_final_register), ("new_initial_register", new_initial_register)):
        if value is None or Decimal(value) < 0:
            raise ExchangeRefused("A register reading cannot be negative.", field=field)
    old = Device.objects.select_for_update(of=("self",)).select_related("owner").get(pk=old_device.pk)
    _exchange_check_old(old, exchanged_at=exchanged_at)
    if not is_device_id(new_device_id):
        raise ExchangeRefused(f"A meter id is {DEVICE_ID_RULE}.", field="new_device_id")
    if new_device_id == old.device_id:
        raise ExchangeRefused("A meter cannot replace itself.", field="new_device_id")

    provisioned = None
    new = Device.objects.select_for_update().filter(device_id=new_device_id).first()
    if new is None:
        try:
            provisioned = device_provision(
                device_id=new_device_id,
                serial=new_serial,
                sanctioned_load_kw=old.sanctioned_load_kw,
                location=old.location,
                name=old.name,
                actor=actor,
            )
        except DeviceAlreadyRegistered as exc:
            field = "new_serial" if exc.field == "serial" else "new_device_id"
            raise ExchangeRefused(exc.message, field=field) from exc
        new = provisioned.device
    else:
        _exchange_check_existing_new(new, new_serial=new_serial)
    new.name, new.location, new.sanctioned_load_kw = old.name, old.location, old.sanctioned_load_kw
    if new.register_digits is None:
        new.register_digits = old.register_digits
    if new_serial and not new.serial:
        new.serial = new_serial
    new.save(update_fields=["name", "location", "sanctioned_load_kw", "register_digits", "serial"])
    device_assign(device=new, owner=old.owner, actor=actor)
    device_decommission(device=old, actor=actor, at=exchanged_at)
    try:
        with transaction.atomic():
            exchange = MeterExchange.objects.create(
                old_device=old,
                new_device=new,
                exchanged_at=exchanged_at,
                old_final_register=old_final_register,
                new_initial_register=new_initial_register,
                notes=notes,
                recorded_by=actor,
            )
    except IntegrityError as exc:  # a concurrent exchange of either meter
        raise ExchangeRefused(f"Meter '{old.device_id}' or '{new.device_id}' was exchanged meanwhile.") from exc
    audit_log(
        actor=actor,
        action="device.exchange",
        old_device_id=old.device_id,
        new_device_id=new.device_id,
        owner=old.owner.email,
        exchanged_at=exchanged_at.isoformat(),
        old_final_register=str(exchange.old_final_register),
        new_initial_register=str(exchange.new_initial_register),
        new_meter_provisioned=provisioned is not None,
    )
    exchange.provisioned = provisioned
    return exchange


def _exchange_check_old(old: Device, *, exchanged_at: datetime) -> None:
    if old.is_decommissioned:
        raise ExchangeRefused(f"Meter '{old.device_id}' is already decommissioned.")
    if not old.is_claimed:
        raise ExchangeRefused(f"Meter '{old.device_id}' has no customer yet: nothing to exchange it for.")
    if exchanged_at > timezone.now():
        raise ExchangeRefused("The exchange instant is in the future.", field="exchanged_at")
    came_in = MeterExchange.objects.filter(new_device=old).values_list("exchanged_at", flat=True).first()
    in_service_since = came_in or old.created_at
    if exchanged_at < in_service_since:
        raise ExchangeRefused(
            f"Meter '{old.device_id}' entered service at {in_service_since.isoformat()}: "
            "the exchange cannot be earlier.",
            field="exchanged_at",
        )


def _exchange_check_existing_new(new: Device, *, new_serial: str) -> None:
    if new.is_decommissioned:
        raise ExchangeRefused(f"Meter '{new.device_id}' is decommissioned.", field="new_device_id")
    if new.is_claimed:
        raise ExchangeRefused(
            f"Meter '{new.device_id}' is already in service for a customer: the new meter must be a provisioned, "
            "unclaimed one or a new id.",
            field="new_device_id",
        )
    if new_serial and new.serial and new_serial != new.serial:
        raise ExchangeRefused(
            f"Meter '{new.device_id}' has serial '{new.serial}', not '{new_serial}'.", field="new_serial"
        )
    if new_serial and not new.serial and Device.objects.filter(serial=new_serial).exists():
        raise ExchangeRefused(f"A meter with serial '{new_serial}' is already provisioned.", field="new_serial")


def devices_mark_seen(*, readings: Iterable[Heard], received_at: datetime) -> int:
    """One UPDATE for the whole batch: `last_seen` moves forward to each meter's newest reading
    (never past the receive time), and meters whose newest reading is recent become `online`.

    A redelivered or backfilled old reading moves `last_seen` but does not bring an
    offline meter back online.
    """
    newest: dict[str, datetime] = {}
    for reading in readings:
        seen_at = min(reading.timestamp, received_at)
        current = newest.get(reading.device_id)
        if current is None or seen_at > current:
            newest[reading.device_id] = seen_at
    if not newest:
        return 0
    fresh_after = timezone.now() - settings.DEVICE_OFFLINE_AFTER
    items = list(newest.items())
    changed = 0
    for start in range(0, len(items), MARK_SEEN_CHUNK):
        changed += _devices_mark_seen_sql(items[start : start + MARK_SEEN_CHUNK], fresh_after=fresh_after)
    return changed


def _devices_mark_seen_sql(items: list[tuple[str, datetime]], *, fresh_after: datetime) -> int:
    # Hand-written because it runs once per batch on the ingest hot path: the equivalent ORM
    # Case/When expression costs more to build than the rest of the batch put together.
    quote = connection.ops.quote_name
    adapt = connection.ops.adapt_datetimefield_value
    table, device_id, last_seen, status = (
        quote(name) for name in (Device._meta.db_table, "device_id", "last_seen", "status")
    )
    when_sql = " ".join(["WHEN %s THEN %s"] * len(items))
    when_params = [value for device, seen_at in items for value in (device, adapt(seen_at))]
    newest_sql = f"CASE {device_id} {when_sql} END"
    fresh = [device for device, seen_at in items if seen_at >= fresh_after]
    ids_sql = ", ".join(["%s"] * len(items))
    status_sql = (
        f"CASE WHEN {device_id} IN ({', '.join(['%s'] * len(fresh))}) THEN %s ELSE {status} END" if fresh else status
    )
    sql = (
        f"UPDATE {table} SET "  # noqa: S608 - quoted identifiers and placeholders only
        f"{last_seen} = CASE WHEN {last_seen} IS NULL OR {last_seen} < ({newest_sql}) THEN ({newest_sql}) "
        f"ELSE {last_seen} END, "
        f"{status} = {status_sql} "
        f"WHERE {device_id} IN ({ids_sql}) AND {status} <> %s"
    )
    params = [
        *when_params,
        *when_params,
        *([*fresh, Device.Status.ONLINE.value] if fresh else []),
        *[device for device, _ in items],
        Device.Status.DECOMMISSIONED.value,
    ]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.rowcount


def devices_mark_offline(*, now: datetime | None = None, after: timedelta | None = None) -> list[str]:
    """Mark `offline` every online meter not heard from for DEVICE_OFFLINE_AFTER; returns their ids.

    Safe to run twice or concurrently: the UPDATE's condition re-checks each row.
    """
    now = now or timezone.now()
    cutoff = now - (after if after is not None else settings.DEVICE_OFFLINE_AFTER)
    stale = Device.objects.filter(status=Device.Status.ONLINE).filter(
        Q(last_seen__lt=cutoff) | Q(last_seen__isnull=True)
    )
    device_ids = list(stale.values_list("device_id", flat=True))
    if not device_ids:
        return []
    changed = (
        Device.objects.filter(device_id__in=device_ids, status=Device.Status.ONLINE)
        .filter(Q(last_seen__lt=cutoff) | Q(last_seen__isnull=True))
        .update(status=Device.Status.OFFLINE)
    )
    if changed:
        liveness_logger.info(
            "%d meter(s) went offline: %s", changed, ", ".join(device_ids[:20]), extra={"device_ids": device_ids[:100]}
        )
    return device_ids
