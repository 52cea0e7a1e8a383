# ruff: noqa: F811 - pytest fixtures imported from ingest_helpers are redefined as arguments
"""Bills from telemetry, end to end: readings published to a real Mosquitto, stored by
`manage.py mqtt_consumer`, billed by the billing run at the instants the schedule would run it.

Every case of docs/billing.md's rules goes through the whole path: a glitch and a spike left
out, a month that waits for its closing read and then adds up with the next one, an estimate
trued up by the next actual read, a second register at one instant refused, a meter exchange
and a tariff change mid-month. The consumer and the runs share one database: a SQLite file in
the SQLite pass, the test database in the PostgreSQL pass.
"""

import json
import subprocess
from datetime import datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from django.db import connection

from billing.calculation import BillPart, calculate_bill, calculate_split_bill, day_share, validate_tariff
from readings.models import DeadLetter
from readings.stores import get_store
from tests.factories.billing import SEED_SLABS
from tests.readings.ingest_helpers import (  # noqa: F401 - fixtures
    BASE_DIR,
    PYTHON,
    consumers,
    ingest_db,
    ingest_db_template,
    mqtt_broker,
    process_env,
    publisher_for,
    sqlite_scalar,
    telemetry,
)
from tests.support.network import wait_until

pytestmark = [pytest.mark.broker, pytest.mark.django_db(transaction=True)]

IST = ZoneInfo("Asia/Kolkata")
DEARER = [
    {"range_start": 0, "range_end": 100, "rate": "4.00"},
    {"range_start": 101, "range_end": 300, "rate": "5.00"},
    {"range_start": 301, "range_end": None, "rate": "7.00"},
]


def ist(*args) -> datetime:
    return datetime(*args, tzinfo=IST)


METERS = ["bill-glitch", "bill-spike", "bill-late", "bill-silent", "bill-twice", "bill-old", "bill-split", "bill-wrap"]

SEED = f"""
from datetime import date, datetime
from decimal import Decimal
from zoneinfo import ZoneInfo
from accounts.models import User
from billing.services import tariff_create
from devices.models import Device
from devices.services import device_exchange
IST = ZoneInfo("Asia/Kolkata")
Device.objects.all().delete()  # the SQLite file's template meters: only this test's meters are billed
owner = User.objects.create_user(email="bills-e2e@example.com", password="bills-e2e-pass-1", name="Bills")
for device_id in {METERS!r}:
    Device.objects.create(device_id=device_id, owner=owner, location="Bengaluru")
Device.objects.update(created_at=datetime(2024, 11, 1, tzinfo=IST))
Device.objects.filter(device_id="bill-split").update(created_at=datetime(2025, 3, 1, tzinfo=IST))
Device.objects.filter(device_id="bill-wrap").update(register_digits=6)
tariff_create(slabs={SEED_SLABS!r}, fixed_charge="50.00", tax_rate="0.18", effective_from=date(2020, 1, 1))
tariff_create(slabs={DEARER!r}, fixed_charge="62.00", tax_rate="0.18", effective_from=date(2025, 3, 15))
device_exchange(
    old_device=Device.objects.get(device_id="bill-old"),
    new_device_id="bill-new",
    old_final_register=Decimal("12410.500"),
    new_initial_register=Decimal("0.100"),
    exchanged_at=datetime(2025, 1, 16, 10, tzinfo=IST),
    actor=None,
)
"""

RUN = """
import json
from datetime import datetime
from billing.months import parse_month
from billing.services import billing_run
run = billing_run(month=parse_month({month!r}), now=datetime.fromisoformat({now!r}), actor="schedule").run
print(json.dumps({{"billed": run.billed, "held": run.held, "estimated": run.estimated, "awaiting": run.awaiting}}))
"""

REPORT = """
import json
from billing.models import Invoice
from readings.models import DeadLetter
invoices = {
    f"{invoice.device.device_id} {invoice.month:%Y-%m}": {
        "status": invoice.status,
        "energy": str(invoice.energy_kwh),
        "total": str(invoice.total),
        "start": str(invoice.start_register),
        "end": str(invoice.end_register),
        "estimated": invoice.estimated,
        "adjustment_kwh": str(invoice.adjustment_kwh),
        "adjustment_amount": str(invoice.adjustment_amount),
        "excluded": [row["register"] for row in invoice.excluded_readings],
        "held_reasons": invoice.held_reasons,
        "parts": [part["energy_kwh"] for part in invoice.parts],
        "emailed": invoice.emailed_at is not None,
    }
    for invoice in Invoice.objects.select_related("device")
}
dead = sorted((letter.device_id, letter.reason) for letter in DeadLetter.objects.all())
print(json.dumps({"invoices": invoices, "dead": dead}))
"""


