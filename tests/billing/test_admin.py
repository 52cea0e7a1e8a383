"""The billing admin: tariff versions, invoice filters and actions, billing runs, and the schedules it shows."""

from datetime import date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from django.core import mail
from django_q.models import Schedule

from billing.admin import COPIED_FIELDS
from billing.models import BillingRun, Invoice, Payment, Tariff
from tests.factories import BillingRunFactory, TariffFactory

pytestmark = pytest.mark.django_db

# The billing jobs as the app expects them scheduled (billing 0002 and 0005 write them out
# literally; a change needs a new migration, and this list with it).
SCHEDULES = [
    {"name": "billing: monthly run", "func": "billing.tasks.run_monthly_billing", "cron": "5 * * * *"},
    {"name": "billing: mark overdue invoices", "func": "billing.tasks.mark_overdue_invoices", "cron": "30 0 * * *"},
]


def test_tariff_versions_are_listed_and_a_saved_version_is_read_only(staff_client, seed_tariff):
    listing = staff_client.get("/admin/billing/tariff/")
    assert listing.status_code == 200
    assert "0-100 @ 3.50, 101-300 @ 4.50, 301+ @ 6.00" in listing.content.decode()
    page = staff_client.get(f"/admin/billing/tariff/{seed_tariff.pk}/change/")
    assert page.status_code == 200
    assert 'name="fixed_charge"' not in page.content.decode()  # shown, not editable
    before = Tariff.objects.get().fixed_charge
    staff_client.post(f"/admin/billing/tariff/{seed_tariff.pk}/change/", {"fixed_charge": "99.00"})
    assert Tariff.objects.get().fixed_charge == before


def _tariff_form(
    effective_from,
    slabs,
    fixed_charge="50.00",
    tax_rate="18",
    review_ceiling="",
    tax_label="GST",
    late_fee="0.015",
    **terms,
):
    data = {
        "effective_from": effective_from,
        "slab_style": "telescopic",
        "fixed_charge": fixed_charge,
        "fixed_charge_basis": "per_connection",
        "minimum_charge": "",
        **terms,
        "tax_rate": tax_rate,
        "tax_label": tax_label,
        "late_fee_rate": late_fee,
        "description": "",
        "estimate_default_kwh": "100",
        "review_ceiling": review_ceiling,
        "slabs-TOTAL_FORMS": str(len(slabs)),
        "slabs-INITIAL_FORMS": "0",
        "slabs-MIN_NUM_FORMS": "1",
        "slabs-MAX_NUM_FORMS": "1000",
    }
    for index, (start, end, rate) in enumerate(slabs):
        data.update({f"slabs-{index}-range_start": start, f"slabs-{index}-range_end": end, f"slabs-{index}-rate": rate})
    return data


def test_staff_add_a_tariff_version_in_the_admin_through_the_same_rules(staff_client, staff):
    good = _tariff_form(
        "2031-01-01", [("0", "100", "3.50"), ("101", "300", "4.50"), ("301", "", "6.00")], review_ceiling="5000.00"
    )
    response = staff_client.post("/admin/billing/tariff/add/", good)
    assert response.status_code == 302, response.content.decode()[:2000]
    tariff = Tariff.objects.get()
    assert [str(slab) for slab in tariff.slabs.all()] == ["0-100 @ 3.50", "101-300 @ 4.50", "301+ @ 6.00"]
    assert tariff.created_by == staff
    assert (tariff.estimate_default_kwh, tariff.review_ceiling) == (Decimal("100.000"), Decimal("5000.00"))
    no_ceiling = staff_client.post(
        "/admin/billing/tariff/add/", _tariff_form("2033-01-01", [("0", "", "3.50")], review_ceiling="0")
    ).content.decode()
    assert "The review ceiling must be above 0 (leave it empty for none)." in no_ceiling

    gap = _tariff_form("2032-01-01", [("0", "100", "3.50"), ("150", "", "4.50")])
    response = staff_client.post("/admin/billing/tariff/add/", gap)
    assert response.status_code == 200
    assert "a gap after slab 1" in response.content.decode()
    taken = _tariff_form("2031-01-01", [("0", "", "3.50")], tax_rate="150")
    body = staff_client.post("/admin/billing/tariff/add/", taken).content.decode()
    assert "A version already starts on 1 Jan 2031: edit it or pick another date." in body
    assert "The tax must be between 0 and 100 percent (150 was entered)." in body
    assert Tariff.objects.count() == 1


