"""Faults and hostile telemetry against real processes, in a slimmer form than
bench/faults.py (whose full-size figures are in docs/reliability.md): a private
PostgreSQL server stopped mid-stream, and generated hostile messages at a running
consumer. Both use processes of their own (PostgreSQL via initdb/pg_ctl in a temporary
directory on a free port, Mosquitto from deploy/mosquitto.conf)."""

import importlib.util
import sys
from pathlib import Path

import pytest

from tests.conftest import REQUIRE_SERVICES

pytestmark = [pytest.mark.slow, pytest.mark.broker]

ROOT = Path(__file__).resolve().parents[2]


def _load_bench():
    spec = importlib.util.spec_from_file_location("bench_faults", ROOT / "bench" / "faults.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def bench():
    return _load_bench()


@pytest.fixture
def lab(bench):
    if not bench.postgres_available() or bench.mosquitto_binary() is None:
        message = "needs PostgreSQL server binaries (initdb, pg_ctl) and mosquitto"
        if REQUIRE_SERVICES:
            pytest.fail(message)
        pytest.skip(message)
    with bench.Lab() as lab:
        yield lab


def test_database_server_stopped_mid_stream_delays_but_loses_nothing(bench, lab):
    outcome = bench.scenario_db_outage(lab, messages=2000, rate=500, outage_seconds=5)
    assert outcome.stored == outcome.published == 2000, outcome.line()
    assert outcome.duplicates == 0
    assert outcome.notes["stored_at_stop"] < 2000  # the outage really hit mid-stream
    assert outcome.notes["same_consumer_process"] is True  # recovered without help


def test_hostile_telemetry_never_crashes_the_consumer_and_every_message_is_accounted_for(bench, lab):
    outcome = bench.scenario_hostile(lab, messages=1500)
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
