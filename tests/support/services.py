"""Tests use real services. A missing one skips its tests locally and fails them under CI
(SMARTMETER_REQUIRE_SERVICES=1), so a CI machine without a service cannot pass by skipping."""

import os
from typing import NoReturn

import pytest

from tests.support.network import port_open


def services_required() -> bool:
    return os.environ.get("SMARTMETER_REQUIRE_SERVICES") == "1"


def service_missing(message: str) -> NoReturn:
    """Skip the calling test with ``message`` as the reason; under CI, fail it instead."""
    if services_required():
        pytest.fail(f"{message} (SMARTMETER_REQUIRE_SERVICES=1 makes this a failure)")
    pytest.skip(message)


def require_service(name: str, host: str, port: int) -> None:
    """Skip (or, under CI, fail) when a service the test needs is not listening."""
    if not port_open(host, port):
        service_missing(f"{name} is not reachable on {host}:{port}")
