"""Faults and hostile telemetry against real processes, in a slimmer form than
bench/faults.py (whose full-size figures are in docs/reliability.md): a private
PostgreSQL server stopped mid-stream, and generated hostile messages at a running
consumer. Both use processes of their own (PostgreSQL via initdb/pg_ctl in a temporary
directory on a free port, Mosquitto from deploy/mosquitto.conf); the lab and the
scenarios are in tests/support/faults.py."""

import pytest

from devtools.broker import mosquitto_binary
from tests.support import faults
from tests.support.services import service_missing

pytestmark = [pytest.mark.slow, pytest.mark.broker]


@pytest.fixture
def lab():
    if not faults.postgres_available() or mosquitto_binary() is None:
        service_missing("needs PostgreSQL server binaries (initdb, pg_ctl) and mosquitto")
    with faults.Lab() as lab:
        yield lab


def test_database_server_stopped_mid_stream_delays_but_loses_nothing(lab):
    outcome = faults.scenario_db_outage(lab, messages=2000, rate=500, outage_seconds=5)
    assert outcome.stored == outcome.published == 2000, outcome.line()
    assert outcome.duplicates == 0
    assert outcome.notes["stored_at_stop"] < 2000  # the outage really hit mid-stream
    assert outcome.notes["same_consumer_process"] is True  # recovered without help


def test_hostile_telemetry_never_crashes_the_consumer_and_every_message_is_accounted_for(lab):
    outcome = faults.scenario_hostile(lab, messages=1500)
    notes = outcome.notes
    assert notes["consumer_alive"] is True, outcome.line()
    assert outcome.published >= 1200
    # Every message was stored, recognised as a duplicate, or rejected with a named reason.
    assert outcome.stored == outcome.published, outcome.line()
    assert notes["without_reason"] == 0
    assert notes["dead_letter_rows"] == notes["rejected"]
    assert notes["reading_rows"] == notes["stored"]
    assert notes["stored"] >= notes["clean_readings_sent"]  # the clean readings in between all landed
    assert len(notes["reasons"]) >= 5
