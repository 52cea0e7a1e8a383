"""The MongoDB connection for the readings store (the only MongoEngine connection).

Opened lazily, on the first use of the mongo store in a process: MongoClient is
not fork-safe, and the task worker forks after Django starts.
"""

import threading

import mongoengine
from mongoengine.connection import ConnectionFailure, get_db
from pymongo.uri_parser import parse_uri

ALIAS = "readings"
DEFAULT_DATABASE = "smartmeter"

_lock = threading.Lock()
_connected_uri: str | None = None


def database_name(uri: str) -> str:
    return parse_uri(uri).get("database") or DEFAULT_DATABASE


def mongo_connect(uri: str) -> None:
    """Register the readings connection for `uri` (idempotent; a new URI replaces the old one)."""
    global _connected_uri
    with _lock:
        if _connected_uri == uri:
            return
        if _connected_uri is not None:
            mongoengine.disconnect(alias=ALIAS)
        mongoengine.connect(
            host=uri,
            db=database_name(uri),
            alias=ALIAS,
            tz_aware=True,  # timestamps come back as aware UTC datetimes
            uuidRepresentation="standard",
            serverSelectionTimeoutMS=5000,
        )
        _connected_uri = uri


def mongo_disconnect() -> None:
    global _connected_uri
    with _lock:
        if _connected_uri is not None:
            mongoengine.disconnect(alias=ALIAS)
            _connected_uri = None


def readings_database():
    """The pymongo Database holding the readings collection."""
    try:
        return get_db(ALIAS)
    except ConnectionFailure as exc:
        raise RuntimeError("The MongoDB readings connection is not open; set MONGODB_URI.") from exc
