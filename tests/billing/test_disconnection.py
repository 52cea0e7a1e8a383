"""Disconnection notices: the accounts in long arrears, the letter (read back with pdftotext), no second
notice inside the notice period, and the admin list, action and download. Nothing is switched off."""

import csv
import io
from datetime import date, timedelta
from decimal import Decimal

import pytest

from billing.collections import disconnection_candidates
from billing.models import DisconnectionNotice, Invoice
from billing.selectors import billing_today
from billing.services.disconnections import disconnection_letter_bytes, disconnection_notices_issue
from billing.services.payments import payment_record
from devices.models import Device
from tests.billing.test_pdf import pdf_text
from tests.factories import DeviceFactory, InvoiceFactory

pytestmark = pytest.mark.django_db

D = Decimal


def due_in(invoice, days):
    Invoice.objects.filter(pk=invoice.pk).update(due_date=billing_today() + timedelta(days))


@pytest.fixture
def arrears(invoice_factory, other_customer):
    """Asha: 1268.50 due 61 days ago and 1268.50 due 5 days ago (overdue 2537.00); Ravi: due 60 days ago."""
    old, recent = invoice_factory(month=date(2025, 1, 1)), invoice_factory(month=date(2025, 2, 1))
    ravi = InvoiceFactory(device=DeviceFactory(device_id="meter-ravi", owner=other_customer), month=date(2025, 1, 1))
    due_in(old, -61)
    due_in(recent, -5)
    due_in(ravi, -60)
    return {"asha": old.account, "ravi": ravi.account}


def test_accounts_with_a_charge_open_past_the_threshold_are_listed(arrears):
    [candidate] = disconnection_candidates()
    assert candidate.consumer_number == arrears["asha"].consumer_number
    assert (candidate.amount_overdue, candidate.days_past_due) == (D("2537.00"), 61)
    assert candidate.oldest_due_date == billing_today() - timedelta(61)
    assert candidate.can_notice


def test_a_partly_paid_account_still_counts_what_is_open(arrears):
    payment_record(account=arrears["asha"], amount=D("1000.00"), method="cash", received_on=billing_today())
    [candidate] = disconnection_candidates()
    assert candidate.amount_overdue == D("1537.00")
    payment_record(account=arrears["asha"], amount=D("268.50"), method="cash", received_on=billing_today())
    assert disconnection_candidates() == []  # the oldest charge is settled; the rest is 5 days overdue


def test_issuing_a_notice_draws_the_letter_and_switches_nothing_off(arrears, staff, tmp_path, settings):
    settings.DISCONNECTION_NOTICE_PERIOD_DAYS = 15
    devices_before = list(Device.objects.order_by("pk").values_list("pk", "status"))
    outcome = disconnection_notices_issue(account_ids=[arrears["asha"].pk, arrears["ravi"].pk], actor=staff)
    [notice] = outcome.issued
    assert outcome.skipped == [f"{arrears['ravi'].consumer_number}: nothing open more than 60 days past due"]
    assert (notice.account_id, notice.amount_overdue, notice.issued_by) == (arrears["asha"].pk, D("2537.00"), staff)
    assert notice.oldest_due_date == billing_today() - timedelta(61)
    assert notice.letter.name.startswith("disconnection-notices/")
    text = " ".join(pdf_text(disconnection_letter_bytes(notice=notice), tmp_path).split())
    assert "NOTICE OF DISCONNECTION" in text
    assert arrears["asha"].consumer_number in text
    assert "Asha Rao" in text
    assert "₹2,537.00" in text
    assert "notice of 15 days" in text
    pay_by = billing_today() + timedelta(15)
    assert f"Please pay the arrears in full by {pay_by:%-d %b %Y}" in text
    assert "may be disconnected after that date" in text
    assert "How to pay" in text
    assert list(Device.objects.order_by("pk").values_list("pk", "status")) == devices_before


def test_an_account_is_not_noticed_twice_within_the_notice_period(arrears, staff, settings):
    settings.DISCONNECTION_NOTICE_PERIOD_DAYS = 15
    disconnection_notices_issue(account_ids=[arrears["asha"].pk], actor=staff)
    [candidate] = disconnection_candidates()
    assert not candidate.can_notice
    again = disconnection_notices_issue(account_ids=[arrears["asha"].pk], actor=staff)
    assert again.issued == []
    assert "is still running" in again.skipped[0]
    assert DisconnectionNotice.objects.count() == 1
    later = billing_today() + timedelta(16)
    candidate = next(c for c in disconnection_candidates(today=later) if c.account_id == arrears["asha"].pk)
    assert candidate.can_notice  # the period is over: a new notice may go out
    assert len(disconnection_notices_issue(account_ids=[arrears["asha"].pk], actor=staff, today=later).issued) == 1


def test_a_lost_letter_is_drawn_again_on_download(arrears, staff):
    [notice] = disconnection_notices_issue(account_ids=[arrears["asha"].pk], actor=staff).issued
    notice.letter.storage.delete(notice.letter.name)
    assert disconnection_letter_bytes(notice=notice).startswith(b"%PDF-")
    assert notice.letter.storage.exists(notice.letter.name)


def test_the_admin_list_issues_notices_and_serves_the_letter(arrears, staff_client, staff):
    page = staff_client.get("/admin/billing/disconnections/").content.decode()
    assert arrears["asha"].consumer_number in page
    assert arrears["ravi"].consumer_number not in page
    assert f'name="account" value="{arrears["asha"].pk}"' in page
    assert "₹2,537.00" in page
    response = staff_client.post("/admin/billing/disconnections/", {"account": [arrears["asha"].pk]}, follow=True)
    assert "1 disconnection notice(s) issued." in response.content.decode()
    notice = DisconnectionNotice.objects.get()
    page = staff_client.get("/admin/billing/disconnections/").content.decode()
    assert f'name="account" value="{arrears["asha"].pk}"' not in page  # marked, not selectable
    assert "Noticed " in page
    again = staff_client.post("/admin/billing/disconnections/", {"account": [arrears["asha"].pk]}, follow=True)
    assert "is still running" in again.content.decode()
    assert DisconnectionNotice.objects.count() == 1
    listing = staff_client.get("/admin/billing/disconnectionnotice/").content.decode()
    assert arrears["asha"].consumer_number in listing
    letter = staff_client.get(f"/admin/billing/disconnectionnotice/{notice.pk}/letter/")
    assert letter["Content-Type"] == "application/pdf"
    assert letter.content.startswith(b"%PDF-")
    assert f"disconnection-notice-{arrears['asha'].consumer_number}-" in letter["Content-Disposition"]


def test_the_admin_list_downloads_as_csv(arrears, staff_client):
    response = staff_client.get("/admin/billing/disconnections/?format=csv")
    rows = list(csv.reader(io.StringIO(response.content.decode())))
    assert rows[0] == [
        "consumer_number",
        "customer",
        "email",
        "amount_overdue",
        "oldest_due",
        "days_past_due",
        "noticed_at",
    ]
    assert rows[1][0] == arrears["asha"].consumer_number
    assert rows[1][3:6] == ["2537.00", (billing_today() - timedelta(61)).isoformat(), "61"]
    assert len(rows) == 2


def test_an_empty_selection_issues_nothing(arrears, staff_client):
    response = staff_client.post("/admin/billing/disconnections/", {}, follow=True)
    assert "Select the accounts to send a notice to." in response.content.decode()
    assert not DisconnectionNotice.objects.exists()
