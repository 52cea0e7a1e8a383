"""The bank statement pages of the admin: upload and summary, matching and ignoring waiting lines, and who
may do it (billing.admin_bank)."""

from datetime import date
from decimal import Decimal

import pytest
from django.contrib.auth.models import Permission
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from billing.models import BankStatementLine, Invoice, Payment
from billing.services.bank_import import bank_statement_import
from tests.factories import AccountFactory, UserFactory

IMPORT_URL = "admin:billing_bankstatementline_import"


@pytest.fixture
def invoice(invoice_factory):
    return invoice_factory()


def upload(client, text: str):
    return client.post(reverse(IMPORT_URL), {"file": SimpleUploadedFile("statement.csv", text.encode())})


@pytest.fixture
def waiting_line(db):
    bank_statement_import(file=b"Date,Narration,Amount\n2025-02-10,CASH DEPOSIT BRANCH 042,750.00\n", actor=None)
    return BankStatementLine.objects.get()


def test_the_lines_list_links_to_the_import_page(staff_client, waiting_line):
    page = staff_client.get(reverse("admin:billing_bankstatementline_changelist")).content.decode()

    assert reverse(IMPORT_URL) in page
    assert "CASH DEPOSIT BRANCH 042" in page
    assert reverse("admin:billing_bankstatementline_match", args=[waiting_line.pk]) in page


def test_the_lines_list_finds_a_line_by_its_amount(staff_client, waiting_line):
    bank_statement_import(file=b"Date,Narration,Amount\n2025-02-11,SOMEONE ELSE,99.00\n", actor=None)

    page = staff_client.get(reverse("admin:billing_bankstatementline_changelist"), {"q": "750.00"}).content.decode()

    assert "CASH DEPOSIT BRANCH 042" in page
    assert "SOMEONE ELSE" not in page


def test_staff_upload_a_statement_and_see_what_it_did(staff_client, staff, invoice):
    response = upload(
        staff_client,
        "Value Date,Narration,Credit\n"
        f'10/02/2025,NEFT {invoice.number},"1,268.50"\n'
        "11/02/2025,UNKNOWN PAYER,100.00\n"
        "12/02/2025,BAD AMOUNT,12.345\n",
    )

    assert response.status_code == 200
    page = response.content.decode()
    assert 'id="summary-recorded">1<' in page
    assert 'id="summary-waiting">1<' in page
    assert 'id="summary-rejected">1<' in page
    assert "amount &#x27;12.345&#x27; has more than two decimal places" in page
    payment = Payment.objects.get()
    assert (payment.recorded_by, payment.account) == (staff, invoice.account)
    invoice.refresh_from_db()
    assert invoice.status == Invoice.Status.PAID


def test_uploading_the_same_statement_again_shows_it_was_already_imported(staff_client, invoice):
    text = f"Date,Narration,Amount\n2025-02-10,{invoice.number},100\n"
    upload(staff_client, text)

    page = upload(staff_client, text).content.decode()

    assert 'id="summary-already">1<' in page
    assert 'id="summary-recorded">0<' in page
    assert Payment.objects.count() == 1


def test_a_refused_file_says_why_and_imports_nothing(staff_client, invoice):
    response = upload(staff_client, "no,header,here\n1,2,3\n")

    assert response.status_code == 400
    assert "Nothing was imported: No header row" in response.content.decode()
    assert not BankStatementLine.objects.exists()


def test_staff_match_a_waiting_line_by_consumer_number(staff_client, staff, invoice, waiting_line):
    url = reverse("admin:billing_bankstatementline_match", args=[waiting_line.pk])
    assert staff_client.get(url).status_code == 200

    response = staff_client.post(url, {"consumer_number": invoice.account.consumer_number})

    assert response.status_code == 302
    waiting_line.refresh_from_db()
    assert waiting_line.status == BankStatementLine.Status.RECORDED
    assert (waiting_line.payment.account, waiting_line.payment.amount, waiting_line.payment.recorded_by) == (
        invoice.account,
        Decimal("750.00"),
        staff,
    )
    assert waiting_line.payment.received_on == date(2025, 2, 10)


@pytest.mark.parametrize(
    ("number", "error"),
    [("1000000017", "Not a consumer number"), ("1000009991", "No account has consumer number 1000009991")],
)
def test_a_wrong_or_unknown_consumer_number_is_refused_on_the_form(staff_client, invoice, waiting_line, number, error):
    # 1000000017 fails the check digit; 1000009991 passes it but belongs to nobody.
    response = staff_client.post(
        reverse("admin:billing_bankstatementline_match", args=[waiting_line.pk]), {"consumer_number": number}
    )

    assert response.status_code == 400
    assert error in response.content.decode()
    waiting_line.refresh_from_db()
    assert waiting_line.status == BankStatementLine.Status.UNMATCHED
    assert not Payment.objects.exists()


def test_staff_ignore_a_waiting_line(staff_client, waiting_line):
    url = reverse("admin:billing_bankstatementline_ignore", args=[waiting_line.pk])

    response = staff_client.post(url, {"reason": "Our own transfer between accounts"})

    assert response.status_code == 302
    waiting_line.refresh_from_db()
    assert waiting_line.status == BankStatementLine.Status.IGNORED
    assert waiting_line.problem == "Ignored: Our own transfer between accounts"


def test_a_line_already_handled_cannot_be_matched(staff_client, waiting_line):
    staff_client.post(
        reverse("admin:billing_bankstatementline_ignore", args=[waiting_line.pk]), {"reason": "Bank interest"}
    )
    account = AccountFactory()

    response = staff_client.post(
        reverse("admin:billing_bankstatementline_match", args=[waiting_line.pk]),
        {"consumer_number": account.consumer_number},
    )

    assert response.status_code == 302
    assert not Payment.objects.exists()


def test_a_customer_cannot_reach_the_bank_pages(client, customer, waiting_line):
    client.force_login(customer)

    response = upload(client, "Date,Narration,Amount\n2025-02-10,x,1\n")

    assert response.status_code == 302
    assert reverse("admin:login") in response["Location"]
    assert BankStatementLine.objects.count() == 1


def test_staff_without_the_payment_permission_are_refused(client, waiting_line, invoice):
    clerk = UserFactory(is_staff=True)
    clerk.user_permissions.add(Permission.objects.get(codename="view_bankstatementline"))
    client.force_login(clerk)

    assert client.get(reverse("admin:billing_bankstatementline_changelist")).status_code == 200
    assert upload(client, f"Date,Narration,Amount\n2025-02-10,{invoice.number},1\n").status_code == 403
    match = client.post(
        reverse("admin:billing_bankstatementline_match", args=[waiting_line.pk]),
        {"consumer_number": invoice.account.consumer_number},
    )
    ignore = client.post(reverse("admin:billing_bankstatementline_ignore", args=[waiting_line.pk]), {"reason": "x"})
    assert (match.status_code, ignore.status_code) == (403, 403)
    assert not Payment.objects.exists()
    assert BankStatementLine.objects.get().status == BankStatementLine.Status.UNMATCHED
