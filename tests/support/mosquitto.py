"""Running a Mosquitto of a test's own: start it on a config, wait until it listens, stop it."""

from __future__ import annotations

import subprocess
from pathlib import Path

from tests.support.network import port_open, wait_until


def mosquitto_start(binary: str, config: Path, *, directory: Path, host: str, port: int) -> subprocess.Popen:
    """Mosquitto on `config`, logging to `directory`/mosquitto.log; returns once it listens."""
    log_path = directory / "mosquitto.log"
    with log_path.open("ab") as log:
        process = subprocess.Popen([binary, "-c", str(config)], stdout=log, stderr=subprocess.STDOUT)

    def listening() -> bool:
        if process.poll() is not None:
            raise AssertionError(f"mosquitto exited: {log_path.read_text()[-2000:]}")
        return port_open(host, port, timeout=0.2)

    wait_until(listening, timeout=10, interval=0.05, message="mosquitto to listen")
    return process


def mosquitto_stop(process: subprocess.Popen | None, *, wait: float = 10) -> None:
    """SIGTERM (Mosquitto then writes its persistence file); SIGKILL if it does not exit in `wait` s."""
    if process is None or process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(wait)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(5)
