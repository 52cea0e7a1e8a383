"""Production refuses unsafe settings, and a safe production configuration passes
Django's deployment checks with no warning."""

import json
import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured

from smartmeter.settings import PUBLISHED_SECRET_KEYS, check_production_safety

ROOT = Path(__file__).resolve().parents[2]
GOOD_SECRET = secrets.token_urlsafe(60)
PUBLISHED_SECRET = next(iter(PUBLISHED_SECRET_KEYS))


def _production_env(tmp_path, **overrides) -> dict:
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("DJANGO_", "SECRET_KEY", "ALLOWED_HOSTS", "DEBUG", "DATABASE_URL", "REDIS_URL"))
    }
    env.update(
        {
            "DJANGO_SETTINGS_MODULE": "smartmeter.settings",
            "DEBUG": "False",
            "SECRET_KEY": GOOD_SECRET,
            "ALLOWED_HOSTS": "meters.example-utility.in",
            "CSRF_TRUSTED_ORIGINS": "https://meters.example-utility.in",
            "CORS_ALLOWED_ORIGINS": "https://app.example-utility.in",
            "DATABASE_URL": f"sqlite:///{tmp_path / 'prod.sqlite3'}",
            "PROMETHEUS_MULTIPROC_DIR": str(tmp_path / "prometheus"),
            "STATIC_ROOT": str(tmp_path / "static"),
        }
    )
    env.update(overrides)
    return env


def _manage(tmp_path, *args, **env_overrides):
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=_production_env(tmp_path, **env_overrides),
        capture_output=True,
        text=True,
        timeout=120,
    )


