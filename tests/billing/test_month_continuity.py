"""Consecutive months' invoices add up to the register delta across them, whatever the
reporting schedule, outages and run times, on both readings stores.

A meter's register rises on a grid of its reporting period; it reports on that grid
except during outages. Readings arrive over time: before each run only those stamped
before the run's instant are written (through the store). Each month is run at a random
instant up to five days after its end (sometimes after an earlier run that finds it
awaiting), then again daily until it is billed (an estimate once the grace period is over).

The register the invoices must add up to is read off the readings the meter reported:
at an instant between two readings it is interpolated between them, as the consumption
rule does (docs/readings.md#the-consumption-rule).

The Mongo wire server of the tests is slow per reading, so on the Mongo store the meter
reports on its period only around the month ends and every 24 hours in between
(a reporting schedule like any other; the SQL store gets the full period throughout).
"""

from __future__ import annotations

import random
from bisect import bisect_left
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal

import pytest
from django.conf import settings as django_settings
from hypothesis import HealthCheck, event, given, note
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from billing.models import Invoice
from billing.services import billing_run
from devices.models import Device
from readings.consumption import RegisterPoint, register_between
from readings.models import SqlReading
from readings.stores import get_store
from readings.stores.sql import SqlReadingStore
from tests.factories import DeviceFactory
from tests.support.readings import ist, write_registers

MONTHS = (date(2024, 11, 1), date(2024, 12, 1), date(2025, 1, 1))
MONTH_ENDS = (ist(2024, 12, 1), ist(2025, 1, 1), ist(2025, 2, 1))
BOUNDARIES = (ist(2024, 11, 1), *MONTH_ENDS)
READINGS_FROM = ist(2024, 10, 25)  # well before the first month: it always opens between two readings
READINGS_UNTIL = MONTH_ENDS[-1] + timedelta(days=12)  # past the last possible run
REGISTERED_AT = ist(2024, 10, 1)
MINUTE = timedelta(minutes=1)
DAY = timedelta(days=1)
WINDOW = timedelta(hours=2)  # the sparse schedule reports on the period this close to a month's edge
MONGO_BATCH = 100  # readings per write: the Mongo wire server of the tests slows down on large batches
MAX_RETRIES = 8
KWH = Decimal("0.001")


@pytest.fixture(params=["sql", pytest.param("mongo", marks=pytest.mark.mongo)])
def store(request, db, settings):
    if request.param == "sql":
        settings.MONGODB_URI = ""
        assert isinstance(get_store(), SqlReadingStore)
        return get_store()
    return request.getfixturevalue("mongo_store")


# --- The meter -------------------------------------------------------------------


@dataclass(frozen=True)
class Outage:
    start: datetime
    length: timedelta

    def covers(self, at: datetime) -> bool:
        return self.start <= at < self.start + self.length


@dataclass(frozen=True)
class Scenario:
    period: int  # minutes between readings
    offset: int  # minutes past READINGS_FROM of the first reading
    sparse: int | None  # off the month edges, report only every `sparse` minutes (None: always on the period)
    seed: int  # the register's increments
    max_quarter_kwh: Decimal  # the most the register rises in 15 minutes
    start_register: Decimal
    outages: tuple[Outage, ...]
    runs: tuple[tuple[timedelta | None, timedelta], ...]  # per month: (early run, run) after its end

    def reported(self) -> list[tuple[datetime, Decimal]]:
        """(instant, register) of every reading the meter sends, in time order."""
        rng = random.Random(self.seed)
        top = int(self.max_quarter_kwh * 1000 * self.period / 15)
        register = self.start_register
        points = []
        step = timedelta(minutes=self.period)
        at = READINGS_FROM + timedelta(minutes=self.offset)
        index = 0
        while at < READINGS_UNTIL:
            register += Decimal(rng.randint(0, top)) / 1000
            if not any(outage.covers(at) for outage in self.outages) and self._on_schedule(at, index):
                points.append((at, register))
            at += step
            index += 1
        return points

    def _on_schedule(self, at: datetime, index: int) -> bool:
        if self.sparse is None or (index * self.period) % self.sparse == 0:
            return True
        return any(abs(at - edge) <= WINDOW for edge in BOUNDARIES)


