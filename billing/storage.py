"""Private file storage for invoice PDFs: under MEDIA_ROOT/private, never given a public URL."""

import os

from django.conf import settings
from django.core.files.storage import FileSystemStorage
from django.utils.deconstruct import deconstructible
from django.utils.functional import cached_property


@deconstructible
class PrivateMediaStorage(FileSystemStorage):
    """Files only the application reads back (the PDF endpoint checks who asks); no web server maps this folder."""

    @cached_property
    def base_location(self):
        # Re-read on every settings change (FileSystemStorage clears cached properties when MEDIA_ROOT changes).
        return os.path.join(settings.MEDIA_ROOT, "private")

    def url(self, name):
        raise ValueError("Private files have no public URL; serve them through a view that checks permissions.")


private_storage = PrivateMediaStorage()
