"""python manage.py run_billing: bills every billable meter once, emails once, resumes, isolates failures."""

import logging
import os
import signal
from datetime import date, timedelta
from decimal import Decimal
from io import StringIO

import pytest
from django.core import mail
from django.core.management import CommandError, call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from billing.models import BillingRun, Invoice
from billing.selectors import billable_devices
from billing.services import billing_run
from billing.services import invoices as invoice_services
from billing.services import runs as run_services
from devices.models import Device
from ops.metrics import INVOICES_ISSUED
from tests.factories import BillingRunFactory, DeviceFactory, UnclaimedDeviceFactory
from tests.support.readings import ist, write_registers

# The email goes out when the invoice commits: these tests run with real commits.
pytestmark = pytest.mark.django_db(transaction=True)

JANUARY = date(2025, 1, 1)


def january_readings(device_id: str, used: str, start: str = "1000") -> None:
    write_registers(device_id, [(ist(2025, 1, 1), start), (ist(2025, 2, 1), str(Decimal(start) + Decimal(used)))])


@pytest.fixture
def meters(customer, seed_tariff):
    """Three January meters of one customer: 250, 90 and 0 kWh; all registered in December."""
    devices = []
    for number, used in ((1, "250"), (2, "90"), (3, "0")):
        device = DeviceFactory(device_id=f"meter-{number:03d}", owner=customer)
        january_readings(device.device_id, used)
        devices.append(device)
    Device.objects.update(created_at=ist(2024, 12, 1))
    return devices


def run(*args) -> str:
    out = StringIO()
    call_command("run_billing", *args, stdout=out, stderr=out)
    return out.getvalue()


def test_a_run_bills_every_meter_with_pdf_and_email_and_reports_what_it_did(meters):
    issued_before = INVOICES_ISSUED._value.get()
    output = run("--month", "2025-01")
    invoices = {invoice.device.device_id: invoice for invoice in Invoice.objects.select_related("device")}
    assert {device_id: str(invoice.total) for device_id, invoice in invoices.items()} == {
        "meter-001": "1268.50",
        "meter-002": "430.70",
        "meter-003": "59.00",
    }
    assert all(invoice.pdf and invoice.emailed_at for invoice in invoices.values())
    assert sorted(message.attachments[0][0] for message in mail.outbox) == sorted(
        invoice.pdf_filename for invoice in invoices.values()
    )
    assert INVOICES_ISSUED._value.get() - issued_before == 3
    assert "billing 2025-01 for every billable meter" in output
    assert "3/3 meters  billed 3" in output
    assert "billed: 3" in output
    assert "emails sent: 3" in output
    record = BillingRun.objects.get()
    assert (record.status, record.meters, record.billed, record.emails_sent, record.failed) == ("finished", 3, 3, 3, 0)


def test_rebilling_a_month_creates_and_sends_nothing(meters):
    run("--month", "2025-01")
    first = list(Invoice.objects.order_by("pk").values("pk", "total", "pdf", "emailed_at"))
    output = run("--month", "2025-01")
    assert list(Invoice.objects.order_by("pk").values("pk", "total", "pdf", "emailed_at")) == first
    assert len(mail.outbox) == 3
    assert "billed: 0" in output
    assert "already billed: 3" in output
    assert "emails sent: 0" in output


def test_one_meters_failure_never_stops_the_others(meters, monkeypatch):
    """A PDF that cannot be drawn fails its meter, not the run. The invoice was issued (its number is
    taken in the issuing transaction); it waits unsent, and the next run draws and sends it."""
    render = invoice_services.render_invoice_pdf

    def broken_for_meter_2(invoice):
        if invoice.device.device_id == "meter-002":
            raise RuntimeError("template exploded")
        return render(invoice)

    monkeypatch.setattr(invoice_services, "render_invoice_pdf", broken_for_meter_2)
    with pytest.raises(CommandError, match="1 meter\\(s\\) failed"):
        run("--month", "2025-01")
    unsent = Invoice.objects.get(device__device_id="meter-002")
    assert (unsent.pdf.name, unsent.emailed_at) == ("", None)
    assert Invoice.objects.exclude(pk=unsent.pk).filter(emailed_at__isnull=False).count() == 2
    record = BillingRun.objects.get()
    assert record.failed == 1
    assert record.failures == [
        {"device_id": "meter-002", "stage": "bill", "error": "RuntimeError: template exploded"},
        {
            "device_id": "meter-002",
            "stage": "email",
            "error": f"invoice {unsent.number} was not emailed; the next run retries",
        },
    ]
    # Fixed, the next run draws and sends just the invoice that failed.
    monkeypatch.setattr(invoice_services, "render_invoice_pdf", render)
    output = run("--month", "2025-01")
    assert "billed: 0" in output
    assert "already billed: 3" in output
    assert "emails sent: 1" in output
    unsent.refresh_from_db()
    assert unsent.pdf.name
    assert Invoice.objects.count() == 3
    assert len(mail.outbox) == 3