def test_staff_name_the_tax_line_and_set_the_late_payment_rate_in_the_admin(staff_client):
    duty = _tariff_form("2031-01-01", [("0", "", "3.50")], tax_rate="5", tax_label="Electricity duty", late_fee="0.02")
    response = staff_client.post("/admin/billing/tariff/add/", duty)
    assert response.status_code == 302, response.content.decode()[:2000]
    tariff = Tariff.objects.get()
    assert (tariff.tax_rate, tariff.tax_label, tariff.late_fee_rate) == (
        Decimal("0.0500"),
        "Electricity duty",
        Decimal("0.0200"),
    )

    too_high = _tariff_form("2032-01-01", [("0", "", "3.50")], tax_label="x" * 41, late_fee="0.12")
    body = staff_client.post("/admin/billing/tariff/add/", too_high).content.decode()
    assert "The late-payment rate must be between 0 and 0.10 a month" in body
    assert "at most 40 characters" in body
    assert Tariff.objects.count() == 1


def test_staff_set_the_slab_style_fixed_charge_basis_and_minimum_charge_in_the_admin(staff_client):
    page = staff_client.get("/admin/billing/tariff/add/").content.decode()
    assert "Non-telescopic" in page
    assert "Per kW of sanctioned load" in page
    per_kw = _tariff_form(
        "2031-01-01",
        [("0", "", "3.50")],
        fixed_charge="40.00",
        slab_style="non_telescopic",
        fixed_charge_basis="per_kw",
        minimum_charge="150.00",
    )
    response = staff_client.post("/admin/billing/tariff/add/", per_kw)
    assert response.status_code == 302, response.content.decode()[:2000]
    tariff = Tariff.objects.get()
    assert (tariff.slab_style, tariff.fixed_charge_basis, tariff.minimum_charge) == (
        "non_telescopic",
        "per_kw",
        Decimal("150.00"),
    )
    negative = _tariff_form("2032-01-01", [("0", "", "3.50")], minimum_charge="-1")
    body = staff_client.post("/admin/billing/tariff/add/", negative).content.decode()
    assert "The minimum charge must not be negative." in body
    assert Tariff.objects.count() == 1


def test_staff_enter_and_read_the_tax_as_a_percentage(staff_client):
    response = staff_client.post("/admin/billing/tariff/add/", _tariff_form("2031-01-01", [("0", "", "3.50")]))
    assert response.status_code == 302, response.content.decode()[:2000]
    tariff = Tariff.objects.get()
    tariff.refresh_from_db()
    assert str(tariff.tax_rate) == "0.1800"
    listing = staff_client.get("/admin/billing/tariff/").content.decode()
    assert '<td class="field-tax_percent">18</td>' in listing
    page = staff_client.get(f"/admin/billing/tariff/{tariff.pk}/change/").content.decode()
    assert "Tax (%)" in page

    for entered in ("150", "-1"):
        body = staff_client.post(
            "/admin/billing/tariff/add/", _tariff_form("2032-01-01", [("0", "", "3.50")], tax_rate=entered)
        ).content.decode()
        assert f"The tax must be between 0 and 100 percent ({entered} was entered)." in body
    assert Tariff.objects.count() == 1


def test_copying_a_version_prefills_the_add_form_with_all_its_terms_but_its_date(staff_client):
    source = TariffFactory(
        effective_from=date(2026, 1, 1),
        slab_style="non_telescopic",
        fixed_charge=Decimal("40.00"),
        fixed_charge_basis="per_kw",
        minimum_charge=Decimal("150.00"),
        tax_rate=Decimal("0.0500"),
        tax_label="Electricity duty",
        late_fee_rate=Decimal("0.0200"),
        description="2026 schedule",
        estimate_default_kwh=Decimal("120.000"),
        review_ceiling=Decimal("9000.00"),
    )
    change_page = staff_client.get(f"/admin/billing/tariff/{source.pk}/change/").content.decode()
    assert f'href="/admin/billing/tariff/add/?copy_from={source.pk}" id="copy-tariff"' in change_page
    action = staff_client.post(
        "/admin/billing/tariff/", {"action": "copy_as_new_version", "_selected_action": [str(source.pk)]}
    )
    assert action.status_code == 302
    assert action["Location"] == f"/admin/billing/tariff/add/?copy_from={source.pk}"

    form = staff_client.get(action["Location"]).context["adminform"].form
    slabs = staff_client.get(action["Location"]).context["inline_admin_formsets"][0].formset
    assert form.initial["tax_rate"] == Decimal("5")
    assert {name: form.initial[name] for name in COPIED_FIELDS if name != "tax_rate"} == {
        "slab_style": "non_telescopic",
        "fixed_charge": Decimal("40.00"),
        "fixed_charge_basis": "per_kw",
        "minimum_charge": Decimal("150.00"),
        "tax_label": "Electricity duty",
        "late_fee_rate": Decimal("0.0200"),
        "description": "2026 schedule",
        "estimate_default_kwh": Decimal("120.000"),
        "review_ceiling": Decimal("9000.00"),
    }
    assert form["effective_from"].value() is None
    rows = [(f.initial.get("range_start"), f.initial.get("range_end"), f.initial.get("rate")) for f in slabs.forms]
    assert rows == [(0, 100, Decimal("3.50")), (101, 300, Decimal("4.50")), (301, None, Decimal("6.00")), (None,) * 3]


