"""Rows of the readings app. Readings themselves go through the readings store
(tests/support/readings.py), which is the only way the product writes them."""

import factory
from django.utils import timezone
from factory.django import DjangoModelFactory

from readings.models import DeadLetter


class DeadLetterFactory(DjangoModelFactory):
    topic = factory.LazyAttribute(lambda letter: f"smartmeter/{letter.device_id or 'unknown'}/telemetry")
    device_id = ""
    reason = "not_json"
    received_at = factory.LazyFunction(timezone.now)

    class Meta:
        model = DeadLetter
