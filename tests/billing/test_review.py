"""Bills held for review: approving one (issued, emailed, due from the approval day), correcting its
closing read (priced again, still held), and the "Bills to review" admin that does both."""

from datetime import date, timedelta
from decimal import Decimal

import pytest
from django.core import mail

from billing.calculation import BillPart, calculate_split_bill, day_share
from billing.models import Invoice, Tariff
from billing.selectors import billing_today
from billing.services import InvoiceNotHeld, InvoiceReviewRefused, billing_run, invoice_approve, invoice_correct_closing
from ops import metrics
from tests.factories import DeviceFactory, TariffFactory
from tests.support.readings import ist, write_registers

pytestmark = pytest.mark.django_db


@pytest.fixture
def held(invoice_factory):
    """January 2025 held at 900 kWh: opening register 1000, closing 1900 (total 5782.00 under the seed tariff)."""
    return invoice_factory(held=True, energy_kwh="900")


def _audit(caplog, action):
    return [record for record in caplog.records if getattr(record, "action", "") == action]


# --- Approve ------------------------------------------------------------------------------


def test_approving_issues_the_bill_due_from_today_and_emails_it_once_committed(
    held, staff, customer, django_capture_on_commit_callbacks, caplog
):
    issued_before = metrics.INVOICES_ISSUED._value.get()
    held_pdf = held.pdf.name
    with caplog.at_level("INFO", logger="smartmeter.audit"):
        with django_capture_on_commit_callbacks(execute=True):
            invoice = invoice_approve(invoice=held, actor=staff)
            assert mail.outbox == []  # nothing leaves before the write commits
    invoice.refresh_from_db()
    assert invoice.status == Invoice.Status.ISSUED
    assert invoice.due_date == billing_today() + timedelta(days=15)
    assert invoice.reviewed_by == staff
    assert invoice.reviewed_at is not None
    assert invoice.emailed_at is not None
    assert [message.to for message in mail.outbox] == [[customer.email]]
    assert invoice.pdf.name
    assert invoice.pdf.storage.exists(invoice.pdf.name)
    assert invoice.pdf.name == held_pdf or not invoice.pdf.storage.exists(held_pdf)
    assert metrics.INVOICES_ISSUED._value.get() == issued_before + 1
    (line,) = _audit(caplog, "invoice.approve")
    assert line.actor == staff.email
    assert line.invoice_id == invoice.number
    assert line.total == "5782.00"


def test_only_a_held_bill_can_be_approved(invoice_factory, staff):
    issued = invoice_factory()
    with pytest.raises(InvoiceNotHeld, match="is not held for review"):
        invoice_approve(invoice=issued, actor=staff)
    issued.refresh_from_db()
    assert issued.status == Invoice.Status.ISSUED
    assert issued.reviewed_at is None


# --- Correct the closing read -------------------------------------------------------------


def test_correcting_the_closing_read_prices_the_bill_again_keeps_it_held_and_audits_it(held, staff, caplog):
    with caplog.at_level("INFO", logger="smartmeter.audit"):
        invoice = invoice_correct_closing(
            invoice=held, closing_register=Decimal("1250"), reason="Read on site by the lineman", actor=staff
        )
    invoice.refresh_from_db()
    assert invoice.status == Invoice.Status.HELD
    assert invoice.end_register == Decimal("1250.000")
    assert invoice.energy_kwh == Decimal("250.000")
    # The worked example of docs/billing.md: 100 @3.50 + 150 @4.50 + 50 fixed, 18 % tax.
    assert (invoice.subtotal, invoice.fixed_charge, invoice.tax, invoice.total) == (
        Decimal("1025.00"),
        Decimal("50.00"),
        Decimal("193.50"),
        Decimal("1268.50"),
    )
    assert [row["units"] for row in invoice.slabs] == ["100.000", "150.000", "0.000"]
    (line,) = _audit(caplog, "invoice.correct_closing")
    assert (line.old_closing_register, line.new_closing_register) == ("1900.000", "1250.000")
    assert (line.old_energy_kwh, line.new_energy_kwh) == ("900.000", "250.000")
    assert (line.old_total, line.new_total) == ("5782.00", "1268.50")
    assert line.reason == "Read on site by the lineman"
    assert line.actor == staff.email


