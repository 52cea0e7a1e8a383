"""daphne serving the project in a process of its own, as `make run` does: for end-to-end tests
that need real sockets (the browser tests, hostile input through the real server)."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from tests.support.network import free_port, port_open

ROOT = Path(__file__).resolve().parents[2]


class LiveServer:
    """daphne serving the project, as `make run` does, on a free port and a throwaway database."""

    def __init__(self, workdir: Path):
        self.workdir = workdir
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = workdir / "daphne.log"
        self.process = None
        self.env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "smartmeter.settings",
            "DATABASE_URL": f"sqlite:///{workdir / 'e2e.sqlite3'}",
            "MONGODB_URI": "",
            "REDIS_URL": "",
            "DEBUG": "True",
            "ALLOWED_HOSTS": "127.0.0.1,localhost",
            "MQTT_URL": "mqtt://127.0.0.1:1883",
            "MEDIA_ROOT": str(workdir / "media"),
            "EMAIL_URL": "dummymail://",
            "TIME_ZONE": "Asia/Kolkata",
            "PYTHONUNBUFFERED": "1",
            # Limits stay on (the product as deployed), with room for this module's sign-ins.
            "RATELIMIT_LOGIN": "60/m",
        }

    def manage(self, *args: str) -> str:
        result = subprocess.run(
            [sys.executable, "manage.py", *args], cwd=ROOT, env=self.env, capture_output=True, text=True, timeout=120
        )
        assert result.returncode == 0, result.stderr
        return result.stdout

    def seed(self, device_id: str) -> dict:
        result = subprocess.run(
            [sys.executable, "-m", "tests.dashboard.e2e_seed", device_id],
            cwd=ROOT,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert result.returncode == 0, result.stderr
        return json.loads(result.stdout.strip().splitlines()[-1])

    def start(self) -> None:
        daphne = Path(sys.executable).with_name("daphne")
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                [str(daphne), "-b", "127.0.0.1", "-p", str(self.port), "smartmeter.asgi:application"],
                cwd=ROOT,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + 30
        while not port_open("127.0.0.1", self.port, timeout=0.2):
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"daphne did not start:\n{self.log.read_text()[-3000:]}")
            time.sleep(0.1)

    def stop(self) -> None:
        if self.process is None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=5)
        self.process = None