class Site:
    """The shared database, the broker and the consumer, driven as the product's processes are."""

    def __init__(self, *, database, broker, consumer, tmp_path):
        self.database, self.broker, self.consumer = database, broker, consumer
        self.env = process_env(
            database=database,
            metrics_dir=tmp_path / "metrics",
            EMAIL_URL="memorymail://",
            MEDIA_ROOT=str(tmp_path / "media"),
        )
        self.published = 0

    def manage(self, script: str) -> dict | None:
        done = subprocess.run(
            [PYTHON, "manage.py", "shell", "-c", script],
            cwd=BASE_DIR,
            env=self.env,
            capture_output=True,
            text=True,
            check=False,
        )
        assert done.returncode == 0, done.stderr[-3000:]
        lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
        return json.loads(lines[-1]) if lines else None

    def publish(self, readings: list[tuple[str, datetime, float]]) -> None:
        publisher = publisher_for(self.broker.url)
        try:
            for device_id, when, register in readings:
                publisher.publish(f"smartmeter/{device_id}/telemetry", telemetry(when, register))
            assert publisher.flush(timeout=30)
        finally:
            publisher.close()
        self.published += len(readings)
        expected = self.published
        wait_until(
            lambda: self.handled() == expected, timeout=30, message=f"{expected} messages stored or dead-lettered"
        )

    def handled(self) -> int:
        """Readings stored plus messages refused, as the consumer has committed them."""
        if connection.vendor == "sqlite":
            return sqlite_scalar(self.database, "SELECT COUNT(*) FROM readings_reading") + sqlite_scalar(
                self.database, "SELECT COUNT(*) FROM readings_deadletter"
            )
        return get_store().count() + DeadLetter.objects.count()

    def bill(self, month: str, now: datetime) -> dict:
        return self.manage(RUN.format(month=month, now=now.isoformat()))

    def report(self) -> dict:
        return self.manage(REPORT)


def _database_url(ingest_db):
    """The SQLite file (a path) in the SQLite pass, the test database's URL in the PostgreSQL pass."""
    if connection.vendor == "sqlite":
        return ingest_db
    settings = connection.settings_dict
    password = f":{settings['PASSWORD']}" if settings["PASSWORD"] else ""
    return f"postgres://{settings['USER']}{password}@{settings['HOST']}:{settings['PORT'] or 5432}/{settings['NAME']}"


@pytest.fixture
def site(ingest_db, mqtt_broker, consumers, tmp_path):
    database = _database_url(ingest_db)
    consumer = consumers(database=database, broker_url=mqtt_broker.url, INGEST_BACKFILL_DAYS="3650")
    site = Site(database=database, broker=mqtt_broker, consumer=consumer, tmp_path=tmp_path)
    site.manage(SEED)
    consumer.start().wait_subscribed()
    return site


def seed_bill(energy: str):
    return calculate_bill(Decimal(energy), _terms(SEED_SLABS, "50.00"))