def test_saving_a_copy_with_a_new_date_creates_a_version_with_identical_slabs(staff_client):
    source = TariffFactory(effective_from=date(2026, 1, 1))
    page = staff_client.get(f"/admin/billing/tariff/add/?copy_from={source.pk}")
    form = page.context["adminform"].form
    data = {name: ("" if form[name].value() is None else form[name].value()) for name in COPIED_FIELDS}
    slabs = [
        (str(s.range_start), "" if s.range_end is None else str(s.range_end), str(s.rate)) for s in source.slabs.all()
    ]
    post = {**_tariff_form("2026-04-01", slabs), **data, "effective_from": "2026-04-01"}
    response = staff_client.post(f"/admin/billing/tariff/add/?copy_from={source.pk}", post)
    assert response.status_code == 302, response.content.decode()[:3000]
    copy = Tariff.objects.get(effective_from=date(2026, 4, 1))
    assert copy.terms() == source.terms()
    assert [str(slab) for slab in copy.slabs.all()] == [str(slab) for slab in source.slabs.all()]

    again = staff_client.post(f"/admin/billing/tariff/add/?copy_from={source.pk}", post).content.decode()
    assert "A version already starts on 1 Apr 2026: edit it or pick another date." in again
    assert Tariff.objects.count() == 2


def test_a_version_in_an_invoiced_month_is_refused_saying_issued_invoices_are_not_re_priced(
    staff_client, invoice_factory
):
    invoice_factory(month=date(2026, 3, 1))
    body = staff_client.post(
        "/admin/billing/tariff/add/", _tariff_form("2026-03-15", [("0", "", "3.50")])
    ).content.decode()
    assert "Mar 2026 already has issued invoices under the tariff in force then" in body
    assert "issued invoices are never re-priced, so a version cannot start on 15 Mar 2026" in body
    assert "Pick 1 Apr 2026 or later." in body
    assert "use Re-rate this month" in body
    mid_month = staff_client.post("/admin/billing/tariff/add/", _tariff_form("2026-04-15", [("0", "", "3.50")]))
    assert mid_month.status_code == 302  # a version may start mid-month, splitting it
    assert Tariff.objects.filter(effective_from=date(2026, 4, 15)).exists()


def test_a_slab_gap_is_refused_naming_the_rows(staff_client):
    gap = _tariff_form("2032-01-01", [("0", "100", "3.50"), ("150", "", "4.50")])
    body = staff_client.post("/admin/billing/tariff/add/", gap).content.decode()
    assert "Slab 2 starts at 150: a gap after slab 1, which ends at 100; it must start at 101." in body
    page = staff_client.get("/admin/billing/tariff/add/").content.decode()
    assert "From (kWh)" in page
    assert "Empty: open-ended (the last slab)." in page
    assert not Tariff.objects.exists()


def test_invoices_filter_by_month_and_status(staff_client, invoice_factory):
    january = invoice_factory(month=date(2025, 1, 1))
    february = invoice_factory(month=date(2025, 2, 1))
    Invoice.objects.filter(pk=february.pk).update(status=Invoice.Status.OVERDUE)
    page = staff_client.get("/admin/billing/invoice/?month=2025-02").content.decode()
    assert february.number in page
    assert january.number not in page
    page = staff_client.get("/admin/billing/invoice/?status__exact=issued").content.decode()
    assert january.number in page
    assert february.number not in page
    assert staff_client.get("/admin/billing/invoice/?month=garbage").status_code == 200


def _action(staff_client, action, invoices):
    return staff_client.post(
        "/admin/billing/invoice/",
        {"action": action, "_selected_action": [invoice.pk for invoice in invoices]},
        follow=True,
    )


def test_the_record_open_amount_action_records_a_numbered_payment_and_audits_it(
    staff_client, invoice_factory, staff, caplog
):
    invoice = invoice_factory()
    with caplog.at_level("INFO", logger="smartmeter.audit"):
        response = _action(staff_client, "record_open_amount", [invoice])
    payment = Payment.objects.get()
    assert payment.number.startswith("RCT-")
    assert (payment.amount, payment.method, payment.account) == (Decimal("1268.50"), "cash", invoice.account)
    assert f"1 payment(s) recorded: {payment.number} ₹1,268.50 for {invoice.number}." in response.content.decode()
    invoice.refresh_from_db()
    assert invoice.status == Invoice.Status.PAID
    assert invoice.paid_date == payment.received_on
    audit = [r for r in caplog.records if getattr(r, "action", "") == "payment.record"]
    assert audit[0].actor == staff.email
    assert audit[0].receipt == payment.number
    again = _action(staff_client, "record_open_amount", [invoice])
    assert f"Nothing open on: {invoice.number}" in again.content.decode()
    assert Payment.objects.count() == 1


