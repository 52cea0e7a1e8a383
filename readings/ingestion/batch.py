"""One batch of telemetry: validate, store, dead-letter what cannot be stored, mark meters seen.

The consumer acknowledges a batch only after `readings_ingest_batch` returns. See
docs/ingestion.md.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db import transaction

from devices.identity import SHELLY_GEN2, TopicPrefixes, topic_device_id
from devices.services import devices_mark_seen
from devices.topics import topic_prefixes
from ops import metrics
from readings.consumption import to_kwh
from readings.ingestion.dead_letters import (
    CONFLICTING_READING,
    RETAINED,
    STORE_REJECTED,
    DeadLetterEntry,
    dead_letters_insert,
    excerpt,
    shorten,
)
from readings.ingestion.directory import DeviceDirectory
from readings.ingestion.joins import PowerJoin
from readings.ingestion.messages import ReceivedMessage
from readings.ingestion.redelivery import UntimedKey, earlier_instants, untimed_key, untimed_record
from readings.ingestion.retry import ShutdownRequested, is_data_error, run_once
from readings.ingestion.validation import Ignored, Rejection, parse_telemetry
from readings.stores.buckets import stored_instant
from readings.types import PowerSample, Reading

logger = logging.getLogger("smartmeter.ingest")

MILLISECOND = timedelta(milliseconds=1)


@dataclass
class IngestOutcome:
    """What became of one batch; every message is in exactly one bucket."""

    stored: int = 0
    duplicates: int = 0
    dead_letters: list[DeadLetterEntry] = field(default_factory=list)
    power_only: int = 0  # power messages without a register (shown live, joined, never stored alone)
    ignored: int = 0  # well-formed messages with nothing to store (docs/ingestion.md#payload-formats)

    @property
    def rejected(self) -> int:
        return len(self.dead_letters)


def readings_ingest_batch(
    *,
    messages: Sequence[ReceivedMessage],
    directory: DeviceDirectory | None = None,
    store=None,
    attempt: Callable = run_once,
    backfill: timedelta | None = None,
    joins: PowerJoin | None = None,
) -> IngestOutcome:
    """Validate, store and account for a batch of telemetry; returns once all of it is durable.

    Valid readings go to the readings store (duplicates, e.g. QoS 1 redeliveries, are
    ignored there); invalid messages and readings the store refuses go to the dead-letter
    store; the meters heard from get `last_seen` (and `online` when the reading is recent)
    in one query. Only after this returns may the messages be acknowledged.

    `attempt(step, what=...)` runs each durable step: the consumer passes a `Retrier`
    that rides out store outages; the default runs once and lets errors propagate.
    `joins` keeps meters' power messages for the register readings that follow them (the
    consumer passes one that lives as long as it does; by default, joins stay within the batch).
    """
    if not messages:
        return IngestOutcome()
    if store is None:
        from readings.stores import get_store

        store = get_store()
    directory = directory or DeviceDirectory()
    backfill = backfill if backfill is not None else timedelta(days=settings.INGEST_BACKFILL_DAYS)
    joins = joins or PowerJoin(window=timedelta(seconds=settings.SHELLY_JOIN_WINDOW_SECONDS))
    prefixes = topic_prefixes()

    device_ids = _topic_device_ids(messages, prefixes)
    attempt(lambda: directory.prefetch(device_ids), what="look up meters")
    untimed = {index: key for index, message in enumerate(messages) if (key := untimed_key(message, prefixes))}
    redelivered = [key for index, key in untimed.items() if getattr(messages[index], "redelivered", False)]
    known = attempt(lambda: earlier_instants(redelivered), what="look up redelivered packets") if redelivered else {}
    readings, sources, repeats, outcome = _validate(
        messages, directory=directory, backfill=backfill, untimed=untimed, known=known, joins=joins, prefixes=prefixes
    )

    received_at = max(message.received_at for message in messages)
    rejected = list(outcome.dead_letters)

    def write_batch() -> tuple[int, list[DeadLetterEntry]]:
        # One transaction for readings, dead letters, meter status and untimed packets (one
        # commit per batch on the SQL store); all of it is idempotent, so a retry is safe.
        with transaction.atomic():
            stored = store.write_many(readings) if readings else 0
            conflicting, conflicts = _conflicts(store, readings, sources, repeats, all_new=stored == len(readings))
            accepted = [reading for index, reading in enumerate(readings) if index not in conflicting]
            untimed_stored = [
                (key, readings[index].timestamp)
                for index, source in enumerate(sources)
                if (key := source.key) and index not in conflicting
            ]
            _record_bookkeeping([*rejected, *conflicts], accepted, received_at=received_at, untimed=untimed_stored)
        return stored, conflicts

    started = time.perf_counter()
    try:
        stored, conflicts = attempt(write_batch, what=f"store {len(readings)} readings")
        outcome.dead_letters.extend(conflicts)
        refused: list[tuple[int, str]] = []
    except ShutdownRequested:
        raise
    except Exception as exc:
        if not is_data_error(exc):
            raise
        # Something in the batch cannot be stored: isolate it, store the rest.
        stored, refused = _store_readings(store, readings, attempt=attempt)
        refused_indexes = {index for index, _ in refused}
        for index, error in refused:
            outcome.dead_letters.append(
                DeadLetterEntry(
                    topic=sources[index].message.topic,
                    payload=sources[index].message.payload,
                    reason=STORE_REJECTED,
                    detail=f"the readings store refused this reading: {error}",
                    received_at=sources[index].message.received_at,
                    device_id=readings[index].device_id,
                )
            )
        conflicting, conflicts = attempt(
            lambda: _conflicts(
                store,
                readings,
                sources,
                repeats,
                all_new=stored == len(readings) - len(refused),
                skip=refused_indexes,
            ),
            what="look up the registers of repeated readings",
        )
        outcome.dead_letters.extend(conflicts)
        left_out = refused_indexes | conflicting
        accepted = [reading for index, reading in enumerate(readings) if index not in left_out]
        accepted_untimed = [
            (key, readings[index].timestamp)
            for index, source in enumerate(sources)
            if (key := source.key) and index not in left_out
        ]
        attempt(
            lambda: _record_bookkeeping(
                outcome.dead_letters, accepted, received_at=received_at, untimed=accepted_untimed
            ),
            what="record dead letters and meter status",
        )
    metrics.INGEST_WRITE_SECONDS.observe(time.perf_counter() - started)
    outcome.stored = stored
    # Every message is stored, dead-lettered, power-only, ignored, or a harmless repeat of a stored reading.
    outcome.duplicates = len(messages) - stored - len(outcome.dead_letters) - outcome.power_only - outcome.ignored

    _count(outcome, batch_size=len(messages))
    return outcome


@dataclass(frozen=True, slots=True)
class _Source:
    message: ReceivedMessage
    key: UntimedKey | None  # set when the payload had no timestamp (readings.ingestion.redelivery)


@dataclass(frozen=True, slots=True)
class _Repeat:
    """A reading for a (meter, instant) met earlier in the batch, with a different register."""

    reading: Reading
    message: ReceivedMessage


def _conflicts(
    store,
    readings: Sequence[Reading],
    sources: Sequence[_Source],
    repeats: Sequence[_Repeat],
    *,
    all_new: bool,
    skip: Collection[int] = (),
) -> tuple[set[int], list[DeadLetterEntry]]:
    """The readings refused because their instant is stored with another register (readings are
    evidence: a stored one is never edited), as (indexes into `readings`, dead letters).

    Only when the store kept fewer readings than it was given, or the batch repeated an instant
    with another register, does this ask the store (one bounded look-up); an equal register is
    a redelivery and stays a duplicate. docs/ingestion.md#two-registers-at-one-instant.
    """
    candidates: list[tuple[int | None, Reading, ReceivedMessage]] = []
    if not all_new:
        candidates += [
            (index, reading, sources[index].message) for index, reading in enumerate(readings) if index not in skip
        ]
    candidates += [(None, repeat.reading, repeat.message) for repeat in repeats]
    if not candidates:
        return set(), []
    stored = store.registers_at((reading.device_id, reading.timestamp) for _, reading, _ in candidates)
    conflicting: set[int] = set()
    letters: list[DeadLetterEntry] = []
    for index, reading, message in candidates:
        instant = stored_instant(reading.timestamp)
        register = stored.get((reading.device_id, instant))
        own = to_kwh(reading.energy_kwh)
        if register is None or register == own:
            continue
        if index is not None:
            conflicting.add(index)
        letters.append(_conflict_dead_letter(message, reading, instant=instant, stored=register, own=own))
    return conflicting, letters


def _conflict_dead_letter(
    message: ReceivedMessage, reading: Reading, *, instant: datetime, stored: Decimal, own: Decimal
) -> DeadLetterEntry:
    shown = instant.isoformat(timespec="milliseconds").replace("+00:00", "Z")
    return DeadLetterEntry(
        topic=message.topic,
        payload=message.payload,
        reason=CONFLICTING_READING,
        detail=f"a reading at {shown} is already stored with register {_kwh(stored)} kWh; this one says {_kwh(own)}",
        received_at=message.received_at,
        device_id=reading.device_id,
    )


def _kwh(value: Decimal) -> str:
    """At least three decimals, and every digit the register has: 100.000, 100.0004."""
    return f"{value:.3f}" if value == round(value, 3) else f"{value.normalize():f}"


def _validate(
    messages: Sequence[ReceivedMessage],
    *,
    directory: DeviceDirectory,
    backfill: timedelta,
    untimed: dict[int, UntimedKey],
    known: dict[UntimedKey, datetime],
    joins: PowerJoin,
    prefixes: TopicPrefixes,
) -> tuple[list[Reading], list[_Source], list[_Repeat], IngestOutcome]:
    """Readings to store (first copy of each (meter, instant) only), their sources, later copies
    with another register (judged once the first is stored: `_conflicts`), and the rejects.

    The directory must already hold every meter named by a topic (see `prefetch`). A
    message without a timestamp gets its receive time, or, when it is a redelivered packet
    stored before (`known`) or met earlier in this batch, the instant it was given then.
    """
    outcome = IngestOutcome()
    readings: list[Reading] = []
    sources: list[_Source] = []
    repeats: list[_Repeat] = []
    seen: dict[tuple[str, datetime], float] = {}  # (meter, instant as stored: to the millisecond) -> register
    given: dict[UntimedKey, datetime] = dict(known)  # and the packets met earlier in this batch
    local_zone = _zone(settings.TASMOTA_TIME_ZONE)
    max_bytes = settings.INGEST_MAX_PAYLOAD_BYTES
    for index, message in enumerate(messages):
        if getattr(message, "retained", False):
            outcome.dead_letters.append(_retained_dead_letter(message))
            continue
        key = untimed.get(index)
        received_at = message.received_at
        repeated = key is not None and key in given and getattr(message, "redelivered", False)
        if repeated:
            received_at = given[key]  # the payload has no timestamp: this is the instant it gets
        result = parse_telemetry(
            topic=message.topic,
            payload=message.payload,
            received_at=received_at,
            device_lookup=directory.lookup,
            backfill=backfill,
            max_bytes=max_bytes,
            prefixes=prefixes,
            local_zone=local_zone,
        )
        if isinstance(result, PowerSample):
            joins.remember(result)
            outcome.power_only += 1
            continue
        if isinstance(result, Ignored):
            outcome.ignored += 1
            continue
        if isinstance(result, Rejection):
            outcome.dead_letters.append(
                DeadLetterEntry(
                    topic=message.topic,
                    payload=message.payload,
                    reason=str(result.reason),
                    detail=result.message,
                    received_at=message.received_at,
                    device_id=result.device_id,
                )
            )
            continue
        if directory.lookup(result.device_id).payload_format == SHELLY_GEN2:
            if joins.is_copy(result):
                continue  # the same register sent twice (status and RPC notification): a duplicate
            result = joins.complete(result)
        if key is not None and not repeated:
            # Untimed packets drained from a backlog arrive microseconds apart; readings are
            # unique to the millisecond, so each is moved on to the next free millisecond
            # rather than taken for a copy of its neighbour.
            instant = stored_instant(result.timestamp)
            while (result.device_id, instant) in seen:
                instant += MILLISECOND
            result = replace(result, timestamp=instant)
            given.setdefault(key, instant)
        reading_key = (result.device_id, stored_instant(result.timestamp))
        if reading_key in seen:
            if seen[reading_key] != result.energy_kwh:
                repeats.append(_Repeat(result, message))
            continue  # the same register twice in one batch: a redelivery, counted as a duplicate
        seen[reading_key] = result.energy_kwh
        readings.append(result)
        sources.append(_Source(message, key))
    return readings, sources, repeats, outcome


def _retained_dead_letter(message: ReceivedMessage) -> DeadLetterEntry:
    """A retained message is the broker's stored copy, replayed to a new subscription: whatever
    the meter published with the retain flag, possibly long ago, possibly forged. A conforming
    broker never sets the flag on a live delivery, so refusing it loses no live reading; it is
    kept as a dead letter so staff see a meter configured to retain, and so a broker that sets
    the flag where it should not loses nothing silently (docs/ingestion.md#retained-messages)."""
    return DeadLetterEntry(
        topic=message.topic,
        payload=message.payload,
        reason=RETAINED,
        detail="arrived with the retain flag: the broker's stored copy replayed at subscribe time, not a "
        "live reading; set the meter to publish with retain off",
        received_at=message.received_at,
        device_id=topic_device_id(message.topic, topic_prefixes()) or "",
    )


def _zone(name: str):
    zone = _ZONES.get(name)
    if zone is None:
        zone = _ZONES[name] = ZoneInfo(name)
    return zone


_ZONES: dict = {}


def _topic_device_ids(messages: Sequence[ReceivedMessage], prefixes: TopicPrefixes) -> set[str]:
    device_ids = set()
    for message in messages:
        device_id = topic_device_id(message.topic, prefixes)
        if device_id is not None:
            device_ids.add(device_id)
    return device_ids


def _store_readings(store, readings: list[Reading], *, attempt: Callable) -> tuple[int, list[tuple[int, str]]]:
    """Write readings; returns (newly stored, [(index, why)] refused by the store itself).

    A batch the store refuses because of its data is split in halves until the reading(s)
    at fault stand alone; an outage never gets here (`attempt` retries it).
    """

    def write(start: int, end: int) -> tuple[int, list[tuple[int, str]]]:
        chunk = readings[start:end]
        try:
            return attempt(lambda: store.write_many(chunk), what=f"store {len(chunk)} readings"), []
        except ShutdownRequested:
            raise
        except Exception as exc:
            if not is_data_error(exc):
                raise
            if len(chunk) == 1:
                logger.error(
                    "readings store refused a reading from %s at %s: %s",
                    chunk[0].device_id,
                    chunk[0].timestamp.isoformat(),
                    exc,
                    extra={"device_id": chunk[0].device_id},
                )
                return 0, [(start, shorten(f"{type(exc).__name__}: {exc}", 400))]
            middle = (start + end) // 2
            left = write(start, middle)
            right = write(middle, end)
            return left[0] + right[0], left[1] + right[1]

    if not readings:
        return 0, []
    return write(0, len(readings))


def _record_bookkeeping(
    dead_letters: list[DeadLetterEntry],
    accepted: list[Reading],
    *,
    received_at: datetime,
    untimed: Sequence[tuple[UntimedKey, datetime]] = (),
) -> None:
    with transaction.atomic():
        if dead_letters:
            dead_letters_insert(entries=dead_letters)
        devices_mark_seen(readings=accepted, received_at=received_at)
        untimed_record(untimed)


def _count(outcome: IngestOutcome, *, batch_size: int) -> None:
    metrics.INGEST_BATCH_SIZE.observe(batch_size)
    if outcome.stored:
        metrics.READINGS_ACCEPTED.inc(outcome.stored)
    if outcome.duplicates:
        metrics.READINGS_DUPLICATE.inc(outcome.duplicates)
    if outcome.power_only:
        metrics.READINGS_POWER_ONLY.inc(outcome.power_only)
    if outcome.ignored:
        metrics.READINGS_IGNORED.inc(outcome.ignored)
    for entry in outcome.dead_letters:
        metrics.READINGS_REJECTED.labels(reason=entry.reason).inc()
        logger.warning(
            "rejected telemetry from %s (%s): %s",
            entry.device_id or "?",
            entry.reason,
            entry.detail,
            extra={"device_id": entry.device_id, "reason": entry.reason, "topic": excerpt(entry.topic, 255)},
        )