def test_a_run_stopped_by_sigterm_resumes_where_it_stopped(meters, monkeypatch):
    issue = run_services.invoice_issue

    def issue_then_sigterm(**kwargs):
        result = issue(**kwargs)
        os.kill(os.getpid(), signal.SIGTERM)  # the operator stops the run after the first invoice
        return result

    monkeypatch.setattr(run_services, "invoice_issue", issue_then_sigterm)
    original_handler = signal.getsignal(signal.SIGTERM)
    with pytest.raises(CommandError, match="Interrupted"):
        run("--month", "2025-01")
    assert Invoice.objects.count() == 1
    assert BillingRun.objects.get().status == "interrupted"
    monkeypatch.setattr(run_services, "invoice_issue", issue)
    output = run("--month", "2025-01")
    assert "billed: 2" in output
    assert "already billed: 1" in output
    assert Invoice.objects.count() == 3
    assert len(mail.outbox) == 3
    assert signal.getsignal(signal.SIGTERM) == original_handler  # the command restored the previous handler


def test_an_invoice_whose_email_failed_is_emailed_by_the_next_run(meters, settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT, settings.EMAIL_TIMEOUT = "127.0.0.1", 9, 2  # nothing listens
    output = run("--month", "2025-01")
    assert Invoice.objects.filter(emailed_at__isnull=True).count() == 3
    assert "emails not sent (retried by the next run): 3" in output
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    output = run("--month", "2025-01")
    assert "emails sent: 3" in output
    assert len(mail.outbox) == 3
    run("--month", "2025-01")
    assert len(mail.outbox) == 3


def test_meters_registered_after_the_month_are_skipped_and_decommissioned_ones_get_a_final_bill(meters, customer):
    late = DeviceFactory(device_id="meter-late", owner=customer)  # registered now, no January readings
    gone = DeviceFactory(device_id="meter-gone", owner=customer)
    old = DeviceFactory(device_id="meter-old", owner=customer)
    january_readings("meter-gone", "40")
    Device.objects.filter(pk__in=[gone.pk, old.pk]).update(created_at=ist(2024, 1, 1), status="decommissioned")
    Device.objects.filter(pk=gone.pk).update(decommissioned_at=ist(2025, 1, 20))
    Device.objects.filter(pk=old.pk).update(decommissioned_at=ist(2024, 11, 5))
    output = run("--month", "2025-01")
    billed = set(Invoice.objects.values_list("device__device_id", flat=True))
    assert billed == {"meter-001", "meter-002", "meter-003", "meter-gone"}
    assert "skipped: 1" in output
    assert "registered after the month, no readings in it: meter-late" in output
    assert BillingRun.objects.get().skipped_detail == {
        "registered after the month, no readings in it": [late.device_id]
    }


def test_a_meter_silent_since_it_was_registered_gets_an_estimate_from_the_tariff_default(customer, seed_tariff):
    DeviceFactory(device_id="meter-quiet", owner=customer)
    Device.objects.update(created_at=ist(2024, 6, 1))
    run("--month", "2025-01")
    invoice = Invoice.objects.get()
    assert invoice.no_readings
    assert invoice.estimated
    assert invoice.estimate_basis == "tariff_default"
    # The seed tariff's default of 100 kWh a month: 350.00 + 50.00 fixed + 18% tax.
    assert (invoice.energy_kwh, invoice.total) == (Decimal("100.000"), Decimal("472.00"))


def test_device_option_bills_only_that_meter(meters):
    output = run("--month", "2025-01", "--device", "meter-002")
    assert list(Invoice.objects.values_list("device__device_id", flat=True)) == ["meter-002"]
    assert "billing 2025-01 for meter meter-002" in output
    with pytest.raises(CommandError, match="No meter 'nope' is registered."):
        run("--month", "2025-01", "--device", "nope")


def test_dry_run_shows_the_bills_and_writes_and_sends_nothing(meters):
    output = run("--month", "2025-01", "--dry-run")
    assert "would bill meter-001: 250.000 kWh, total 1268.50" in output
    assert "would bill meter-003: 0.000 kWh, total 59.00" in output
    assert "Dry run summary for 2025-01" in output
    assert not Invoice.objects.exists()
    assert not BillingRun.objects.exists()
    assert mail.outbox == []


def test_a_dry_run_lists_the_unsent_invoice_emails_the_next_run_would_send_and_sends_none(meters, settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT, settings.EMAIL_TIMEOUT = "127.0.0.1", 9, 2  # nothing listens
    run("--month", "2025-01")
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    number = Invoice.objects.get(device__device_id="meter-001").number
    output = run("--month", "2025-01", "--dry-run")
    assert f"would resend the unsent email of meter-001's invoice {number}" in output
    assert "would bill meter" not in output
    assert "already billed: 3" in output
    assert mail.outbox == []
    assert Invoice.objects.filter(emailed_at__isnull=True).count() == 3
    assert BillingRun.objects.count() == 1


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--month", "2025-13"], "has no month 13"),
        (["--month", "last"], "is not a month"),
        (["--month", "2019-12"], "No tariff is in force for 2019-12"),
        (["--month", "2099-01"], "2099-01 has not ended yet"),
    ],
)
def test_refusals_explain_themselves_and_bill_nothing(meters, args, message):
    with pytest.raises(CommandError, match=message):
        run(*args)
    assert not Invoice.objects.exists()