def test_resend_email_action_sends_the_invoice_again(staff_client, invoice_factory):
    invoice = invoice_factory()
    _action(staff_client, "resend_email", [invoice])
    assert len(mail.outbox) == 1
    assert mail.outbox[0].to == [invoice.customer_email]


def test_regenerate_pdf_action_only_touches_unpaid_invoices(staff_client, invoice_factory):
    unpaid = invoice_factory(month=date(2025, 1, 1))
    paid = invoice_factory(month=date(2025, 2, 1))
    Invoice.objects.filter(pk=paid.pk).update(status=Invoice.Status.PAID)
    Path(unpaid.pdf.path).unlink()
    paid_pdf = Path(paid.pdf.path).read_bytes()
    response = _action(staff_client, "regenerate_pdf", [unpaid, paid])
    page = response.content.decode()
    assert "1 PDF(s) regenerated." in page
    assert f"Paid invoices keep their PDF: {paid.number}" in page
    unpaid.refresh_from_db()
    assert Path(unpaid.pdf.path).read_bytes().startswith(b"%PDF-")
    assert Path(paid.pdf.path).read_bytes() == paid_pdf


def test_staff_download_an_invoice_pdf_from_the_admin(staff_client, invoice_factory):
    invoice = invoice_factory()
    page = staff_client.get(f"/admin/billing/invoice/{invoice.pk}/change/")
    assert page.status_code == 200
    assert f"/admin/billing/invoice/{invoice.pk}/pdf/" in page.content.decode()
    assert "1268.50" in page.content.decode()
    response = staff_client.get(f"/admin/billing/invoice/{invoice.pk}/pdf/")
    assert response.status_code == 200
    assert response["Content-Type"] == "application/pdf"
    assert staff_client.get("/admin/billing/invoice/999999/pdf/").status_code == 404


def test_customers_cannot_reach_the_billing_admin(client, customer, invoice_factory):
    invoice = invoice_factory()
    client.force_login(customer)
    assert client.get("/admin/billing/invoice/").status_code == 302
    assert client.get(f"/admin/billing/invoice/{invoice.pk}/pdf/").status_code == 302


def test_billing_runs_are_visible_and_read_only(staff_client):
    run = BillingRunFactory(month=date(2025, 1, 1), status=BillingRun.Status.FINISHED, billed=3)
    assert staff_client.get("/admin/billing/billingrun/").status_code == 200
    assert staff_client.get(f"/admin/billing/billingrun/{run.pk}/change/").status_code == 200
    assert staff_client.get("/admin/billing/billingrun/add/").status_code == 403


def test_the_migration_wakes_the_billing_run_hourly_at_five_past_in_the_billing_time_zone(staff_client):
    schedules = {schedule.name: schedule for schedule in Schedule.objects.all()}
    monthly = schedules["billing: monthly run"]
    assert monthly.func == "billing.tasks.run_monthly_billing"
    assert monthly.cron == "5 * * * *"
    local = monthly.next_run.astimezone(ZoneInfo("Asia/Kolkata"))
    assert local.minute == 5
    assert monthly.next_run - datetime.now(tz=ZoneInfo("UTC")) <= timedelta(hours=1)
    assert monthly.next_run > datetime.now(tz=ZoneInfo("UTC"))
    daily = schedules["billing: mark overdue invoices"]
    assert daily.func == "billing.tasks.mark_overdue_invoices"
    assert {spec["name"] for spec in SCHEDULES} <= set(schedules)
    assert "billing: monthly run" in staff_client.get("/admin/django_q/schedule/").content.decode()


def test_the_migrated_schedules_are_the_ones_billing_declares(db):
    for spec in SCHEDULES:
        schedule = Schedule.objects.get(name=spec["name"])
        assert (schedule.func, schedule.schedule_type, schedule.cron, schedule.repeats) == (
            spec["func"],
            Schedule.CRON,
            spec["cron"],
            -1,
        )


def test_django_q_computes_the_following_runs_in_the_billing_time_zone(settings):
    from django_q.conf import Conf

    assert Conf.TIME_ZONE == settings.BILLING_TIME_ZONE
    zone = ZoneInfo(settings.BILLING_TIME_ZONE)
    monthly = Schedule.objects.get(name="billing: monthly run")
    # Five past the hour in India is 35 past in UTC: the half-hour offset shows the zone is used.
    assert monthly.calculate_next_run().astimezone(zone).minute == 5
    daily = Schedule.objects.get(name="billing: mark overdue invoices")
    following = daily.calculate_next_run().astimezone(zone)
    assert (following.hour, following.minute) == (0, 30)
