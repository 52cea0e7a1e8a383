"""Back office for billing: tariffs, invoices, billing runs, and the meter admin's invoices link.

Billing extends the meter admin registered by readings (the app below it) with an
"Invoices" link, so neither devices nor readings needs to know billing exists.
See docs/billing.md#admin.
"""

from decimal import Decimal

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.db.models import Count
from django.http import HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.urls import path, reverse
from django.utils.html import format_html
from django.utils.http import content_disposition_header

from billing.admin_bank import BankStatementLineAdmin  # noqa: F401 - registers the bank statement pages
from billing.admin_notes import InvoiceNotesAdminMixin  # the invoice page's notes, and the Note admin
from billing.admin_payments import record_payment_url  # the import registers payments, accounts, the ledger
from billing.admin_runs import BillingRunAdmin  # noqa: F401 - registers the billing runs
from billing.calculation import (
    TariffInvalid,
    validate_estimate_and_review,
    validate_tariff,
    validate_tax_label_and_late_fee,
)
from billing.collections_admin import DisconnectionNoticeAdmin  # noqa: F401 - registers the notices
from billing.models import Invoice, Tariff, TariffSlab
from billing.months import next_month
from billing.receivables import invoice_open_amount
from billing.review_admin import HeldInvoiceAdmin  # noqa: F401 - registers the review queue
from billing.selectors import billing_today
from billing.services import (
    InvoiceAlreadyPaid,
    TariffConflict,
    TariffDateTaken,
    TariffMonthInvoiced,
    invoice_email_resend,
    invoice_mark_paid,
    invoice_pdf_bytes,
    invoice_regenerate_pdf,
    tariff_check_effective_from,
    tariff_create,
)
from billing.templatetags.billing_format import format_inr
from devices.models import Device
from readings.admin import DeviceReadingsAdmin

TARIFF_FIELDS = [
    "effective_from",
    "slab_style",
    "fixed_charge",
    "fixed_charge_basis",
    "minimum_charge",
    "tax_rate",
    "tax_label",
    "late_fee_rate",
    "description",
    "estimate_default_kwh",
    "review_ceiling",
]


# Terms a new version copies from the one it is made from (everything but its own date).
COPIED_FIELDS = [name for name in TARIFF_FIELDS if name != "effective_from"]
HUNDRED = Decimal(100)


def _day(day) -> str:
    """A date the way staff write it: 1 Apr 2026."""
    return f"{day.day} {day:%b %Y}"


def _month(month) -> str:
    return f"{month:%b %Y}"


def tax_percent(rate: Decimal | None) -> Decimal | None:
    """The stored tax rate (0.18) as the percentage staff enter and read (18)."""
    if rate is None:
        return None
    percent = (rate * HUNDRED).quantize(Decimal("0.01"))
    return percent.quantize(Decimal(1)) if percent == percent.to_integral_value() else percent.normalize()


def effective_from_message(conflict: TariffConflict) -> str:
    """The service's refusal of a date, said for staff in the back office."""
    if isinstance(conflict, TariffDateTaken):
        return f"A version already starts on {_day(conflict.effective_from)}: edit it or pick another date."
    if isinstance(conflict, TariffMonthInvoiced):
        return (
            f"{_month(conflict.month)} already has issued invoices under the tariff in force then, and issued"
            f" invoices are never re-priced, so a version cannot start on {_day(conflict.effective_from)}. Pick"
            f" {_day(next_month(conflict.last_invoiced_month))} or later. To bill an issued month again, open its"
            " invoice and use Re-rate this month (it issues a credit or debit note)."
        )
    return str(conflict)


class TaxPercentField(forms.DecimalField):
    """The tax rate entered as a percentage (18 for 18%); the form stores the fraction (0.1800)."""

    def __init__(self, **kwargs):
        super().__init__(
            label="Tax (%)",
            max_digits=5,
            decimal_places=2,
            help_text="18 for 18%.",
            error_messages={
                "invalid": "Enter the tax as a percentage between 0 and 100 (18 for 18%).",
                "max_digits": "Enter the tax as a percentage between 0 and 100 (18 for 18%).",
                "max_decimal_places": "The tax may have at most 2 decimal places (18.25 for 18.25%).",
            },
            **kwargs,
        )

    def clean(self, value):
        percent = super().clean(value)
        if percent is None:
            return None
        if not 0 <= percent <= HUNDRED:
            raise ValidationError(f"The tax must be between 0 and 100 percent ({percent} was entered).")
        return percent / HUNDRED


