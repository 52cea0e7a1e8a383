"""Docker cannot run here, so the deployment files are checked against the project:
every command, setting, path and management command they reference must exist, the
image's build steps must work. The production broker config is run for real, with the dynamic
security plugin, by tests/readings/test_meter_credentials.py."""

import importlib.util
import json
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from django.core.management import get_commands

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
APP_SERVICES = {"migrate", "web", "consumer", "worker"}
REQUIRED_SERVICES = {"web", "consumer", "worker", "mongodb", "mosquitto", "redis", "postgres"}
# Variables the runtime reads that are not project settings.
NON_SETTING_ENV = {"DJANGO_SETTINGS_MODULE", "PYTHONDONTWRITEBYTECODE", "PYTHONUNBUFFERED", "PIP_NO_CACHE_DIR"}
NON_SETTING_ENV |= {"PIP_DISABLE_PIP_VERSION_CHECK"}


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load((DEPLOY / "docker-compose.yml").read_text())


@pytest.fixture(scope="module")
def dockerfile() -> str:
    return (DEPLOY / "Dockerfile").read_text()


def settings_env_names() -> set[str]:
    source = (ROOT / "smartmeter" / "settings.py").read_text()
    return set(re.findall(r"""env(?:\.\w+)?\(\s*["']([A-Z][A-Z0-9_]*)["']""", source))


def _dockerfile_instructions(text: str) -> list[tuple[str, str]]:
    joined = re.sub(r"\\\n", " ", text)
    instructions = []
    for line in joined.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            keyword, _, rest = line.partition(" ")
            instructions.append((keyword.upper(), rest.strip()))
    return instructions


def _check_command(argv: list[str]) -> None:
    """A container command must name something the image has."""
    if argv[:2] == ["sh", "-c"]:
        for part in re.split(r"&&|;", argv[2]):
            words = shlex.split(part)
            if words and words[0] == "python":
                _check_command(words)
        return
    if argv[0] == "python" and argv[1] == "manage.py":
        assert argv[2] in get_commands(), f"no management command {argv[2]!r}"
    elif argv[0] == "python" and argv[1] == "-c":
        compile(argv[2], "<healthcheck>", "exec")
    elif argv[0] == "daphne":
        # --proxy-headers believes the leftmost X-Forwarded-For entry, which the client writes;
        # the client address comes from TRUSTED_PROXY_COUNT instead (docs/deployment.md#client-addresses).
        assert "--proxy-headers" not in argv
        target = argv[-1]
        module, _, attribute = target.partition(":")
        assert importlib.util.find_spec(module) is not None, target
        assert attribute == "application"
        assert "application =" in (ROOT / Path(*module.split("."))).with_suffix(".py").read_text()
    else:
        pytest.fail(f"unknown command {argv}")


def test_compose_brings_up_every_part_with_health_checks(compose):
    services = compose["services"]
    assert REQUIRED_SERVICES <= set(services)
    for name in REQUIRED_SERVICES:
        assert "healthcheck" in services[name], f"{name} has no health check"
        assert services[name]["healthcheck"]["test"][0] == "CMD"
    for name in REQUIRED_SERVICES:
        assert services[name].get("restart") == "unless-stopped", name


def test_app_services_run_commands_that_exist(compose):
    for name in APP_SERVICES:
        service = compose["services"][name]
        _check_command(service["command"])
        if "healthcheck" in service:
            _check_command(service["healthcheck"]["test"][1:])
    assert compose["services"]["consumer"]["command"] == ["python", "manage.py", "mqtt_consumer"]
    assert compose["services"]["worker"]["command"] == ["python", "manage.py", "qcluster"]


def test_app_services_wait_for_migrations_and_their_backing_services(compose):
    for name in APP_SERVICES - {"migrate"}:
        depends = compose["services"][name]["depends_on"]
        assert depends["migrate"]["condition"] == "service_completed_successfully"
        for backing in ["postgres", "mongodb", "redis", "mosquitto"]:
            assert depends[backing]["condition"] == "service_healthy", (name, backing)


def test_every_variable_given_to_the_app_is_a_setting(compose):
    known = settings_env_names() | NON_SETTING_ENV
    for name in APP_SERVICES:
        environment = compose["services"][name]["environment"]
        unknown = set(environment) - known
        assert not unknown, f"{name}: {unknown} are not read by smartmeter/settings.py"
        assert environment["DEBUG"] == "False"
        assert environment["REDIS_URL"].startswith("redis://redis:")
        assert environment["DATABASE_URL"].startswith("postgres://")
        assert environment["MQTT_URL"].endswith("mosquitto:1883}")
        assert environment["MONGODB_URI"].endswith("mongodb://mongodb:27017/smartmeter}")


def test_the_broker_runs_the_shipped_config_opened_to_the_network(compose):
    mosquitto = compose["services"]["mosquitto"]
    mounts = {volume.split(":")[0]: volume.split(":")[1] for volume in mosquitto["volumes"]}
    assert mounts["./mosquitto.conf"] == "/smartmeter/mosquitto.conf"
    shipped = (DEPLOY / "mosquitto.conf").read_text()
    script = mosquitto["command"][2]
    pattern = re.search(r"sed -e 's/(.+?)/(.*?)/'", script)
    assert pattern, script
    regex = pattern.group(1).replace("$$", "$")
    assert re.search(regex, shipped, re.MULTILINE), "the listener line the compose file rewrites is gone"
    rewritten = re.sub(regex, pattern.group(2), shipped, flags=re.MULTILINE)
    assert "listener 1883\n" in rewritten
    assert "persistence true" in rewritten


