"""WSGI entry point (the product serves through daphne/ASGI; this is for WSGI-only hosts)."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "smartmeter.settings")
application = get_wsgi_application()
