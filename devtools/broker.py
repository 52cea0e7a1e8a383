"""Running a local MQTT broker for the one-command run, tests and benchmarks.

Mosquitto with the shipped deploy/mosquitto.conf moved to MQTT_URL's port, or the
in-memory amqtt broker where Mosquitto is not installed (a demo, not production):
docs/ingestion.md#broker-configuration.
"""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

from django.conf import settings

DEPLOY_CONFIG = Path(settings.BASE_DIR) / "deploy" / "mosquitto.conf"
LOCAL_HOSTS = {"127.0.0.1", "localhost", "::1", "0.0.0.0", "::"}  # noqa: S104 - names, not a bind

_LISTENER = re.compile(r"^\s*listener\s+\d+.*$", re.MULTILINE)


def mosquitto_binary() -> str | None:
    """The mosquitto executable: on PATH, or where Debian puts it (/usr/sbin is not on every PATH)."""
    found = shutil.which("mosquitto")
    if found:
        return found
    for candidate in ("/usr/sbin/mosquitto", "/usr/local/sbin/mosquitto"):
        if os.access(candidate, os.X_OK):
            return candidate
    return None


def mosquitto_config_render(
    *, port: int, data_dir: Path, host: str = "127.0.0.1", extra: str = "", base: Path = DEPLOY_CONFIG
) -> str:
    """The shipped config with its listener moved to host:port, persistence under data_dir, plus `extra`.

    `extra` may add listener-level settings (TLS files, password_file, allow_anonymous):
    they land after the listener line, where Mosquitto applies them to that listener.
    """
    text = base.read_text()
    listener = f"listener {port} {host}"
    if not _LISTENER.search(text):
        raise ValueError(f"{base} has no listener line to move")
    text = _LISTENER.sub(lambda _match: listener, text, count=1)
    lines = [text.rstrip(), "", "# --- Local overrides ---", f"persistence_location {data_dir.resolve()}/"]
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        # Started as root, Mosquitto switches to the `mosquitto` user and then cannot write
        # its database into a directory we created: stay the user that owns these files.
        lines.append("user root")
    if extra:
        lines.append(extra.strip())
    return "\n".join(lines) + "\n"


def mosquitto_config_write(*, port: int, directory: Path, host: str = "127.0.0.1", extra: str = "") -> Path:
    """Write a runnable config (and its data directory) under `directory`; returns the config path."""
    data_dir = directory / "data"
    data_dir.mkdir(parents=True, exist_ok=True)
    config = directory / "mosquitto.conf"
    config.write_text(mosquitto_config_render(port=port, data_dir=data_dir, host=host, extra=extra))
    return config


def amqtt_config(*, host: str, port: int) -> dict:
    bind_host = f"[{host}]" if ":" in host else host
    return {
        "listeners": {"default": {"type": "tcp", "bind": f"{bind_host}:{port}"}},
        "plugins": {"amqtt.plugins.authentication.AnonymousAuthPlugin": {"allow_anonymous": True}},
    }


def amqtt_run(*, host: str, port: int) -> None:
    """Run the amqtt broker in the foreground until SIGTERM/SIGINT."""
    import asyncio
    import logging
    import signal

    from amqtt.broker import Broker

    logging.getLogger("transitions").setLevel(logging.WARNING)  # state-machine chatter on every connection

    async def serve() -> None:
        broker = Broker(amqtt_config(host=host, port=port))
        await broker.start()
        stopped = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, stopped.set)
        await stopped.wait()
        await broker.shutdown()

    asyncio.run(serve())