def test_the_compose_broker_refuses_anonymous_clients_and_loads_the_dynamic_security_plugin(compose):
    from tests.support.dynsec import compose_broker_config

    config = compose_broker_config()
    lines = [line.strip() for line in config.splitlines() if line.strip() and not line.lstrip().startswith("#")]
    assert "allow_anonymous true" not in lines
    assert "allow_anonymous false" in lines
    assert "plugin /usr/lib/mosquitto_dynamic_security.so" in lines
    assert "plugin_opt_config_file /mosquitto/data/dynamic-security.json" in lines
    assert "persistence_location /mosquitto/data/" in lines
    mosquitto = compose["services"]["mosquitto"]
    assert "./mosquitto-dynsec.conf:/smartmeter/mosquitto-dynsec.conf:ro" in mosquitto["volumes"]
    # The plugin's file is made once, on the volume, with the admin login from the environment.
    assert "mosquitto_ctrl dynsec init /mosquitto/data/dynamic-security.json" in mosquitto["command"][2]
    assert set(mosquitto["environment"]) == {"MQTT_ADMIN_USERNAME", "MQTT_ADMIN_PASSWORD"}


def test_only_the_processes_that_manage_meters_hold_the_broker_admin_login(compose):
    services = compose["services"]
    holders = {name for name in APP_SERVICES if "MQTT_ADMIN_URL" in services[name]["environment"]}
    assert holders == {"migrate", "web"}
    assert "mqtt_setup_roles" in services["migrate"]["command"][2]
    assert services["migrate"]["depends_on"]["mosquitto"]["condition"] == "service_healthy"
    for name in APP_SERVICES:
        assert "smartmeter-consumer:" in services[name]["environment"]["MQTT_URL"]
        assert "smartmeter-live:" in services[name]["environment"]["LIVE_MQTT_URL"]


def test_relative_paths_in_compose_exist(compose):
    for service in compose["services"].values():
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            if source.startswith("."):
                assert (DEPLOY / source).exists(), source
        build = service.get("build")
        if build:
            context = DEPLOY / build["context"]
            assert (context / build["dockerfile"]).is_file()
    assert set(compose["volumes"]) >= {"pgdata", "mongodata", "mosquittodata", "media", "metrics"}


def test_dockerfile_is_slim_non_root_and_serves_with_daphne(dockerfile):
    instructions = _dockerfile_instructions(dockerfile)
    keywords = [keyword for keyword, _ in instructions]
    assert instructions[0] == ("FROM", "python:3.13-slim")
    user = [rest for keyword, rest in instructions if keyword == "USER"]
    assert user
    assert user[-1].split(":")[0] not in {"root", "0"}
    assert keywords.index("USER") < keywords.index("CMD")
    cmd = [rest for keyword, rest in instructions if keyword == "CMD"][-1]
    _check_command(json.loads(cmd))
    assert "HEALTHCHECK" in keywords
    healthcheck = [rest for keyword, rest in instructions if keyword == "HEALTHCHECK"][0]
    _check_command(json.loads(healthcheck[healthcheck.index("CMD") + 3 :].strip()))
    for keyword, rest in instructions:
        if keyword == "COPY":
            sources = [part for part in rest.split() if not part.startswith("--")][:-1]
            for source in sources:
                assert (ROOT / source).exists(), source
        if keyword == "ENV":
            for name in re.findall(r"([A-Z_][A-Z0-9_]*)=", rest):
                assert name in settings_env_names() | NON_SETTING_ENV, name


def test_dockerfile_collectstatic_step_works(dockerfile, tmp_path):
    """Run the image's collectstatic step with its own environment (production
    settings, manifest storage) into a scratch directory."""
    run = next(rest for keyword, rest in _dockerfile_instructions(dockerfile) if "collectstatic" in rest)
    step = run.split("&&")[0]
    words = shlex.split(step)
    assignments = dict(word.split("=", 1) for word in words if re.match(r"^[A-Z_]+=", word))
    command = [word for word in words if not re.match(r"^[A-Z_]+=", word)]
    assert command == ["python", "manage.py", "collectstatic", "--noinput"]
    assert assignments["DEBUG"] == "False"
    env = {**os.environ, **assignments, "STATIC_ROOT": str(tmp_path / "static")}
    env["PROMETHEUS_MULTIPROC_DIR"] = str(tmp_path / "metrics")
    env.pop("DATABASE_URL", None)
    result = subprocess.run(
        [sys.executable, *command[1:]], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert (tmp_path / "static" / "staticfiles.json").is_file()


def test_dockerignore_keeps_local_state_and_secrets_out():
    ignored = (ROOT / ".dockerignore").read_text().split()
    for entry in [".git", ".venv", ".env", "var/"]:
        assert entry in ignored


def test_deployment_checklist_covers_the_production_topics():
    text = " ".join((ROOT / "docs" / "deployment.md").read_text().lower().split())
    for topic in [
        "atlas",
        "allow-list",
        "tls",
        "mosquitto-dynsec.conf",
        "mosquitto_ctrl dynsec init",
        "mqtt_setup_roles",
        "rotate mqtt password",
        "smtp",
        "backup",
        "shared subscription",
        "horizontal",
        "check --deploy",
        "metrics_token",
        "redis_url",
    ]:
        assert topic in text, topic