def test_bills_from_published_telemetry_follow_every_rule(site):
    # --- January's readings, as they arrive by 1 February 00:05 -----------------
    site.publish(
        [
            # A glitch (0) and a spike (99999) that return to the trend: never billed.
            *[("bill-glitch", when, value) for when, value in GLITCH],
            *[("bill-spike", when, value if value else 99999.0) for when, value in GLITCH],
            # A six-digit register rolling over: the wrap counts, the part before it too.
            ("bill-wrap", ist(2025, 1, 1), 999900.0),
            ("bill-wrap", ist(2025, 1, 20), 999999.5),
            ("bill-wrap", ist(2025, 1, 25), 0.4),
            ("bill-wrap", ist(2025, 2, 1), 50.0),
            # A 15-minute meter at :07/:22/:37/:52: the 00:07 closing read is not in yet.
            ("bill-late", ist(2024, 12, 31, 23, 52), 1000.0),
            ("bill-late", ist(2025, 1, 1, 0, 7), 1000.3),
            ("bill-late", ist(2025, 1, 31, 23, 52), 1250.0),
            # Silent from 10 January to 10 February: estimated, then trued up.
            ("bill-silent", ist(2024, 12, 1), 1700.0),
            ("bill-silent", ist(2025, 1, 10), 2090.0),
            # Two registers at one instant: the second is refused, whichever it is.
            ("bill-twice", ist(2025, 1, 1), 10.0),
            ("bill-twice", ist(2025, 2, 1), 100.0),
            ("bill-twice", ist(2025, 2, 1), 105.0),  # arrives second: refused
            # The exchanged meter: its own readings, then one after the exchange (refused).
            ("bill-old", ist(2024, 12, 31, 23), 12339.0),
            ("bill-old", ist(2025, 1, 1, 1), 12341.0),
            ("bill-old", ist(2025, 1, 16, 9), 12410.4),
            ("bill-old", ist(2025, 1, 16, 11), 12410.6),
            ("bill-new", ist(2025, 1, 16, 11), 0.6),
            ("bill-new", ist(2025, 2, 1), 80.1),
        ]
    )
    assert site.bill("2025-01", ist(2025, 2, 1, 0, 5)) == {"billed": 2, "held": 3, "estimated": 0, "awaiting": 2}

    # The 00:07 reading arrives; the 01:05 run closes January on it.
    site.publish([("bill-late", ist(2025, 2, 1, 0, 7), 1250.3)])
    assert site.bill("2025-01", ist(2025, 2, 1, 1, 5)) == {"billed": 1, "held": 0, "estimated": 0, "awaiting": 1}
    # After the 72-hour grace period the silent meter is estimated.
    assert site.bill("2025-01", ist(2025, 2, 4, 0, 5)) == {"billed": 1, "held": 0, "estimated": 1, "awaiting": 0}

    # --- February: the late meter again, the silent one back ----------------------
    site.publish(
        [
            ("bill-late", ist(2025, 2, 28, 23, 52), 1400.0),
            ("bill-late", ist(2025, 3, 1, 0, 7), 1400.3),
            ("bill-silent", ist(2025, 2, 10), 2400.0),
            ("bill-silent", ist(2025, 3, 1), 2600.0),
        ]
    )
    site.bill("2025-02", ist(2025, 3, 1, 1, 5))

    # --- March: a tariff version from the 15th splits the month -------------------
    site.publish(
        [
            ("bill-split", ist(2025, 3, 1), 100.0),
            ("bill-split", ist(2025, 3, 15), 240.0),
            ("bill-split", ist(2025, 4, 1), 410.0),
        ]
    )
    site.bill("2025-03", ist(2025, 4, 1, 0, 5))

    report = site.report()
    invoices = report["invoices"]

    # Glitch and spike: 100.000 kWh billed, the bad reading kept and left out, held for review.
    for meter, bad in (("bill-glitch", "0.000"), ("bill-spike", "99999.000")):
        bill = invoices[f"{meter} 2025-01"]
        assert (bill["energy"], bill["status"], bill["emailed"]) == ("100.000", "held", False)
        assert [Decimal(value) for value in bill["excluded"]] == [Decimal(bad)]
        assert bill["total"] == str(seed_bill("100").total)

    # The rollover: 99.5 kWh up to 999999.5, 0.9 across the wrap, 49.6 after; held to be looked at.
    wrap = invoices["bill-wrap 2025-01"]
    assert (wrap["energy"], wrap["status"]) == ("150.000", "held")
    assert wrap["held_reasons"] == ["the register rolled over once"]

    # The late meter: January closed at midnight's register (8/15 of the 23:52-00:07 step),
    # February opened exactly there; together they are the register delta, nothing lost.
    january, february = invoices["bill-late 2025-01"], invoices["bill-late 2025-02"]
    assert (january["start"], january["end"], january["energy"]) == ("1000.160", "1250.160", "250.000")
    assert (february["start"], february["energy"]) == ("1250.160", "150.000")
    assert Decimal(january["energy"]) + Decimal(february["energy"]) == Decimal("1400.160") - Decimal("1000.160")

    # The silent meter: estimated at its average (390 kWh over 40 days: 9.75 a day × 31),
    # then February's actual read corrects January to what the registers show now.
    estimate, actual = invoices["bill-silent 2025-01"], invoices["bill-silent 2025-02"]
    assert (estimate["estimated"], estimate["energy"]) == (True, "302.250")
    assert (actual["estimated"], actual["adjustment_kwh"]) == (False, "5.500")  # 307.750 actual - 302.250
    assert actual["energy"] == "290.000"  # 2310.000 at 1 February (interpolated) to 2600.000

    # Two registers at one instant: the first stored stands, the second is a dead letter.
    assert invoices["bill-twice 2025-01"]["energy"] == "90.000"
    assert ["bill-twice", "conflicting_reading"] in report["dead"]

    # The exchange: one bill on the new meter across both registers; the old meter's
    # reading after the exchange refused.
    assert "bill-old 2025-01" not in invoices
    assert invoices["bill-new 2025-01"]["energy"] == "150.500"
    assert ["bill-old", "meter_exchanged"] in report["dead"]

    # March split on the 15th: 140 kWh at the old rates, 170 at the new, each scaled by its days.
    split = invoices["bill-split 2025-03"]
    assert split["parts"] == ["140.000", "170.000"]
    whole, _ = calculate_split_bill(
        [
            BillPart(Decimal(140), _terms(SEED_SLABS, "50.00"), day_share(14, 31), day_share(14, 31)),
            BillPart(Decimal(170), _terms(DEARER, "62.00"), day_share(17, 31), day_share(17, 31)),
        ]
    )
    assert split["total"] == str(whole.total)


GLITCH = [
    (ist(2025, 1, 1), 10000.0),
    (ist(2025, 1, 10), 10050.0),
    (ist(2025, 1, 15), 0.0),
    (ist(2025, 1, 20), 10050.2),
    (ist(2025, 2, 1), 10100.0),
    (ist(2025, 2, 1, 1), 10100.5),
]


def _terms(slabs, fixed):
    return validate_tariff(slabs=slabs, fixed_charge=fixed, tax_rate="0.18")