def test_a_correction_keeps_the_adjustment_and_credit_and_carries_what_is_left(held, staff):
    Invoice.objects.filter(pk=held.pk).update(adjustment_amount=Decimal("-100.00"), credit_applied=Decimal("1200.00"))
    held.refresh_from_db()
    invoice = invoice_correct_closing(invoice=held, closing_register=Decimal("1250"), reason="site read", actor=staff)
    invoice.refresh_from_db()
    # 1268.50 - 100.00 = 1168.50 taken off the 1200.00 of credit: nothing to pay, 31.50 carried on.
    assert (invoice.adjustment_amount, invoice.credit_applied) == (Decimal("-100.00"), Decimal("1168.50"))
    assert (invoice.total, invoice.credit_carried) == (Decimal("0.00"), Decimal("31.50"))


def test_a_correction_after_a_reset_moves_the_energy_by_the_change_of_the_closing(held, staff):
    # 10000 -> reset -> 40 at the close: 900 kWh billed (the reset counted); the site read is 45.
    Invoice.objects.filter(pk=held.pk).update(start_register=Decimal("10000"), end_register=Decimal("40"))
    held.refresh_from_db()
    invoice = invoice_correct_closing(invoice=held, closing_register=Decimal("45"), reason="site read", actor=staff)
    assert (invoice.end_register, invoice.energy_kwh) == (Decimal("45"), Decimal("905.000"))


def test_a_correction_of_a_split_month_moves_its_last_part(customer, seed_tariff, staff):
    dearer = TariffFactory(
        slabs=[
            {"range_start": 0, "range_end": 100, "rate": "4.00"},
            {"range_start": 101, "range_end": None, "rate": "5.00"},
        ],
        fixed_charge="62.00",
        effective_from=date(2025, 1, 15),
    )
    Tariff.objects.filter(pk=dearer.pk).update(review_ceiling=Decimal("1.00"))  # every bill held
    device = DeviceFactory(owner=customer)
    write_registers(device.device_id, [(ist(2025, 1, 1), "0"), (ist(2025, 1, 15), "140"), (ist(2025, 2, 1), "310")])
    billing_run(month=date(2025, 1, 1), now=ist(2025, 2, 1, 1))
    held = Invoice.objects.get(device=device)
    assert held.status == Invoice.Status.HELD
    assert [part["energy_kwh"] for part in held.parts] == ["140.000", "170.000"]

    invoice = invoice_correct_closing(invoice=held, closing_register=Decimal("320"), reason="site read", actor=staff)

    assert [part["energy_kwh"] for part in invoice.parts] == ["140.000", "180.000"]
    assert invoice.energy_kwh == Decimal("180.000") + Decimal("140.000")
    whole, _ = calculate_split_bill(
        [
            BillPart(Decimal(140), seed_tariff.terms(), day_share(14, 31), day_share(14, 31)),
            BillPart(Decimal(180), dearer.terms(), day_share(17, 31), day_share(17, 31)),
        ]
    )
    assert (invoice.subtotal, invoice.tax, invoice.total) == (whole.subtotal, whole.tax, whole.total)


@pytest.mark.parametrize(
    ("register", "reason", "message"),
    [
        (Decimal("1250"), "  ", "Say why the closing read is corrected"),
        (Decimal("-1"), "site read", "must be 0 kWh or more"),
        (
            Decimal("999.5"),
            "site read",
            "below the opening register of 1000.000 kWh: the month's energy would be -0.500",
        ),
    ],
)
def test_a_correction_is_refused_with_a_precise_reason(held, staff, register, reason, message):
    with pytest.raises(InvoiceReviewRefused, match=message):
        invoice_correct_closing(invoice=held, closing_register=register, reason=reason, actor=staff)
    held.refresh_from_db()
    assert held.end_register == Decimal("1900.000")
    assert held.energy_kwh == Decimal("900.000")


def test_a_correction_needs_an_opening_register_and_a_held_bill(held, invoice_factory, staff):
    Invoice.objects.filter(pk=held.pk).update(start_register=None, end_register=None)
    with pytest.raises(InvoiceReviewRefused, match="has no opening register"):
        invoice_correct_closing(invoice=held, closing_register=Decimal("5"), reason="site read", actor=staff)
    issued = invoice_factory(month=held.month.replace(month=2))
    with pytest.raises(InvoiceNotHeld):
        invoice_correct_closing(invoice=issued, closing_register=Decimal("5000"), reason="site read", actor=staff)


# --- The "Bills to review" admin -------------------------------------------------------------


