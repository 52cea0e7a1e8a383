"""Staff see what could not be stored, filter it by reason, search it, and cannot alter it."""

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from readings.ingestion.batch import readings_ingest_batch
from readings.ingestion.messages import TelemetryMessage
from tests.factories import DeadLetterFactory, DeviceFactory
from tests.readings.ingest_helpers import telemetry


@pytest.fixture
def dead_letters(db):
    now = timezone.now()
    return [
        DeadLetterFactory(
            topic="smartmeter/meter-007/telemetry",
            device_id="meter-007",
            reason="out_of_range",
            detail="voltage 9000 is outside 0..500 V",
            payload_excerpt='{"voltage": 9000}',
            payload_size=17,
            received_at=now,
        ),
        DeadLetterFactory(
            topic="smartmeter/ghost/telemetry",
            device_id="ghost",
            reason="unknown_device",
            detail="meter 'ghost' is not registered",
            payload_excerpt="{}",
            payload_size=2,
            received_at=now,
        ),
    ]


def test_the_list_filters_by_reason_and_searches_meter_ids(staff_client, dead_letters):
    url = reverse("admin:readings_deadletter_changelist")
    page = staff_client.get(url, {"reason": "out_of_range"})
    assert page.status_code == 200
    assert b"meter-007" in page.content
    assert b"smartmeter/ghost/telemetry" not in page.content

    found = staff_client.get(url, {"q": "ghost"})
    assert b"smartmeter/ghost/telemetry" in found.content
    assert b"smartmeter/meter-007/telemetry" not in found.content


def test_a_dead_letter_shows_its_payload_and_cannot_be_changed_or_added(staff_client, dead_letters):
    letter = dead_letters[0]
    url = reverse("admin:readings_deadletter_change", args=[letter.pk])
    page = staff_client.get(url)
    assert page.status_code == 200
    assert b"{&quot;voltage&quot;: 9000}" in page.content
    assert b'name="_save"' not in page.content

    staff_client.post(url, {"reason": "tampered", "detail": "x"})
    letter.refresh_from_db()
    assert letter.reason == "out_of_range"
    assert staff_client.get(reverse("admin:readings_deadletter_add")).status_code == 403


def test_customers_cannot_see_dead_letters(client, customer, dead_letters):
    client.force_login(customer)
    response = client.get(reverse("admin:readings_deadletter_changelist"))
    assert response.status_code == 302


def test_a_refused_second_register_shows_its_reason_and_detail(staff_client, customer):
    DeviceFactory(device_id="meter-042", owner=customer)
    at = timezone.now().replace(microsecond=0) - timedelta(minutes=1)
    readings_ingest_batch(
        messages=[
            TelemetryMessage("smartmeter/meter-042/telemetry", telemetry(at, 100.0), timezone.now()),
            TelemetryMessage("smartmeter/meter-042/telemetry", telemetry(at, 105.0), timezone.now()),
        ]
    )

    page = staff_client.get(reverse("admin:readings_deadletter_changelist"), {"reason": "conflicting_reading"})

    assert page.status_code == 200
    assert b"conflicting_reading" in page.content
    assert b"meter-042" in page.content
    assert b"already stored with register 100.000 kWh; this one says 105.000" in page.content