def _python(tmp_path, script: str, **env_overrides) -> str:
    """Run ``script`` in a fresh interpreter with production settings; its last line of output."""
    result = subprocess.run(
        [sys.executable, "-c", script],
        cwd=ROOT,
        env=_production_env(tmp_path, **env_overrides),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.strip().splitlines()[-1]


def test_debug_false_with_a_published_secret_is_refused():
    with pytest.raises(ImproperlyConfigured, match="SECRET_KEY must be set"):
        check_production_safety(debug=False, secret_key=PUBLISHED_SECRET, allowed_hosts=["meters.example.com"])


def test_debug_false_with_a_short_or_empty_secret_is_refused():
    for secret in ["", "short-secret"]:
        with pytest.raises(ImproperlyConfigured, match="at least 32 characters"):
            check_production_safety(debug=False, secret_key=secret, allowed_hosts=["meters.example.com"])


def test_debug_false_without_allowed_hosts_is_refused():
    with pytest.raises(ImproperlyConfigured, match="ALLOWED_HOSTS must list"):
        check_production_safety(debug=False, secret_key=GOOD_SECRET, allowed_hosts=[])


def test_every_problem_is_named_in_one_message():
    with pytest.raises(ImproperlyConfigured) as excinfo:
        check_production_safety(debug=False, secret_key=PUBLISHED_SECRET, allowed_hosts=[])
    assert "SECRET_KEY" in str(excinfo.value)
    assert "ALLOWED_HOSTS" in str(excinfo.value)
    assert str(excinfo.value).startswith("Refusing to start with DEBUG=False")


def test_debug_true_accepts_the_development_defaults():
    check_production_safety(debug=True, secret_key=PUBLISHED_SECRET, allowed_hosts=[])


def test_the_process_refuses_to_start_with_a_published_secret(tmp_path):
    result = _manage(tmp_path, "check", SECRET_KEY=PUBLISHED_SECRET)
    assert result.returncode != 0
    assert "Refusing to start with DEBUG=False" in result.stderr
    assert "SECRET_KEY must be set" in result.stderr


def test_the_process_refuses_to_start_without_allowed_hosts(tmp_path):
    result = _manage(tmp_path, "check", ALLOWED_HOSTS="")
    assert result.returncode != 0
    assert "ALLOWED_HOSTS must list" in result.stderr


def test_check_deploy_is_clean_with_production_settings(tmp_path):
    result = _manage(tmp_path, "check", "--deploy", "--fail-level", "WARNING")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues" in result.stdout


def test_check_deploy_is_clean_with_redis_as_well(tmp_path):
    result = _manage(tmp_path, "check", "--deploy", "--fail-level", "WARNING", REDIS_URL="redis://127.0.0.1:6379/0")
    assert result.returncode == 0, result.stdout + result.stderr


def test_production_settings_turn_on_the_transport_protections(tmp_path):
    script = (
        "import json, django; django.setup(); from django.conf import settings as s; "
        "print(json.dumps({k: getattr(s, k) for k in ['SECURE_SSL_REDIRECT', 'SESSION_COOKIE_SECURE', "
        "'CSRF_COOKIE_SECURE', 'SECURE_HSTS_SECONDS', 'SECURE_HSTS_INCLUDE_SUBDOMAINS', 'SECURE_PROXY_SSL_HEADER', "
        "'SECURE_REDIRECT_EXEMPT', 'CSRF_TRUSTED_ORIGINS', 'CORS_ALLOWED_ORIGINS', 'LOG_FORMAT', 'DEBUG']}))"
    )
    values = json.loads(_python(tmp_path, script, JWT_ACCESS_MINUTES="5", JWT_REFRESH_DAYS="1"))
    assert values["DEBUG"] is False
    assert values["SECURE_SSL_REDIRECT"] is True
    assert values["SESSION_COOKIE_SECURE"] is True
    assert values["CSRF_COOKIE_SECURE"] is True
    assert values["SECURE_HSTS_SECONDS"] >= 31536000
    assert values["SECURE_HSTS_INCLUDE_SUBDOMAINS"] is True
    assert values["SECURE_PROXY_SSL_HEADER"] == ["HTTP_X_FORWARDED_PROTO", "https"]
    assert values["SECURE_REDIRECT_EXEMPT"] == ["^health$"]
    assert values["CSRF_TRUSTED_ORIGINS"] == ["https://meters.example-utility.in"]
    assert values["CORS_ALLOWED_ORIGINS"] == ["https://app.example-utility.in"]
    assert values["LOG_FORMAT"] == "json"


def test_jwt_lifetimes_come_from_the_environment(tmp_path):
    script = (
        "import django; django.setup(); from django.conf import settings as s; "
        "print(int(s.SIMPLE_JWT['ACCESS_TOKEN_LIFETIME'].total_seconds()), "
        "int(s.SIMPLE_JWT['REFRESH_TOKEN_LIFETIME'].total_seconds()))"
    )
    assert _python(tmp_path, script, JWT_ACCESS_MINUTES="5", JWT_REFRESH_DAYS="2").split() == ["300", "172800"]


def test_a_sqlite_commit_is_on_disk_before_it_returns(tmp_path):
    """The consumer acks after its commit, so SQLite must sync the WAL on every commit (synchronous=FULL)."""
    script = (
        "import django; django.setup(); from django.db import connection; "
        "cursor = connection.cursor(); "
        "print(cursor.execute('PRAGMA journal_mode').fetchone()[0], cursor.execute('PRAGMA synchronous').fetchone()[0])"
    )
    assert _python(tmp_path, script).split() == ["wal", "2"]  # 2 = FULL


def test_the_process_refuses_to_start_without_a_secret(tmp_path):
    environment = _production_env(tmp_path)
    del environment["SECRET_KEY"]
    result = subprocess.run(
        [sys.executable, "manage.py", "check"], cwd=ROOT, env=environment, capture_output=True, text=True, timeout=120
    )
    assert result.returncode != 0
    assert "SECRET_KEY must be set" in result.stderr


def test_without_a_secret_a_development_run_makes_one_at_random_and_keeps_it(tmp_path):
    key_file = tmp_path / "var" / "secret-key"
    script = "import django; django.setup(); from django.conf import settings as s; print(s.SECRET_KEY)"
    development = {"DEBUG": "True", "SECRET_KEY": "", "SECRET_KEY_FILE": str(key_file)}
    first = _python(tmp_path, script, **development)
    second = _python(tmp_path, script, **development)
    assert first == second == key_file.read_text().strip()
    assert len(first) >= 50
    assert first not in PUBLISHED_SECRET_KEYS
    assert key_file.stat().st_mode & 0o777 == 0o600
    other_checkout = _python(tmp_path, script, **{**development, "SECRET_KEY_FILE": str(tmp_path / "other")})
    assert other_checkout != first


def test_processes_starting_together_agree_on_the_generated_secret(tmp_path):
    key_file = tmp_path / "secret-key"
    script = "import django; django.setup(); from django.conf import settings as s; print(s.SECRET_KEY)"
    environment = _production_env(tmp_path, DEBUG="True", SECRET_KEY="", SECRET_KEY_FILE=str(key_file))
    processes = [
        subprocess.Popen([sys.executable, "-c", script], cwd=ROOT, env=environment, stdout=subprocess.PIPE, text=True)
        for _ in range(4)
    ]
    keys = {process.communicate(timeout=120)[0].strip().splitlines()[-1] for process in processes}
    assert keys == {key_file.read_text().strip()}
    assert [path.name for path in tmp_path.iterdir() if path.name.startswith(".secret-key")] == []