class TariffAdminForm(forms.ModelForm):
    tax_rate = TaxPercentField()

    class Meta:
        model = Tariff
        fields = TARIFF_FIELDS

    def __init__(self, *args, **kwargs):
        given = kwargs.get("initial") or {}
        super().__init__(*args, **kwargs)
        if "tax_rate" not in given and self.instance.tax_rate is not None:
            self.initial["tax_rate"] = tax_percent(self.instance.tax_rate)

    def clean(self):
        cleaned = super().clean()
        for check, names in (
            (validate_estimate_and_review, ("estimate_default_kwh", "review_ceiling")),
            (validate_tax_label_and_late_fee, ("tax_label", "late_fee_rate")),
        ):
            try:
                check(**{name: cleaned.get(name) for name in names})
            except TariffInvalid as exc:
                for field, messages in exc.problems.items():
                    if field not in self.errors:
                        self.add_error(field, messages)
        try:  # the same rules as the API, from the pure validator (slabs are checked by the inline formset)
            validate_tariff(
                slabs=[{"range_start": 0, "range_end": None, "rate": "0"}],
                fixed_charge=cleaned.get("fixed_charge"),
                tax_rate=cleaned.get("tax_rate"),
                slab_style=cleaned.get("slab_style"),
                fixed_charge_basis=cleaned.get("fixed_charge_basis"),
                minimum_charge=cleaned.get("minimum_charge"),
            )
        except TariffInvalid as exc:
            for field in ("fixed_charge", "tax_rate", "slab_style", "fixed_charge_basis", "minimum_charge"):
                if field in exc.problems and field not in self.errors:
                    self.add_error(field, exc.problems[field])
        if cleaned.get("effective_from"):
            try:
                tariff_check_effective_from(effective_from=cleaned["effective_from"])
            except TariffConflict as exc:
                self.add_error("effective_from", effective_from_message(exc))
        return cleaned


class TariffSlabFormSet(forms.BaseInlineFormSet):
    def clean(self):
        super().clean()
        rows = [
            form.cleaned_data for form in self.forms if form.cleaned_data and not form.cleaned_data.get("DELETE", False)
        ]
        rows.sort(key=lambda row: row.get("range_start") or 0)
        self.slab_rows = [
            {"range_start": row.get("range_start"), "range_end": row.get("range_end"), "rate": row.get("rate")}
            for row in rows
        ]
        try:
            validate_tariff(slabs=self.slab_rows, fixed_charge="0", tax_rate="0")
        except TariffInvalid as exc:
            raise ValidationError(exc.problems.get("slabs", [])) from None


class TariffSlabForm(forms.ModelForm):
    class Meta:
        model = TariffSlab
        fields = ["range_start", "range_end", "rate"]
        labels = {"range_start": "From (kWh)", "range_end": "To (kWh)", "rate": "Rate (₹ per kWh)"}
        help_texts = {
            "range_start": "The first slab starts at 0; each next one right after the previous ends.",
            "range_end": "Empty: open-ended (the last slab).",
        }


def _copy_source(request) -> Tariff | None:
    """The version the add form copies (``?copy_from=<pk>``), on the page load only: a POST carries its own rows."""
    if request.method != "GET":
        return None
    pk = request.GET.get("copy_from", "")
    return Tariff.objects.prefetch_related("slabs").filter(pk=int(pk)).first() if pk.isdigit() else None


class TariffSlabInline(admin.TabularInline):
    model = TariffSlab
    form = TariffSlabForm
    formset = TariffSlabFormSet
    extra = 3
    min_num = 1
    fields = ["range_start", "range_end", "rate"]

    def get_extra(self, request, obj=None, **kwargs):
        source = _copy_source(request) if obj is None else None
        # min_num gives one form; the copied slabs fill it and as many more, and one row stays blank.
        return self.extra if source is None else len(source.slabs.all())

    def has_change_permission(self, request, obj=None):
        return obj is None and super().has_change_permission(request, obj)

    def has_delete_permission(self, request, obj=None):
        return obj is None and super().has_delete_permission(request, obj)

    def has_add_permission(self, request, obj=None):
        return obj is None and super().has_add_permission(request, obj)