@st.composite
def scenarios(draw, *, sparse_choices):
    period = draw(st.sampled_from([5, 15, 60]))
    outages = []
    for _ in range(draw(st.integers(0, 2))):
        edge = draw(st.sampled_from(BOUNDARIES))
        start = edge + draw(st.integers(-5 * 24 * 60, 24 * 60)) * MINUTE
        outages.append(Outage(start=start, length=draw(st.integers(30, 5 * 24 * 60)) * MINUTE))
    runs = []
    for _ in MONTHS:
        delay = draw(st.integers(0, 5 * 24 * 60)) * MINUTE
        early = draw(st.none() | st.integers(0, 24 * 60).map(lambda minutes: minutes * MINUTE))
        runs.append((early if early is not None and early < delay else None, delay))
    return Scenario(
        period=period,
        offset=draw(st.integers(0, period - 1)),
        sparse=draw(st.sampled_from(sparse_choices)),
        seed=draw(st.integers(0, 2**32 - 1)),
        max_quarter_kwh=draw(st.sampled_from([Decimal("0.2"), Decimal("1"), Decimal("3")])),
        start_register=Decimal(draw(st.integers(0, 50_000_000))) / 1000,
        outages=tuple(outages),
        runs=tuple(runs),
    )


def register_at(points: list[tuple[datetime, Decimal]], at: datetime) -> Decimal:
    """The register at ``at``, interpolated between the readings either side as the consumption rule does."""
    times = [instant for instant, _ in points]
    after = bisect_left(times, at)
    if after < len(points) and points[after][0] == at:
        return points[after][1]
    assert 0 < after < len(points), f"no readings either side of {at}"
    return register_between(RegisterPoint(*points[after - 1]), RegisterPoint(*points[after]), at)


# --- Living through the months ---------------------------------------------------


class Meter:
    """A new meter whose readings reach the store as time passes."""

    def __init__(self, points: list[tuple[datetime, Decimal]], *, batch: int = 50_000) -> None:
        device = DeviceFactory(sanctioned_load_kw=Decimal("50"))
        Device.objects.filter(pk=device.pk).update(created_at=REGISTERED_AT)
        self.device_id = device.device_id
        self.points = points
        self.written = 0
        self.batch = batch

    def arrive_until(self, instant: datetime) -> None:
        """Write every reading stamped before ``instant`` not written yet."""
        upto = bisect_left([at for at, _ in self.points], instant)
        while self.written < upto:
            batch = self.points[self.written : min(upto, self.written + self.batch)]
            write_registers(self.device_id, batch)
            self.written += len(batch)

    def run(self, month: date, now: datetime) -> Invoice | None:
        self.arrive_until(now)
        billing_run(month=month, device_id=self.device_id, now=now)
        return Invoice.objects.filter(device__device_id=self.device_id, month=month).first()

    def invoices(self) -> list[Invoice]:
        return list(Invoice.objects.filter(device__device_id=self.device_id).order_by("month"))


def live_through(scenario: Scenario, meter: Meter) -> list[str]:
    """Run every month as the schedule says; the instants of the runs, for the report."""
    log = []
    for month, end, (early, delay) in zip(MONTHS, MONTH_ENDS, scenario.runs, strict=True):
        instants = ([end + early] if early is not None else []) + [end + delay]
        instants += [end + delay + DAY * n for n in range(1, MAX_RETRIES + 1)]
        for now in instants:
            invoice = meter.run(month, now)
            log.append(
                f"{month:%Y-%m} run at {now.astimezone(end.tzinfo):%m-%d %H:%M}: {'billed' if invoice else 'awaits'}"
            )
            if invoice is not None and now >= end + delay:
                break
        assert invoice is not None, f"{month:%Y-%m} never billed: {log}"
    return log


def describe(invoices: list[Invoice]) -> str:
    return "; ".join(
        f"{invoice.month:%Y-%m}{' (estimate)' if invoice.estimated else ''}: {invoice.start_register} -> "
        f"{invoice.end_register} energy {invoice.energy_kwh} adjustment {invoice.adjustment_kwh} "
        f"closing {invoice.closing_at}"
        for invoice in invoices
    )


def assert_continuous(invoices: list[Invoice], points: list[tuple[datetime, Decimal]], opening: datetime) -> None:
    """Each month opens where the last closed, and the bills add up to the register delta."""
    details = describe(invoices)
    for earlier, later in zip(invoices, invoices[1:], strict=False):
        if not earlier.estimated:
            assert earlier.end_register == later.start_register, details
    actual = [index for index, invoice in enumerate(invoices) if not invoice.estimated]
    for index in actual:
        assert invoices[index].closing_at == BOUNDARIES[index + 1], details
    if not actual:
        note("every month estimated: no closing register to compare with")
        return
    billed = invoices[: actual[-1] + 1]
    total = sum((invoice.energy_kwh + invoice.adjustment_kwh for invoice in billed), Decimal(0))
    expected = register_at(points, billed[-1].closing_at) - register_at(points, opening)
    assert abs(total - expected) <= KWH * len(billed), (
        f"billed {total} kWh, the register rose {expected.quantize(KWH)} kWh from {opening} to "
        f"{billed[-1].closing_at}: {details}"
    )


# --- The property ---------------------------------------------------------------


