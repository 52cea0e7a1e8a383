"""Prometheus metrics shared by the web process, the consumer and the worker.

Every process records into these objects and writes its samples under
PROMETHEUS_MULTIPROC_DIR (settings export it before prometheus_client is imported);
/metrics sums them. The metrics and the multi-process setup: docs/operations.md#get-metrics.
"""

import os
import re
import socket

from prometheus_client import Counter, Gauge, Histogram, values

# The collector splits file names on "_": keep the host part free of it. Worked out
# once: prometheus_client asks for the identifier on every metric update.
_HOST = re.sub(r"[^A-Za-z0-9.-]", "-", socket.gethostname())[:40] or "host"


def _process_identifier() -> str:
    return f"{_HOST}-{os.getpid()}"


if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
    values.ValueClass = values.MultiProcessValue(process_identifier=_process_identifier)

HTTP_REQUESTS = Counter(
    "smartmeter_http_requests_total",
    "HTTP requests answered, by view, method and status.",
    ["view", "method", "status"],
)
HTTP_LATENCY = Histogram(
    "smartmeter_http_request_duration_seconds",
    "Time to answer an HTTP request, by view.",
    ["view", "method"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
HTTP_ERRORS = Counter(
    "smartmeter_http_errors_total", "HTTP responses with a 4xx/5xx status, by view and class.", ["view", "status_class"]
)
RATE_LIMITED = Counter("smartmeter_rate_limited_total", "Requests refused with 429, by scope.", ["scope"])

READINGS_ACCEPTED = Counter("smartmeter_readings_accepted_total", "Telemetry messages stored as readings.")
READINGS_DUPLICATE = Counter(
    "smartmeter_readings_duplicate_total", "Telemetry messages already stored (QoS 1 redelivery)."
)
READINGS_POWER_ONLY = Counter(
    "smartmeter_power_samples_total", "Power messages without a register (shown live, joined, not stored alone)."
)
READINGS_IGNORED = Counter(
    "smartmeter_telemetry_ignored_total", "Well-formed device messages with nothing to store (other components)."
)
READINGS_REJECTED = Counter("smartmeter_readings_rejected_total", "Telemetry messages rejected, by reason.", ["reason"])
INGEST_BATCH_SIZE = Histogram(
    "smartmeter_ingest_batch_size",
    "Messages per stored batch.",
    buckets=(1, 5, 10, 25, 50, 100, 250, 500, 1000, 2500),
)
INGEST_WRITE_SECONDS = Histogram(
    "smartmeter_ingest_write_seconds",
    "Time to durably write one batch of readings.",
    buckets=(0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
INGEST_WRITE_FAILURES = Counter("smartmeter_ingest_write_failures_total", "Batch writes that failed and were retried.")
# "mostrecent": the last value any consumer process wrote wins; a consumer killed
# while connected leaves a stale 1, which is why /metrics also exports the heartbeat
# age (smartmeter_service_heartbeat_age_seconds) read from the database at scrape time.
CONSUMER_CONNECTED = Gauge(
    "smartmeter_consumer_connected",
    "1 while the MQTT consumer is connected to the broker.",
    multiprocess_mode="mostrecent",
)
INVOICES_ISSUED = Counter("smartmeter_invoices_issued_total", "Invoices issued by billing runs.")
TASK_FAILURES = Counter("smartmeter_task_failures_total", "Background tasks that failed, by task.", ["task"])