@admin.register(Tariff)
class TariffAdmin(admin.ModelAdmin):
    """Tariff versions. A saved version is read-only: a change is a new version with its own effective date."""

    form = TariffAdminForm
    list_display = [
        "effective_from",
        "slab_summary",
        "slab_style",
        "fixed_charge",
        "fixed_charge_basis",
        "minimum_charge",
        "tax_percent",
        "tax_label",
        "in_force",
        "invoice_count",
        "created_by",
    ]
    ordering = ["-effective_from"]
    date_hierarchy = "effective_from"
    inlines = [TariffSlabInline]
    actions = ["copy_as_new_version"]
    change_form_template = "admin/billing/tariff/change_form.html"

    def get_queryset(self, request):
        return (
            super()
            .get_queryset(request)
            .prefetch_related("slabs")
            .select_related("created_by")
            .annotate(invoice_total=Count("invoices"))
        )

    def get_fields(self, request, obj=None):
        if obj is None:
            return TARIFF_FIELDS
        shown = ["tax_percent" if name == "tax_rate" else name for name in TARIFF_FIELDS]
        return [*shown, "created_by", "created_at"]

    def get_changeform_initial_data(self, request):
        """The add form, pre-filled with every term of the version named by ``?copy_from=`` but its date."""
        source = _copy_source(request)
        if source is None:
            return super().get_changeform_initial_data(request)
        initial = {name: getattr(source, name) for name in COPIED_FIELDS}
        initial["tax_rate"] = tax_percent(source.tax_rate)
        return initial

    def get_formset_kwargs(self, request, obj, inline, prefix):
        kwargs = super().get_formset_kwargs(request, obj, inline, prefix)
        source = _copy_source(request) if obj is None or obj.pk is None else None
        if source is not None and isinstance(inline, TariffSlabInline):
            kwargs["initial"] = [
                {"range_start": slab.range_start, "range_end": slab.range_end, "rate": slab.rate}
                for slab in source.slabs.all()
            ]
        return kwargs

    @admin.action(description="Create a new version by copying the selected one")
    def copy_as_new_version(self, request, queryset):
        if queryset.count() != 1:
            self.message_user(request, "Select exactly one version to copy.", messages.WARNING)
            return None
        return HttpResponseRedirect(copy_url(queryset.get()))

    def render_change_form(self, request, context, add=False, change=False, form_url="", obj=None):
        if obj is not None and obj.pk is not None:
            context["copy_url"] = copy_url(obj)
        return super().render_change_form(request, context, add=add, change=change, form_url=form_url, obj=obj)

    @admin.display(description="Tax (%)", ordering="tax_rate")
    def tax_percent(self, tariff):
        return tax_percent(tariff.tax_rate)

    def get_readonly_fields(self, request, obj=None):
        return [] if obj is None else self.get_fields(request, obj)

    def has_change_permission(self, request, obj=None):
        # Listing and viewing are allowed; saving an existing version is not (versions are immutable).
        return super().has_change_permission(request, obj) if obj is None else False

    def has_delete_permission(self, request, obj=None):
        return super().has_delete_permission(request, obj) and (obj is None or not obj.invoices.exists())

    @admin.display(description="Slabs")
    def slab_summary(self, tariff):
        return ", ".join(str(slab) for slab in tariff.slabs.all())

    @admin.display(description="In force today", boolean=True)
    def in_force(self, tariff):
        current = Tariff.objects.in_force_on(billing_today())
        return current is not None and current.pk == tariff.pk

    @admin.display(description="Invoices", ordering="invoice_total")
    def invoice_count(self, tariff):
        return tariff.invoice_total

    def save_model(self, request, obj, form, change):
        """Nothing here: the version and its slabs are created together by the service in save_related."""

    def save_related(self, request, form, formsets, change):
        slabs = next(fs for fs in formsets if isinstance(fs, TariffSlabFormSet))
        tariff = tariff_create(
            slabs=slabs.slab_rows,
            fixed_charge=form.instance.fixed_charge,
            tax_rate=form.instance.tax_rate,
            slab_style=form.instance.slab_style,
            fixed_charge_basis=form.instance.fixed_charge_basis,
            minimum_charge=form.instance.minimum_charge,
            effective_from=form.instance.effective_from,
            actor=request.user,
            description=form.instance.description,
            estimate_default_kwh=form.instance.estimate_default_kwh,
            review_ceiling=form.instance.review_ceiling,
            tax_label=form.instance.tax_label,
            late_fee_rate=form.instance.late_fee_rate,
        )
        form.instance.pk = tariff.pk
        form.instance.created_at = tariff.created_at
        # What formset.save() would have recorded, for the admin's change message.
        slabs.new_objects, slabs.changed_objects, slabs.deleted_objects = list(tariff.slabs.all()), [], []


