"""Documents kept as files (invoice, note and receipt PDFs, letters): one way to keep one and read it back."""

from __future__ import annotations

from django.core.files.base import ContentFile
from django.db import models


def file_keep(*, instance: models.Model, field: str, filename: str, content: bytes) -> None:
    """Store ``content`` as the row's file (only that column is written) and delete the file it replaces."""
    kept = getattr(instance, field)
    old_name = kept.name
    kept.save(filename, ContentFile(content), save=False)
    type(instance)._default_manager.filter(pk=instance.pk).update(**{field: kept.name})
    if old_name and old_name != kept.name:
        kept.storage.delete(old_name)


def file_read(kept) -> bytes | None:
    """The kept file's bytes, or None when there is none (never stored, or lost from storage)."""
    if kept and kept.storage.exists(kept.name):
        with kept.open("rb") as handle:
            return handle.read()
    return None