def test_the_default_month_is_the_one_that_just_ended_in_the_billing_time_zone(meters):
    output = run("--dry-run")
    expected = (timezone.now().astimezone(ist(2025, 1, 1).tzinfo).replace(day=1) - timedelta(days=1)).strftime("%Y-%m")
    assert f"billing {expected}" in output


def test_every_issued_invoice_writes_an_audit_line(meters, caplog):
    with caplog.at_level(logging.INFO, logger="smartmeter.audit"):
        run("--month", "2025-01")
    lines = [record for record in caplog.records if record.name == "smartmeter.audit"]
    actions = [record.action for record in lines]
    assert actions.count("invoice.issue") == 3
    assert actions[0] == "billing_run.start"
    assert actions[-1] == "billing_run.finish"
    issued = next(record for record in lines if record.action == "invoice.issue" and record.device_id == "meter-001")
    assert (issued.month, issued.total, issued.actor) == ("2025-01", "1268.50", "run_billing")


def _readings_queries(meter_count: int, customer) -> int:
    for number in range(meter_count):
        device = DeviceFactory(device_id=f"bulk-{meter_count}-{number:03d}", owner=customer)
        january_readings(device.device_id, str(number))
    Device.objects.update(created_at=ist(2024, 12, 1))
    with CaptureQueriesContext(connection) as queries:
        outcome = billing_run(month=JANUARY, dry_run=True, chunk_size=1000)
    assert outcome.run.billed == Device.objects.count()
    return sum(1 for query in queries.captured_queries if "readings_reading" in query["sql"])


def test_consumption_for_all_meters_is_read_in_a_bounded_number_of_queries(customer, seed_tariff):
    few = _readings_queries(5, customer)
    Invoice.objects.all().delete()
    many = _readings_queries(60, customer)  # 65 meters now
    assert 0 < few == many <= 10


def test_a_run_sends_all_its_emails_over_one_smtp_session(meters, smtp_server):
    run("--month", "2025-01")
    assert len(smtp_server.messages) == 3
    assert len(smtp_server.sessions) == 1
    assert sorted(recipients[0] for recipients, _ in smtp_server.messages) == ["asha@example.com"] * 3


def test_the_scheduled_task_bills_the_month_that_just_ended(customer, seed_tariff):
    from billing.months import last_complete_month
    from billing.selectors import month_period
    from billing.tasks import mark_overdue_invoices, run_monthly_billing
    from billing.zone import billing_zone

    month = last_complete_month(timezone.now(), billing_zone())
    start, end = month_period(month)
    DeviceFactory(device_id="meter-sched", owner=customer)
    Device.objects.update(created_at=start - timedelta(days=10))
    write_registers("meter-sched", [(start, "100"), (end, "190")])
    assert run_monthly_billing(now=end - timedelta(minutes=1))["status"] == "not due"
    result = run_monthly_billing(now=end + timedelta(minutes=5))
    assert result["status"] == "finished"
    assert result["billed"] == 1
    invoice = Invoice.objects.get()
    assert (invoice.month, invoice.energy_kwh) == (month, Decimal("90.000"))
    assert BillingRun.objects.get().trigger == "schedule"
    assert len(mail.outbox) == 1
    assert run_monthly_billing(now=end + timedelta(hours=1, minutes=5)) == {
        "month": month.strftime("%Y-%m"),
        "status": "not due",  # every meter is billed
    }
    assert mark_overdue_invoices() == {"marked_overdue": 0, "reminders_sent": 0, "reminders_failed": 0}


