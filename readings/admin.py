"""Admin for the dead-letter store: telemetry that could not be stored, with its reason, read-only."""

from django.contrib import admin
from django.utils.html import format_html

from readings.models import DeadLetter


@admin.register(DeadLetter)
class DeadLetterAdmin(admin.ModelAdmin):
    """Telemetry that could not be stored, with the reason; a record, so nothing here is editable.

    Staff may delete rows once a fault is understood; the consumer also trims the table
    to DEAD_LETTER_MAX_ROWS, oldest first.
    """

    list_display = ["received_at", "reason", "device_id", "topic", "detail", "payload_size"]
    list_filter = ["reason", ("received_at", admin.DateFieldListFilter)]
    search_fields = ["device_id", "topic", "detail", "payload_excerpt"]
    date_hierarchy = "received_at"
    ordering = ["-received_at", "-id"]
    list_per_page = 100
    show_full_result_count = False  # counting a large table on every page view is slow
    fields = ["received_at", "reason", "device_id", "topic", "detail", "payload_size", "payload"]
    readonly_fields = fields

    @admin.display(description="Payload (excerpt)")
    def payload(self, obj: DeadLetter):
        return format_html('<pre style="white-space: pre-wrap; max-width: 60em">{}</pre>', obj.payload_excerpt)

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False
