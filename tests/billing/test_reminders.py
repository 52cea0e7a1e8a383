"""Payment reminders: before the due date, after it and a final notice, each once per invoice, over daily runs."""

from datetime import date, timedelta

import pytest
from django.core import mail

from billing.models import Invoice, Reminder
from billing.selectors import billing_today
from billing.services import invoices_mark_overdue
from billing.services.reminders import reminder_stage
from billing.tasks import mark_overdue_invoices
from tests.support.network import free_port

pytestmark = pytest.mark.django_db

DUE = date(2025, 2, 15)


@pytest.fixture
def invoice(invoice_factory):
    issued = invoice_factory(month=date(2025, 1, 1))
    Invoice.objects.filter(pk=issued.pk).update(due_date=DUE)
    issued.refresh_from_db()
    return issued


def run_days(first: date, last: date) -> list[dict]:
    outcomes = []
    day = first
    while day <= last:
        outcomes.append((day, invoices_mark_overdue(today=day)))
        day += timedelta(days=1)
    return outcomes


def test_the_stage_follows_the_days_to_or_past_the_due_date():
    assert reminder_stage(due_date=DUE, today=DUE - timedelta(4)) is None
    assert reminder_stage(due_date=DUE, today=DUE - timedelta(3)) == "before_due"
    assert reminder_stage(due_date=DUE, today=DUE) == "before_due"
    assert reminder_stage(due_date=DUE, today=DUE + timedelta(1)) == "after_due"
    assert reminder_stage(due_date=DUE, today=DUE + timedelta(29)) == "after_due"
    assert reminder_stage(due_date=DUE, today=DUE + timedelta(30)) == "final"


def test_each_stage_is_sent_once_over_daily_runs(invoice):
    outcomes = run_days(DUE - timedelta(10), DUE + timedelta(45))
    sent_on = [day for day, outcome in outcomes if outcome["reminders_sent"]]
    assert sent_on == [DUE - timedelta(3), DUE + timedelta(1), DUE + timedelta(30)]
    assert all(outcome["reminders_failed"] == 0 for _, outcome in outcomes)
    assert [message.subject for message in mail.outbox] == [
        f"Your electricity bill {invoice.number} (₹1,268.50) is due on 15 Feb 2025",
        f"Reminder: invoice {invoice.number} (₹1,268.50) was due 15 Feb 2025",
        f"Final notice: invoice {invoice.number} (₹1,268.50) is 30 days overdue",
    ]
    assert {message.to[0] for message in mail.outbox} == {"asha@example.com"}
    for message in mail.outbox:
        [(filename, content, mimetype)] = message.attachments
        assert filename.startswith(f"statement-{invoice.consumer_number}-")
        assert (content[:5], mimetype) == (b"%PDF-", "application/pdf")
        assert "Still to pay: ₹1,268.50" in message.body
        assert invoice.consumer_number in message.body
    assert "in 3 days" in mail.outbox[0].body
    assert "FINAL NOTICE" in mail.outbox[2].body
    stages = list(Reminder.objects.filter(invoice=invoice).order_by("sent_at").values_list("stage", flat=True))
    assert stages == ["before_due", "after_due", "final"]
    invoice.refresh_from_db()
    assert invoice.status == Invoice.Status.OVERDUE
    assert invoice.reminder_sent_at == Reminder.objects.get(invoice=invoice, stage="final").sent_at


def test_an_invoice_first_seen_long_overdue_gets_only_the_final_notice(invoice):
    run_days(DUE + timedelta(40), DUE + timedelta(42))
    assert [message.subject.split(":")[0] for message in mail.outbox] == ["Final notice"]
    assert list(Reminder.objects.values_list("stage", flat=True)) == ["final"]


def test_an_earlier_stage_is_not_sent_after_a_later_one(invoice):
    Reminder.objects.create(invoice=invoice, stage=Reminder.Stage.AFTER_DUE)
    assert invoices_mark_overdue(today=DUE - timedelta(1))["reminders_sent"] == 0
    assert invoices_mark_overdue(today=DUE + timedelta(5))["reminders_sent"] == 0
    assert mail.outbox == []


def test_paid_and_held_invoices_and_customers_without_invoice_emails_get_none(invoice_factory, other_customer):
    from tests.factories import DeviceFactory

    paid = invoice_factory(month=date(2025, 1, 1), status=Invoice.Status.PAID, paid_date=date(2025, 2, 10))
    held = invoice_factory(month=date(2025, 2, 1), held=True)
    other_customer.receive_invoice_emails = False
    other_customer.save(update_fields=["receive_invoice_emails"])
    opted_out = invoice_factory(
        month=date(2025, 1, 1), device=DeviceFactory(device_id="meter-ravi", owner=other_customer)
    )
    Invoice.objects.filter(pk__in=[paid.pk, held.pk, opted_out.pk]).update(due_date=DUE)
    outcomes = run_days(DUE - timedelta(5), DUE + timedelta(35))
    assert sum(outcome["reminders_sent"] for _, outcome in outcomes) == 0
    assert mail.outbox == []
    assert not Reminder.objects.exists()


def test_an_invoice_paid_after_the_first_reminder_gets_no_more(invoice):
    from billing.services import invoice_mark_paid

    run_days(DUE - timedelta(3), DUE)
    invoice_mark_paid(invoice=invoice, paid_date=DUE)
    mail.outbox.clear()
    run_days(DUE + timedelta(1), DUE + timedelta(35))
    assert mail.outbox == []


def test_a_failed_send_gives_the_stage_back_and_the_next_run_sends_it(invoice, settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT, settings.EMAIL_TIMEOUT = "127.0.0.1", free_port(), 2  # nobody listens
    failed = invoices_mark_overdue(today=DUE + timedelta(2))
    assert failed == {"marked_overdue": 1, "reminders_sent": 0, "reminders_failed": 1}
    assert not Reminder.objects.exists()
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    retried = invoices_mark_overdue(today=DUE + timedelta(3))
    assert retried == {"marked_overdue": 0, "reminders_sent": 1, "reminders_failed": 0}
    assert list(Reminder.objects.values_list("stage", flat=True)) == ["after_due"]
    assert len(mail.outbox) == 1


def test_the_scheduled_task_keeps_its_name_and_sends_the_reminders(invoice):
    Invoice.objects.filter(pk=invoice.pk).update(due_date=billing_today() - timedelta(days=2))
    outcome = mark_overdue_invoices()
    assert outcome == {"marked_overdue": 1, "reminders_sent": 1, "reminders_failed": 0}
    assert mail.outbox[0].subject.startswith("Reminder: invoice")
