import subprocess
import sys

import pytest
from django.conf import settings

from accounts.models import User

pytestmark = pytest.mark.django_db


def test_email_is_the_login_and_is_stored_lower_case():
    user = User.objects.create_user(email="Mixed@Example.COM", password="s3cure-enough-pass")
    assert user.email == "mixed@example.com"
    assert User.USERNAME_FIELD == "email"
    assert user.check_password("s3cure-enough-pass")


def test_createsuperuser_noinput_reads_email_and_password_from_the_environment(tmp_path):
    env = {
        "PATH": "/usr/bin:/bin",
        "DJANGO_SETTINGS_MODULE": "smartmeter.settings",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}",
        "DJANGO_SUPERUSER_EMAIL": "root@example.com",
        "DJANGO_SUPERUSER_PASSWORD": "s3cure-enough-pass",
    }
    manage = [sys.executable, str(settings.BASE_DIR / "manage.py")]
    subprocess.run([*manage, "migrate", "-v0"], env=env, check=True, cwd=settings.BASE_DIR)
    result = subprocess.run(
        [*manage, "createsuperuser", "--noinput"], env=env, capture_output=True, text=True, cwd=settings.BASE_DIR
    )
    assert result.returncode == 0, result.stderr
    check = subprocess.run(
        [
            *manage,
            "shell",
            "-c",
            "from accounts.models import User; u = User.objects.get(email='root@example.com');"
            "print(u.is_staff, u.is_superuser, u.check_password('s3cure-enough-pass'))",
        ],
        env=env,
        capture_output=True,
        text=True,
        cwd=settings.BASE_DIR,
        check=True,
    )
    assert check.stdout.strip().endswith("True True True")
