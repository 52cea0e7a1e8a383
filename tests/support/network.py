"""Running servers of our own (Mosquitto, PostgreSQL, daphne, SMTP) in tests and benchmarks:
a port to listen on, whether something listens on one, and waiting for something to happen.
Standard library only: bench/ scripts import it before Django is set up."""

import random
import socket
import time
from pathlib import Path


def _ephemeral_ports() -> range:
    """The range the kernel hands out to outgoing connections (Linux; a common default elsewhere)."""
    try:
        low, high = (int(part) for part in Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split())
    except (OSError, ValueError):
        low, high = 32768, 60999
    return range(low, high + 1)


_handed_out: set[int] = set()


def free_port() -> int:
    """A port free now and outside the ephemeral range, never handed out twice by this process.

    Asking the kernel for port 0 returns an ephemeral port, which any outgoing connection
    (a database client, an MQTT publisher) may take before the server binds it; the server
    then fails with "Address already in use". Ports below that range are only ever taken
    by listeners.
    """
    ephemeral = _ephemeral_ports()
    candidates = [port for port in range(20000, 30000) if port not in ephemeral and port not in _handed_out]
    for port in random.sample(candidates, len(candidates)):
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
        _handed_out.add(port)
        return port
    raise RuntimeError("no free port between 20000 and 30000")


def port_open(host: str, port: int, timeout: float = 0.5) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def wait_until(condition, *, timeout: float, interval: float = 0.1, message: str = "condition"):
    """Poll ``condition`` until it returns something true (returned), or raise TimeoutError naming ``message``."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout:.0f} s waiting for {message}")
        time.sleep(interval)