def copy_url(tariff: Tariff) -> str:
    """The add form pre-filled with ``tariff``'s terms, for staff to give the new version its date."""
    return f"{reverse('admin:billing_tariff_add')}?copy_from={tariff.pk}"


class MonthFilter(admin.SimpleListFilter):
    title = "month"
    parameter_name = "month"

    def lookups(self, request, model_admin):
        months = Invoice.objects.order_by("-month").values_list("month", flat=True).distinct()[:24]
        return [(month.strftime("%Y-%m"), month.strftime("%b %Y")) for month in months]

    def queryset(self, request, queryset):
        if not self.value():
            return queryset
        year, _, month = self.value().partition("-")
        if not (year.isdigit() and month.isdigit()):
            return queryset.none()
        return queryset.filter(month__year=int(year), month__month=int(month))


@admin.register(Invoice)
class InvoiceAdmin(InvoiceNotesAdminMixin, admin.ModelAdmin):
    list_display = [
        "number",
        "device_link",
        "month_label",
        "customer_email",
        "energy_kwh",
        "total",
        "status_link",
        "due_date",
        "paid_date",
        "emailed_at",
    ]
    list_filter = [MonthFilter, "status", "no_readings"]
    search_fields = ["number", "device__device_id", "customer_email", "customer_name"]
    list_select_related = ["device"]
    actions = ["record_open_amount", "resend_email", "regenerate_pdf"]
    fieldsets = [
        (
            None,
            {
                "fields": [
                    "number",
                    "device_link",
                    "month_label",
                    "status",
                    "created_at",
                    "due_date",
                    "paid_date",
                    "open_amount",
                    "pdf_link",
                    "billing_run",
                ]
            },
        ),
        ("Customer (as billed)", {"fields": ["customer", "customer_name", "customer_email", "customer_address"]}),
        (
            "Consumption",
            {
                "fields": [
                    "energy_kwh",
                    "start_register",
                    "end_register",
                    "first_reading_at",
                    "last_reading_at",
                    "reading_count",
                    "register_resets",
                    "no_readings",
                ]
            },
        ),
        ("Charges", {"fields": ["tariff", "slabs", "subtotal", "fixed_charge", "tax_rate", "tax", "total"]}),
        ("Delivery", {"fields": ["emailed_at", "reminder_sent_at"]}),
    ]
    # Everything is read-only: an issued invoice never changes (actions record payments and resends).
    readonly_fields = [name for _, options in fieldsets for name in options["fields"]]

    def has_add_permission(self, request):
        return False  # invoices come from billing runs only

    def has_delete_permission(self, request, obj=None):
        return False  # issued invoices are records; they are never deleted

    @admin.display(description="Meter", ordering="device__device_id")
    def device_link(self, invoice):
        url = reverse("admin:devices_device_change", args=[invoice.device_id])
        return format_html('<a href="{}">{}</a>', url, invoice.device.device_id)

    @admin.display(description="Month", ordering="month")
    def month_label(self, invoice):
        return invoice.month_label

    @admin.display(description="Status", ordering="status")
    def status_link(self, invoice):
        """A held bill's status links to its review page."""
        if not invoice.is_held:
            return invoice.get_status_display()
        url = reverse("admin:billing_heldinvoice_change", args=[invoice.pk])
        return format_html('<a href="{}">{}</a>', url, invoice.get_status_display())

    def changelist_view(self, request, extra_context=None):
        extra_context = {
            **(extra_context or {}),
            "held_count": Invoice.objects.filter(status=Invoice.Status.HELD).count(),
        }
        return super().changelist_view(request, extra_context)

    @admin.display(description="PDF")
    def pdf_link(self, invoice):
        url = reverse("admin:billing_invoice_pdf", args=[invoice.pk])
        return format_html('<a href="{}">Download {}</a>', url, invoice.pdf_filename)

    def get_urls(self):
        return [
            path("<int:pk>/pdf/", self.admin_site.admin_view(self.pdf_view), name="billing_invoice_pdf"),
            *super().get_urls(),
        ]

    def pdf_view(self, request, pk):
        invoice = get_object_or_404(Invoice.objects.select_related("device"), pk=pk)
        response = HttpResponse(invoice_pdf_bytes(invoice=invoice), content_type="application/pdf")
        response["Content-Disposition"] = content_disposition_header(as_attachment=True, filename=invoice.pdf_filename)
        return response

    @admin.display(description="Still to pay")
    def open_amount(self, invoice):
        if invoice.is_held or invoice.account_id is None:
            return "-"
        amount = invoice_open_amount(invoice=invoice)
        if amount <= 0:
            return format_inr(amount)
        url = record_payment_url(consumer_number=invoice.account.consumer_number, amount=amount)
        return format_html('{} <a href="{}">Record a payment</a>', format_inr(amount), url)

    @admin.action(description="Record payment of what is open (cash, today)")
    def record_open_amount(self, request, queryset):
        """A cash payment of each selected invoice's open amount, received today, through the payment service."""
        recorded, skipped = [], []
        for invoice in queryset.select_related("account").order_by("account", "month"):
            payment = None
            if invoice.status != Invoice.Status.HELD and invoice.account_id is not None:
                payment = invoice_mark_paid(invoice=invoice, actor=request.user)
            if payment is None:
                skipped.append(invoice.number)
            else:
                recorded.append(f"{payment.number} {format_inr(payment.amount)} for {invoice.number}")
        if recorded:
            self.message_user(request, f"{len(recorded)} payment(s) recorded: " + "; ".join(recorded) + ".")
        if skipped:
            self.message_user(request, "Nothing open on: " + ", ".join(skipped), messages.WARNING)

    @admin.action(description="Resend the invoice email")
    def resend_email(self, request, queryset):
        sent, failed = 0, []
        for invoice in queryset.select_related("device"):
            if invoice.is_held:
                failed.append(f"{invoice.number} (held for review: approve it to send it)")
                continue
            try:
                invoice_email_resend(invoice=invoice, actor=request.user)
                sent += 1
            except Exception as exc:  # report, keep going with the others
                failed.append(f"{invoice.number} ({exc})")
        if sent:
            self.message_user(request, f"{sent} email(s) sent.", messages.SUCCESS)
        if failed:
            self.message_user(request, "Not sent: " + "; ".join(failed), messages.ERROR)

    @admin.action(description="Regenerate the PDF (unpaid invoices only)")
    def regenerate_pdf(self, request, queryset):
        done, refused = 0, []
        for invoice in queryset.select_related("device"):
            try:
                invoice_regenerate_pdf(invoice=invoice, actor=request.user)
                done += 1
            except InvoiceAlreadyPaid:
                refused.append(invoice.number)
        if done:
            self.message_user(request, f"{done} PDF(s) regenerated.", messages.SUCCESS)
        if refused:
            self.message_user(request, "Paid invoices keep their PDF: " + ", ".join(refused), messages.WARNING)


class DeviceBillingAdmin(DeviceReadingsAdmin):
    """The meter admin with a link to the meter's invoices."""

    def related_links(self, obj) -> list[tuple[str, str]]:
        invoices = reverse("admin:billing_invoice_changelist")
        return [*super().related_links(obj), (f"{invoices}?device__id__exact={obj.pk}", "Invoices")]


admin.site.unregister(Device)
admin.site.register(Device, DeviceBillingAdmin)
