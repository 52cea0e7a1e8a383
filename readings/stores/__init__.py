"""The readings store in use: MongoDB when settings.MONGODB_URI is set, else SQL.

Callers outside readings/ go through readings.selectors, never a store.
"""

import threading

from django.conf import settings
from django.core.signals import setting_changed
from django.dispatch import receiver
from django.utils import timezone

from readings.stores.base import AGGREGATIONS, ReadingStore

__all__ = ["AGGREGATIONS", "ReadingStore", "get_store", "reset_store", "store_ping"]

_lock = threading.Lock()
_store: ReadingStore | None = None


def get_store() -> ReadingStore:
    """The process-wide store, built on first use (and the Mongo connection opened then)."""
    global _store
    store = _store
    if store is not None:
        return store
    with _lock:
        if _store is None:
            if settings.MONGODB_URI:
                from readings.stores.mongo import MongoReadingStore
                from readings.stores.mongo_connection import mongo_connect

                mongo_connect(settings.MONGODB_URI)
                _store = MongoReadingStore()
            else:
                from readings.stores.sql import SqlReadingStore

                _store = SqlReadingStore()
        return _store


def store_ping() -> None:
    """Raise unless the store in use answers (the /health probe)."""
    store = get_store()
    ping = getattr(store, "ping", None)
    if callable(ping):
        ping()
    else:
        store.count(since=timezone.now())


def reset_store() -> None:
    """Forget the cached store so the next get_store() reads the settings again (tests)."""
    global _store
    with _lock:
        _store = None


@receiver(setting_changed)
def _store_setting_changed(*, setting, **kwargs):
    if setting in {"MONGODB_URI", "MONGODB_READINGS_COLLECTION"}:
        reset_store()
