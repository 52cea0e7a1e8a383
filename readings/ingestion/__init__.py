"""Telemetry ingestion: broker -> validation -> batch -> readings store -> ack.

See docs/ingestion.md for the pipeline and its guarantees.
"""
