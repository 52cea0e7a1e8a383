"""Prometheus metrics shared by the web process, the consumer and the worker.

Every process records into these objects; /metrics exposes them (ops owns the
exposition and the cross-process collection).
"""

from prometheus_client import Counter, Gauge, Histogram

READINGS_ACCEPTED = Counter("smartmeter_readings_accepted_total", "Telemetry messages stored as readings.")
READINGS_DUPLICATE = Counter(
    "smartmeter_readings_duplicate_total", "Telemetry messages already stored (QoS 1 redelivery)."
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
CONSUMER_CONNECTED = Gauge(
    "smartmeter_consumer_connected", "1 while the MQTT consumer is connected to the broker.", multiprocess_mode="max"
)
INVOICES_ISSUED = Counter("smartmeter_invoices_issued_total", "Invoices issued by billing runs.")
TASK_FAILURES = Counter("smartmeter_task_failures_total", "Background tasks that failed, by task.", ["task"])
