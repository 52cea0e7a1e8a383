"""Invoice emails: sent once after the invoice commits, text + HTML with the PDF attached, over real SMTP."""

from datetime import date, timedelta

import pytest
from django.core import mail
from django.db import transaction

from billing.models import Invoice
from billing.services import invoice_email_issued, invoice_issue, invoices_mark_overdue
from billing.services.invoices import invoice_email_resend
from tests.support.network import free_port
from tests.support.readings import consumption

pytestmark = pytest.mark.django_db


def issue(device, tariff, month=date(2025, 1, 1), energy="250"):
    return invoice_issue(device=device, month=month, consumption=consumption(device.device_id, energy), tariff=tariff)


def test_issuing_an_invoice_emails_it_with_the_pdf_over_real_smtp(
    smtp_server, device, seed_tariff, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        invoice, created = issue(device, seed_tariff)
    assert created
    assert len(smtp_server.messages) == 1
    recipients, message = smtp_server.messages[0]
    assert recipients == ["asha@example.com"]
    assert message["Subject"] == "Your electricity bill for January 2025: ₹1,268.50 due " + invoice.due_date.strftime(
        "%-d %b %Y"
    )
    text = message.get_body(preferencelist=("plain",)).get_content()
    html = message.get_body(preferencelist=("html",)).get_content()
    assert "Dear Asha Rao" in text
    assert "₹1,268.50" in text
    assert "250 kWh" in text
    assert "<strong>₹1,268.50</strong>" in html
    attachments = list(message.iter_attachments())
    assert [(part.get_filename(), part.get_content_type()) for part in attachments] == [
        (f"invoice-{invoice.number}.pdf", "application/pdf")
    ]
    pdf = attachments[0].get_content()
    assert pdf.startswith(b"%PDF-")
    invoice.refresh_from_db()
    with invoice.pdf.open("rb") as stored:
        assert stored.read() == pdf
    assert invoice.emailed_at is not None


def test_the_email_waits_for_the_commit_and_a_rolled_back_issue_sends_nothing(
    device, seed_tariff, django_capture_on_commit_callbacks
):
    def issue_then_fail():
        with transaction.atomic():
            issue(device, seed_tariff)
            assert mail.outbox == []  # not before the commit
            raise RuntimeError("the surrounding transaction fails")

    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        with pytest.raises(RuntimeError):
            issue_then_fail()
    assert callbacks == []
    assert mail.outbox == []
    assert not Invoice.objects.exists()


def test_issuing_twice_emails_once(device, seed_tariff, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        first, created = issue(device, seed_tariff)
    with django_capture_on_commit_callbacks(execute=True):
        again, created_again = issue(device, seed_tariff)
    assert (created, created_again) == (True, False)
    assert again.pk == first.pk
    assert len(mail.outbox) == 1
    assert invoice_email_issued(invoice_id=first.pk) is False
    assert len(mail.outbox) == 1


def test_a_failed_send_is_released_for_the_next_attempt(device, seed_tariff, settings):
    invoice, _ = issue(device, seed_tariff)
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT, settings.EMAIL_TIMEOUT = "127.0.0.1", free_port(), 2  # nobody listens
    assert invoice_email_issued(invoice_id=invoice.pk) is False
    invoice.refresh_from_db()
    assert invoice.emailed_at is None
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    assert invoice_email_issued(invoice_id=invoice.pk) is True
    assert len(mail.outbox) == 1


def test_staff_can_resend_an_invoice_email(device, seed_tariff, staff):
    invoice, _ = issue(device, seed_tariff)
    invoice_email_resend(invoice=invoice, actor=staff)
    invoice_email_resend(invoice=invoice, actor=staff)
    assert len(mail.outbox) == 2
    assert mail.outbox[0].attachments[0][0] == invoice.pdf_filename


def test_unpaid_invoices_past_due_become_overdue_with_one_reminder_a_stage(device, seed_tariff, smtp_server):
    overdue, _ = issue(device, seed_tariff, month=date(2025, 1, 1))
    paid, _ = issue(device, seed_tariff, month=date(2025, 2, 1))
    current, _ = issue(device, seed_tariff, month=date(2025, 3, 1))
    Invoice.objects.filter(pk__in=[overdue.pk, paid.pk]).update(due_date=date(2025, 2, 15))
    Invoice.objects.filter(pk=paid.pk).update(status=Invoice.Status.PAID, paid_date=date(2025, 2, 10))
    Invoice.objects.filter(pk=current.pk).update(due_date=date(2025, 4, 15))

    first = invoices_mark_overdue(today=date(2025, 2, 16))
    second = invoices_mark_overdue(today=date(2025, 2, 17))

    assert first == {"marked_overdue": 1, "reminders_sent": 1, "reminders_failed": 0}
    assert second == {"marked_overdue": 0, "reminders_sent": 0, "reminders_failed": 0}
    statuses = dict(Invoice.objects.values_list("pk", "status"))
    assert statuses == {overdue.pk: "overdue", paid.pk: "paid", current.pk: "issued"}
    assert len(smtp_server.messages) == 1
    recipients, message = smtp_server.messages[0]
    assert message["Subject"] == f"Reminder: invoice {overdue.number} (₹1,268.50) was due 15 Feb 2025"
    assert [part.get_filename() for part in message.iter_attachments()] == [
        f"statement-{overdue.consumer_number}-2025-02-16.pdf"
    ]


def test_an_invoice_due_today_is_not_overdue_yet(device, seed_tariff):
    invoice, _ = issue(device, seed_tariff)
    assert invoices_mark_overdue(today=invoice.due_date)["marked_overdue"] == 0
    assert invoices_mark_overdue(today=invoice.due_date + timedelta(days=1))["marked_overdue"] == 1