def test_a_crash_between_the_commit_and_the_email_resumes_without_duplicates(meters, monkeypatch):
    send = invoice_services.invoice_email_issued

    def die_on_meter_2(*, invoice_id, pdf=None):
        if Invoice.objects.get(pk=invoice_id).device.device_id == "meter-002":
            raise KeyboardInterrupt  # the process dies right after meter-002's invoice committed
        return send(invoice_id=invoice_id, pdf=pdf)

    monkeypatch.setattr(invoice_services, "invoice_email_issued", die_on_meter_2)
    with pytest.raises(KeyboardInterrupt):
        run("--month", "2025-01")
    assert BillingRun.objects.get().status == "failed"
    assert sorted(Invoice.objects.values_list("device__device_id", flat=True)) == ["meter-001", "meter-002"]
    assert len(mail.outbox) == 1

    monkeypatch.setattr(invoice_services, "invoice_email_issued", send)
    output = run("--month", "2025-01")
    assert "billed: 1" in output  # meter-003
    assert "already billed: 2" in output
    assert "emails sent: 2" in output  # meter-002's pending email, then meter-003's
    assert sorted(message.to[0] for message in mail.outbox) == ["asha@example.com"] * 3
    assert Invoice.objects.filter(emailed_at__isnull=True).count() == 0


def test_a_run_killed_outright_is_marked_interrupted_by_the_next_one(meters):
    import socket
    import subprocess

    child = subprocess.Popen(["true"])
    child.wait()
    dead_pid = child.pid  # a process id that no longer exists
    killed = BillingRunFactory(month=JANUARY, host=socket.gethostname(), pid=dead_pid)
    elsewhere = BillingRunFactory(month=JANUARY, host="another-machine", pid=dead_pid)
    run("--month", "2025-01")
    killed.refresh_from_db()
    elsewhere.refresh_from_db()
    assert killed.status == "interrupted"
    assert elsewhere.status == "running"  # another machine's process cannot be checked from here


def test_an_unclaimed_meter_is_not_billed(meters):
    unclaimed = UnclaimedDeviceFactory(device_id="open-meter")
    january_readings(unclaimed.device_id, "120")  # it reports (installed, say) before anyone claims it
    Device.objects.update(created_at=ist(2024, 12, 1))

    output = run("--month", "2025-01")

    assert not Invoice.objects.filter(device=unclaimed).exists()
    assert Invoice.objects.count() == 3
    assert "3/3 meters" in output
    assert "open-meter" not in [device.device_id for device in billable_devices(month=JANUARY)]


def test_naming_an_unclaimed_meter_skips_it_and_says_why(meters):
    UnclaimedDeviceFactory(device_id="open-meter")
    output = run("--month", "2025-01", "--device", "open-meter")
    assert not Invoice.objects.exists()
    assert "not claimed by a customer yet" in output


def test_the_summary_counts_held_estimated_and_awaiting_meters(customer, seed_tariff):
    for device_id in ("meter-held", "meter-late", "meter-ok"):
        DeviceFactory(device_id=device_id, owner=customer)
    Device.objects.update(created_at=ist(2024, 12, 1))
    write_registers("meter-held", [(ist(2025, 1, 1), "5000"), (ist(2025, 1, 15), "2"), (ist(2025, 2, 1), "40")])
    write_registers("meter-late", [(ist(2025, 1, 1), "100"), (ist(2025, 1, 31, 23), "190")])
    january_readings("meter-ok", "90")
    outcome = billing_run(month=JANUARY, now=ist(2025, 2, 1, 0, 5))
    run_record = outcome.run
    assert (run_record.billed, run_record.held, run_record.awaiting, run_record.estimated) == (1, 1, 1, 0)
    held = Invoice.objects.get(device__device_id="meter-held")
    assert held.status == Invoice.Status.HELD
    assert held.emailed_at is None
    assert held.held_reasons == ["the register restarted from zero once"]
    assert [message.to for message in mail.outbox] == [[customer.email]]  # meter-ok's bill only

    output = run("--month", "2025-01")  # now: long after the grace period
    assert "held for review: 0" in output
    assert "estimated (of those billed or held): 1" in output  # meter-late, never closed
    assert "awaiting closing read: 0" in output
    assert "already billed: 2" in output
