"""The ageing report: every account's open charges by days past due, in a fixed number of queries; its admin
page (sortable, CSV) and the bucket totals on the staff overview."""

import csv
import io
from datetime import date, timedelta
from decimal import Decimal

import pytest

from billing.collections import ageing_bucket, ageing_report, ageing_rows_sorted
from billing.models import Invoice, LedgerEntry, Note
from billing.selectors import billing_today
from billing.services.notes import note_issue
from billing.services.payments import payment_record
from tests.factories import DeviceFactory, InvoiceFactory, UserFactory

pytestmark = pytest.mark.django_db

D = Decimal


def due_in(invoice, days):
    Invoice.objects.filter(pk=invoice.pk).update(due_date=billing_today() + timedelta(days))


@pytest.fixture
def ledger(invoice_factory, other_customer, seed_tariff):
    """Asha: 768.50 over 90 days (1268.50 less 500 paid), 1268.50 1-30 days, 1268.50 current.
    Ravi: 1268.50 61-90 days, a 100.00 debit note 1-30 days (posted 40 days ago), 200.00 current.
    A third customer has paid everything."""
    today = billing_today()
    asha = [invoice_factory(month=date(2025, month, 1)) for month in (1, 2, 3)]
    ravi_meter = DeviceFactory(device_id="meter-ravi", owner=other_customer)
    ravi = InvoiceFactory(device=ravi_meter, month=date(2025, 1, 1))
    paid_up = InvoiceFactory(device=DeviceFactory(device_id="meter-paid", owner=UserFactory()), month=date(2025, 1, 1))
    for invoice, days in zip([*asha, ravi], [-95, -10, 5, -70], strict=True):
        due_in(invoice, days)
    payment_record(account=asha[0].account, amount=D("500.00"), method="cash", received_on=today)
    payment_record(account=paid_up.account, amount=D("1268.50"), method="upi", received_on=today)
    old = note_issue(
        kind=Note.Kind.DEBIT,
        reason=Note.Reason.ADJUSTMENT,
        amount=D("100.00"),
        description="Seal",
        account=ravi.account,
    )
    LedgerEntry.objects.filter(note=old).update(posted_on=today - timedelta(40))  # due 25 days ago
    note_issue(
        kind=Note.Kind.DEBIT,
        reason=Note.Reason.ADJUSTMENT,
        amount=D("200.00"),
        description="Test",
        account=ravi.account,
    )
    return {"asha": asha[0].account, "ravi": ravi.account, "paid_up": paid_up.account}


@pytest.mark.parametrize(
    ("days", "bucket"),
    [(-3, "current"), (0, "current"), (1, "1_30"), (30, "1_30"), (31, "31_60"), (60, "31_60"), (61, "61_90")]
    + [(90, "61_90"), (91, "90_plus")],
)
def test_buckets_by_days_past_due(days, bucket):
    assert ageing_bucket(days) == bucket


def test_each_account_by_age_and_the_totals_per_bucket(ledger, django_assert_max_num_queries):
    with django_assert_max_num_queries(1):
        report = ageing_report()
    rows = {row.consumer_number: row for row in report.rows}
    assert set(rows) == {ledger["asha"].consumer_number, ledger["ravi"].consumer_number}
    asha, ravi = rows[ledger["asha"].consumer_number], rows[ledger["ravi"].consumer_number]
    assert asha.buckets == {
        "current": D("1268.50"),
        "1_30": D("1268.50"),
        "31_60": D("0"),
        "61_90": D("0"),
        "90_plus": D("768.50"),
    }
    assert (asha.total, asha.overdue, asha.oldest_due_date) == (
        D("3305.50"),
        D("2037.00"),
        billing_today() - timedelta(95),
    )
    assert ravi.buckets == {
        "current": D("200.00"),
        "1_30": D("100.00"),
        "31_60": D("0"),
        "61_90": D("1268.50"),
        "90_plus": D("0"),
    }
    assert report.totals == {
        "current": D("1468.50"),
        "1_30": D("1368.50"),
        "31_60": D("0"),
        "61_90": D("1268.50"),
        "90_plus": D("768.50"),
    }
    assert report.total == D("4874.00")
    assert [row.consumer_number for row in ageing_rows_sorted(report, sort="amount")] == [
        asha.consumer_number,
        ravi.consumer_number,
    ]
    assert ageing_rows_sorted(report, sort="oldest")[0] is asha


def test_the_report_as_of_an_earlier_day_leaves_out_what_came_later(ledger):
    yesterday = billing_today() - timedelta(1)
    report = ageing_report(as_of=yesterday)
    [row] = report.rows  # only the debit note posted 40 days ago existed then
    assert (row.consumer_number, row.total, row.buckets["1_30"]) == (ledger["ravi"].consumer_number, D("100"), D("100"))


def test_the_query_count_does_not_grow_with_accounts(seed_tariff, django_assert_max_num_queries):
    for number in range(12):
        InvoiceFactory(device=DeviceFactory(device_id=f"meter-{number}", owner=UserFactory()))
    with django_assert_max_num_queries(1):
        report = ageing_report()
    assert len(report.rows) == 12


def test_the_admin_page_lists_accounts_sorted_with_a_csv(ledger, staff_client):
    page = staff_client.get("/admin/billing/ageing/?sort=amount")
    assert page.status_code == 200
    html = page.content.decode()
    assert html.index(ledger["asha"].consumer_number) < html.index(ledger["ravi"].consumer_number)
    assert ledger["paid_up"].consumer_number not in html
    assert 'data-bucket="total">₹4,874.00' in html
    by_oldest = staff_client.get("/admin/billing/ageing/?sort=oldest").content.decode()
    assert by_oldest.index(ledger["asha"].consumer_number) < by_oldest.index(ledger["ravi"].consumer_number)
    response = staff_client.get("/admin/billing/ageing/?sort=amount&format=csv")
    assert response["Content-Type"].startswith("text/csv")
    assert "attachment" in response["Content-Disposition"]
    rows = list(csv.reader(io.StringIO(response.content.decode())))
    assert rows[0][:3] == ["consumer_number", "customer", "email"]
    assert [row[0] for row in rows[1:]] == [ledger["asha"].consumer_number, ledger["ravi"].consumer_number, "total"]
    assert rows[1][3:8] == ["1268.50", "1268.50", "0.00", "0.00", "768.50"]
    assert rows[-1][8] == "4874.00"


def test_the_admin_pages_are_for_staff_only(client, customer):
    client.force_login(customer)
    for path in ("/admin/billing/ageing/", "/admin/billing/disconnections/"):
        response = client.get(path)
        assert response.status_code == 302
        assert "/admin/login/" in response["Location"]


def test_the_admin_index_links_the_collections_pages(staff_client):
    html = staff_client.get("/admin/").content.decode()
    assert 'href="/admin/billing/ageing/"' in html
    assert 'href="/admin/billing/disconnections/"' in html


def test_the_staff_overview_shows_the_bucket_totals(ledger, staff_client):
    html = staff_client.get("/admin/overview/").content.decode()
    assert "Receivables by age" in html
    assert '<p class="sm-big" id="receivables-total">₹4,874.00</p>' in html
    assert '<tr data-bucket="90_plus"><th scope="row">Over 90 days</th><td class="num">₹768.50</td></tr>' in html
    assert '<tr data-bucket="current"><th scope="row">Current</th><td class="num">₹1,468.50</td></tr>' in html
    assert "2 accounts with something open" in html
