"""Billing runs in the back office: the list, a run's record with its live progress, and
"Start a billing run" (a run queued for the task workers). See docs/billing.md#starting-a-run-from-the-back-office.
"""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpResponseRedirect, JsonResponse
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.views.decorators.cache import never_cache

from billing.models import BillingRun
from billing.months import MonthInvalid, last_complete_month, month_label, parse_month
from billing.services import BillingRunRefused, billing_run_check_month, billing_run_request
from billing.zone import billing_zone

START_PERMISSION = "billing.add_billingrun"
POLL_SECONDS = 2  # how often the run's page asks for its progress while it runs


class StartRunForm(forms.Form):
    month = forms.CharField(label="Month", max_length=7, help_text="YYYY-MM; a month that has ended.")
    device_id = forms.CharField(
        label="Meter id", max_length=64, required=False, help_text="Optional: bill just this meter."
    )

    def clean_month(self):
        try:
            month = parse_month(self.cleaned_data["month"])
            billing_run_check_month(month=month)
        except (MonthInvalid, BillingRunRefused) as exc:
            raise ValidationError(str(exc)) from None
        return month


def run_progress(run: BillingRun) -> dict:
    """What the run's page shows as it runs (also its JSON)."""
    waiting = run.is_running and not run.host  # recorded, not yet picked up by a task worker
    return {
        "id": run.pk,
        "month": month_label(run.month),
        "status": run.status,
        "status_label": "Waiting for a task worker" if waiting else run.get_status_display(),
        "running": run.is_running,
        "meters": run.meters,
        "done": run.meters_done,
        "billed": run.billed,
        "held": run.held,
        "estimated": run.estimated,
        "awaiting": run.awaiting,
        "already_billed": run.already_billed,
        "skipped": run.skipped,
        "failed": run.failed,
        "emails_sent": run.emails_sent,
        "failures": [
            {key: failure.get(key, "") for key in ("device_id", "stage", "error")} for failure in run.failures
        ],
        "started_at": run.started_at.isoformat(),
        "finished_at": run.finished_at.isoformat() if run.finished_at else None,
    }


@admin.register(BillingRun)
class BillingRunAdmin(admin.ModelAdmin):
    list_display = [
        "started_at",
        "month_label",
        "trigger",
        "status",
        "meters",
        "billed",
        "held",
        "already_billed",
        "skipped",
        "failed",
        "emails_sent",
        "finished_at",
    ]
    list_filter = ["status", "trigger", "month"]
    readonly_fields = [field.name for field in BillingRun._meta.fields]
    change_list_template = "admin/billing/billingrun/change_list.html"
    change_form_template = "admin/billing/billingrun/change_form.html"

    @admin.display(description="Month", ordering="month")
    def month_label(self, run):
        return month_label(run.month)

    def has_add_permission(self, request):
        return False  # runs are started with "Start a billing run", never typed in

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def can_start(self, request) -> bool:
        return request.user.is_active and request.user.is_staff and request.user.has_perm(START_PERMISSION)

    def get_urls(self):
        view = self.admin_site.admin_view
        return [
            path("start/", view(self.start_view), name="billing_billingrun_start"),
            path("<int:pk>/progress/", never_cache(self.progress_view), name="billing_billingrun_progress"),
            *super().get_urls(),
        ]

    def changelist_view(self, request, extra_context=None):
        extra_context = {**(extra_context or {}), "can_start_run": self.can_start(request)}
        return super().changelist_view(request, extra_context)

    def change_view(self, request, object_id, form_url="", extra_context=None):
        run = BillingRun.objects.filter(pk=object_id).first() if str(object_id).isdigit() else None
        if run is not None:
            extra_context = {
                **(extra_context or {}),
                "progress": run_progress(run),
                "progress_url": reverse("admin:billing_billingrun_progress", args=[run.pk]),
                "poll_seconds": POLL_SECONDS,
            }
        return super().change_view(request, object_id, form_url, extra_context)

    def start_view(self, request):
        if not self.can_start(request):
            raise PermissionDenied
        if request.method == "POST":
            form = StartRunForm(request.POST)
            if form.is_valid():
                try:
                    run = billing_run_request(
                        month=form.cleaned_data["month"],
                        device_id=form.cleaned_data["device_id"],
                        requested_by=request.user,
                    )
                except BillingRunRefused as exc:
                    form.add_error(None, str(exc))
                else:
                    scope = f"meter {run.device_id}" if run.device_id else "every billable meter"
                    messages.success(
                        request, f"Billing run #{run.pk} for {month_label(run.month)} ({scope}) is queued."
                    )
                    return HttpResponseRedirect(reverse("admin:billing_billingrun_change", args=[run.pk]))
            status = 400
        else:
            form = StartRunForm(initial={"month": month_label(last_complete_month(timezone.now(), billing_zone()))})
            status = 200
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": "Start a billing run",
            "form": form,
        }
        return TemplateResponse(request, "admin/billing/billingrun/start.html", context, status=status)

    def progress_view(self, request, pk):
        """JSON for the run's page; staff who may see runs only (a JSON refusal, not the login page)."""
        if not (request.user.is_active and request.user.is_staff):
            return JsonResponse({"detail": "Staff only."}, status=403)
        if not self.has_view_permission(request):
            return JsonResponse({"detail": "You may not see billing runs."}, status=403)
        run = BillingRun.objects.filter(pk=pk).first()
        if run is None:
            return JsonResponse({"detail": f"No billing run #{pk}."}, status=404)
        return JsonResponse(run_progress(run))