def test_consecutive_invoices_add_up_to_the_register_delta(store, seed_tariff):
    sql = isinstance(store, SqlReadingStore)

    @hypothesis_settings(
        max_examples=20 if sql else 10,
        deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )
    @given(scenarios(sparse_choices=[None] if sql else [1440]))
    def check(scenario: Scenario) -> None:
        _forget_readings(store)
        points = scenario.reported()
        meter = Meter(points) if sql else Meter(points, batch=MONGO_BATCH)
        log = live_through(scenario, meter)
        note("\n".join(log))
        invoices = meter.invoices()
        note(describe(invoices))
        event(f"estimated months: {sum(invoice.estimated for invoice in invoices)}")
        event(f"runs that found a month awaiting: {sum('awaits' in line for line in log)}")
        assert [invoice.month for invoice in invoices] == list(MONTHS)
        assert_continuous(invoices, points, opening=BOUNDARIES[0])

    check()


def _forget_readings(store) -> None:
    """Each example's meter is new; the earlier ones' readings only slow the store down."""
    if isinstance(store, SqlReadingStore):
        SqlReading.objects.all().delete()
    else:
        from readings.stores.mongo import MongoReading

        MongoReading.objects.delete()


# --- The leaks measured before months opened where the last one closed ----------


def quarter_hourly(start: datetime, until: datetime, *, offline: tuple[datetime, datetime] | None = None):
    """A meter reporting every 15 minutes at :07/:22/:37/:52, its register rising 0.3-0.9 kWh a step."""
    points = []
    at = start.replace(minute=7)
    register = Decimal("4821.250")
    step = 0
    while at < until:
        register += Decimal("0.300") + Decimal(step % 7) * Decimal("0.100")
        if offline is None or not offline[0] <= at < offline[1]:
            points.append((at, register))
        at += timedelta(minutes=15)
        step += 1
    return points


JANUARY, FEBRUARY = date(2025, 1, 1), date(2025, 2, 1)


@pytest.fixture
def sql_store(db, settings):
    """Two months of quarter-hourly readings: the SQL store only (the Mongo wire server of the tests is too slow)."""
    settings.MONGODB_URI = ""
    return get_store()


def test_a_run_just_after_midnight_waits_for_the_first_reading_of_the_month(sql_store, seed_tariff):
    """Billed at 00:05 on the 1st, the meter's 23:52 reading is its latest: the month waits
    for the 00:07 one, and January + February add up to the register delta to the kWh."""
    points = quarter_hourly(ist(2024, 12, 31, 20), ist(2025, 3, 1, 3))
    meter = Meter(points)

    assert meter.run(JANUARY, ist(2025, 2, 1, 0, 5)) is None
    january = meter.run(JANUARY, ist(2025, 2, 1, 1, 5))
    assert meter.run(FEBRUARY, ist(2025, 3, 1, 0, 5)) is None
    february = meter.run(FEBRUARY, ist(2025, 3, 1, 1, 5))

    assert january.closing_at == ist(2025, 2, 1)
    assert january.end_register == register_at(points, ist(2025, 2, 1)).quantize(KWH)
    assert february.start_register == january.end_register
    assert not january.estimated
    assert not february.estimated
    expected = register_at(points, ist(2025, 3, 1)) - register_at(points, ist(2025, 1, 1))
    assert abs(january.energy_kwh + february.energy_kwh - expected) <= 2 * KWH


def test_a_meter_offline_across_the_month_end_is_billed_on_the_first_reading_back(sql_store, seed_tariff):
    """Offline from 28 Jan 12:00 to 2 Feb 12:00: January waits, then is billed (not
    estimated) once the 2 Feb reading arrives within the grace period, closing at
    the month's end on the register interpolated across the gap; nothing is lost."""
    offline = (ist(2025, 1, 28, 12), ist(2025, 2, 2, 12))
    points = quarter_hourly(ist(2024, 12, 31, 20), ist(2025, 3, 1, 3), offline=offline)
    meter = Meter(points)

    assert meter.run(JANUARY, ist(2025, 2, 1, 0, 5)) is None
    assert meter.run(JANUARY, ist(2025, 2, 2, 0, 5)) is None
    january = meter.run(JANUARY, ist(2025, 2, 2, 12, 30))
    assert ist(2025, 2, 2, 12, 30) < ist(2025, 2, 1) + django_settings.BILLING_CLOSING_READ_GRACE
    february = meter.run(FEBRUARY, ist(2025, 3, 1, 1, 5))

    assert not january.estimated
    assert january.closing_at == ist(2025, 2, 1)
    assert january.end_register == register_at(points, ist(2025, 2, 1)).quantize(KWH)
    assert february.start_register == january.end_register
    expected = register_at(points, ist(2025, 3, 1)) - register_at(points, ist(2025, 1, 1))
    assert abs(january.energy_kwh + february.energy_kwh - expected) <= 2 * KWH
