"""Fault injection for ingestion: nothing published is lost, nothing is stored twice, and
the consumer recovers by itself.

Every scenario runs against processes of its own: a private PostgreSQL server (initdb +
pg_ctl into a temporary directory, on a free port — the machine's shared server is never
touched), a Mosquitto from deploy/mosquitto.conf on a free port with persistence, and
`manage.py mqtt_consumer` subprocesses. Each prints messages published vs stored, rows
that are duplicates, and how long recovery took.

    .venv/bin/python bench/faults.py                      # all four scenarios
    .venv/bin/python bench/faults.py --scenario db-outage --outage-seconds 30
    .venv/bin/python bench/faults.py --scenario offline --offline-messages 50000

Scenarios:
    sigkill         consumer SIGKILLed mid-batch while meters publish, then restarted
    db-outage       the database server stopped (pg_ctl stop -m fast) for N s mid-stream, then started
    broker-restart  broker stopped and started with messages queued for the consumer's session
    offline         consumer offline while N messages are published, then started (drain rate)
    hostile         N generated hostile messages (hypothesis) at a running consumer: it stays up and
                    every message is stored or rejected with a reason

The lab and the scenarios are in tests/support/faults.py (tests/ops/test_faults.py runs two of
them small). Figures from a run are recorded in docs/reliability.md.
"""

import argparse
import json
import os
import signal
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "smartmeter.settings")
os.environ.setdefault("PROMETHEUS_MULTIPROC_DIR", "")

import django  # noqa: E402

django.setup()

from devtools.broker import mosquitto_binary  # noqa: E402
from tests.support.faults import (  # noqa: E402 - the lab lives with the tests, which run it small
    Lab,
    postgres_available,
    scenario_broker_restart,
    scenario_db_outage,
    scenario_hostile,
    scenario_offline,
    scenario_sigkill,
)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--scenario", choices=["all", "sigkill", "db-outage", "broker-restart", "offline", "hostile"], default="all"
    )
    parser.add_argument("--messages", type=int, default=20000, help="messages for sigkill/db-outage/broker-restart")
    parser.add_argument("--rate", type=float, default=1000.0, help="publish rate (msg/s) during sigkill/db-outage")
    parser.add_argument("--outage-seconds", type=float, default=30.0)
    parser.add_argument("--offline-messages", type=int, default=50000)
    parser.add_argument("--hostile-messages", type=int, default=10000)
    parser.add_argument("--keep", action="store_true", help="keep the lab directory (logs) afterwards")
    options = parser.parse_args(argv)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # tear the lab down on SIGTERM too
    if not postgres_available() or mosquitto_binary() is None:
        print("needs PostgreSQL server binaries (initdb, pg_ctl) and mosquitto", file=sys.stderr)
        return 2

    everything = ["sigkill", "db-outage", "broker-restart", "offline", "hostile"]
    chosen = everything if options.scenario == "all" else [options.scenario]
    outcomes = []
    for name in chosen:
        with Lab(keep=options.keep) as lab:
            print(f"--- {name} (lab in {lab.root})", flush=True)
            if name == "sigkill":
                outcome = scenario_sigkill(lab, messages=options.messages, rate=options.rate)
            elif name == "db-outage":
                outcome = scenario_db_outage(
                    lab, messages=options.messages, rate=options.rate, outage_seconds=options.outage_seconds
                )
            elif name == "broker-restart":
                outcome = scenario_broker_restart(lab, messages=options.messages)
            elif name == "offline":
                outcome = scenario_offline(lab, messages=options.offline_messages)
            else:
                outcome = scenario_hostile(lab, messages=options.hostile_messages)
            print(outcome.line(), flush=True)
            outcomes.append(outcome)
    print("\nscenario        published  stored  duplicates  recovery_s  notes")
    for outcome in outcomes:
        print(
            f"{outcome.scenario:15s} {outcome.published:9d} {outcome.stored:7d} {outcome.duplicates:11d} "
            f"{outcome.recovery_seconds:11.1f}  {json.dumps(outcome.notes)}"
        )
    return 0 if all(outcome.ok for outcome in outcomes) else 1


if __name__ == "__main__":
    sys.exit(main())