def test_the_queue_lists_only_held_bills_with_their_reasons_and_average(staff_client, invoice_factory, held):
    december = invoice_factory(month=held.month.replace(year=2024, month=12), energy_kwh="200")  # issued: not listed
    invoice_factory(month=held.month.replace(year=2024, month=11), energy_kwh="100")
    page = staff_client.get("/admin/billing/heldinvoice/")
    assert page.status_code == 200
    html = page.content.decode()
    assert held.number in html
    assert december.number not in html
    assert "more than 3 times the trailing average" in html
    assert "150.000" in html  # the mean of November's and December's bills
    assert "/admin/billing/heldinvoice/add/" not in html


def test_a_customer_is_refused_the_review_pages(client, customer, held):
    client.force_login(customer)
    for response in (
        client.get("/admin/billing/heldinvoice/"),
        client.get(f"/admin/billing/heldinvoice/{held.pk}/change/"),
        client.post(f"/admin/billing/heldinvoice/{held.pk}/approve/"),
        client.post(f"/admin/billing/heldinvoice/{held.pk}/correct/", {"closing_register": "1", "reason": "x"}),
    ):
        assert response.status_code == 302
        assert "/admin/login/" in response["Location"]
    held.refresh_from_db()
    assert held.status == Invoice.Status.HELD
    assert held.end_register == Decimal("1900.000")
    assert mail.outbox == []


def test_the_review_page_draws_the_registers_with_the_left_out_reading_and_no_inline_style(
    staff_client, seed_tariff, device
):
    from tests.factories import InvoiceFactory

    points = [(ist(2025, 1, 1) + timedelta(hours=6 * n), 1000 + 5 * n) for n in range(120)]
    points[40] = (points[40][0], 9000)  # a glitch the bill left out
    write_registers(device.device_id, points)
    invoice = InvoiceFactory(
        device=device,
        held=True,
        energy_kwh="595",
        excluded_readings=[
            {"timestamp": points[40][0].isoformat(), "register": "9000.000", "kind": "glitch", "reason": "jump"}
        ],
    )
    page = staff_client.get(f"/admin/billing/heldinvoice/{invoice.pk}/change/")
    assert page.status_code == 200
    html = page.content.decode()
    chart = html.index('<svg class="sm-register-chart"')
    svg = html[chart : html.index("</svg>", chart)]
    assert "<polyline" in svg
    assert svg.count('class="sm-excluded"') == 1
    assert "glitch 9000.000 kWh" in svg
    assert 'class="sm-opening"' in svg
    assert 'class="sm-closing"' in svg
    assert "style=" not in svg
    assert "<script" not in html.split("</header>", 1)[-1]
    assert "Approve and send" in html
    assert "Correct closing read" in html


def test_approve_and_send_from_the_review_page_emails_the_customer(
    staff_client, staff, customer, held, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = staff_client.post(f"/admin/billing/heldinvoice/{held.pk}/approve/")
    assert response.status_code == 302
    held.refresh_from_db()
    assert held.status == Invoice.Status.ISSUED
    assert held.reviewed_by == staff
    assert [message.to for message in mail.outbox] == [[customer.email]]
    # Approved, it leaves the queue; its old review address leads to the invoice.
    again = staff_client.get(f"/admin/billing/heldinvoice/{held.pk}/change/")
    assert again.status_code == 302
    assert again["Location"].endswith(f"/admin/billing/invoice/{held.pk}/change/")


def test_correct_closing_read_from_the_review_page_recomputes_and_audits(staff_client, staff, held, caplog):
    url = f"/admin/billing/heldinvoice/{held.pk}/correct/"
    refused = staff_client.post(url, {"closing_register": "999", "reason": "site read"})
    assert refused.status_code == 400
    assert "below the opening register" in refused.content.decode()
    with caplog.at_level("INFO", logger="smartmeter.audit"):
        response = staff_client.post(url, {"closing_register": "1250", "reason": "Read on site"})
    assert response.status_code == 302
    held.refresh_from_db()
    assert (held.status, held.energy_kwh, held.total) == (Invoice.Status.HELD, Decimal("250.000"), Decimal("1268.50"))
    (line,) = _audit(caplog, "invoice.correct_closing")
    assert line.reason == "Read on site"
    assert line.actor == staff.email
    assert mail.outbox == []


def test_the_invoice_list_links_held_bills_to_the_queue(staff_client, held):
    html = staff_client.get("/admin/billing/invoice/").content.decode()
    assert 'id="bills-to-review"' in html
    assert "Bills to review: 1" in html
    assert f'href="/admin/billing/heldinvoice/{held.pk}/change/"' in html
    filtered = staff_client.get("/admin/billing/invoice/?status__exact=held").content.decode()
    assert held.number in filtered
