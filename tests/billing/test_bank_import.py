"""Bank statement import: reading the file, matching lines to accounts, recording payments once, and the
lines left for staff (billing.services.bank_import, billing.bank_statements)."""

from datetime import date, timedelta
from decimal import Decimal

import pytest

from billing.bank_statements import LineProblem, find_columns, parse_amount, parse_date
from billing.models import Allocation, BankStatementLine, Invoice, LedgerEntry, Payment
from billing.receivables import account_balance, invoice_open_amount
from billing.selectors import billing_today
from billing.services.bank_import import (
    BankImportRefused,
    BankLineRefused,
    bank_line_ignore,
    bank_line_match,
    bank_statement_import,
)
from billing.services.invoices import held_invoice_number
from billing.services.payments import PaymentReceived, payment_record, payments_record
from tests.factories import AccountFactory, DeviceFactory, InvoiceFactory, UserFactory

HEADER = "Date,Narration,Amount"


def statement(*lines: str, header: str = HEADER) -> bytes:
    return ("\n".join([header, *lines]) + "\n").encode()


@pytest.fixture
def invoice(invoice_factory):
    """January 2025's bill for meter-001 (Asha Rao): 1,268.50, issued and posted to her account."""
    return invoice_factory()


# --- reading the file (pure) ---------------------------------------------------------------------


@pytest.mark.parametrize("text", ["2026-11-05", "05/11/2026", "05-11-2026", "05-Nov-2026", "05-NOV-2026", "05/11/26"])
def test_dates_are_read_day_first_in_the_formats_indian_banks_use(text):
    assert parse_date(text) == date(2026, 11, 5)


@pytest.mark.parametrize("text", ["11/31/2026", "yesterday", ""])
def test_a_date_that_is_not_one_is_a_line_problem(text):
    with pytest.raises(LineProblem, match="is not a date"):
        parse_date(text)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1,234.50", Decimal("1234.50")),
        ("₹1,23,456.5", Decimal("123456.50")),
        ("INR 500", Decimal("500.00")),
        ("500.00 Cr", Decimal("500.00")),
    ],
)
def test_amounts_allow_commas_and_the_currency(text, expected):
    assert parse_amount(text) == (expected, False)


def test_a_debit_is_told_apart_from_a_credit():
    assert parse_amount("500.00 Dr") == (Decimal("500.00"), True)
    assert parse_amount("-500.00", signed=True) == (Decimal("500.00"), True)


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("12.345", "more than two decimal places"),
        ("0.00", "not more than zero"),
        ("-5", "not more than zero"),
        ("NaN", "not a number"),
        ("Infinity", "not a number"),
        ("1e3", "not a number"),
        ("12345678901.00", "too large"),
    ],
)
def test_an_unusable_amount_is_a_line_problem(text, reason):
    with pytest.raises(LineProblem, match=reason):
        parse_amount(text)


@pytest.mark.parametrize(
    "header",
    [
        "Date,Narration,Amount",
        "VALUE DATE,Description,Credit",
        "Txn Date,Value Date,Description,Ref No./Cheque No.,Debit,Credit,Balance",
        "Transaction Date,Particulars,Withdrawal Amt.,Deposit Amt.",
        "Value Date,Transaction Remarks,Deposit Amount (INR )",
    ],
)
def test_common_statement_headers_are_recognised(header):
    assert find_columns(header.split(",")) is not None


def test_reference_and_narration_columns_are_joined():
    columns = find_columns(["Date", "Reference", "Narration", "Credit"])
    assert columns.narration == (1, 2)
    assert columns.credit_only


# --- matching ---------------------------------------------------------------------------------------


def test_a_line_naming_an_invoice_number_is_recorded_against_its_account(invoice, staff):
    outcome = bank_statement_import(
        file=statement(f'10/02/2025,NEFT CR-HDFC0001-ASHA RAO-{invoice.number},"1,268.50"'), actor=staff
    )

    assert (outcome.recorded, outcome.waiting, outcome.rejected) == (1, 0, [])
    payment = Payment.objects.get()
    assert payment.account == invoice.account
    assert payment.method == Payment.Method.BANK_TRANSFER
    assert payment.amount == Decimal("1268.50")
    assert payment.received_on == date(2025, 2, 10)
    assert payment.reference == f"NEFT CR-HDFC0001-ASHA RAO-{invoice.number}"
    assert payment.recorded_by == staff
    line = BankStatementLine.objects.get()
    assert (line.status, line.payment, line.line_number, line.imported_by) == (
        BankStatementLine.Status.RECORDED,
        payment,
        2,
        staff,
    )
    invoice.refresh_from_db()
    assert invoice.status == Invoice.Status.PAID
    assert invoice.paid_date == date(2025, 2, 10)


def test_a_line_naming_a_consumer_number_is_recorded_against_that_account(invoice):
    consumer_number = invoice.account.consumer_number

    outcome = bank_statement_import(
        file=statement(f"2025-02-10,UPI/1234/{consumer_number}/electricity,500"), actor=None
    )

    assert outcome.recorded == 1
    assert Payment.objects.get().account == invoice.account
    assert invoice_open_amount(invoice=invoice) == Decimal("768.50")


def test_an_invoice_keeping_its_old_number_is_still_matched(invoice):
    Invoice.objects.filter(pk=invoice.pk).update(number="INV-202501-000007")

    outcome = bank_statement_import(file=statement("2025-02-10,paid inv-202501-000007 thanks,100"), actor=None)

    assert outcome.recorded == 1
    assert Payment.objects.get().account == invoice.account


def test_a_held_bill_or_another_documents_number_is_not_a_match(invoice_factory, invoice):
    held = invoice_factory(month=date(2025, 2, 1), held=True)
    held.number = held_invoice_number(device=held.device, month=held.month)
    held.save(update_fields=["number"])

    outcome = bank_statement_import(
        file=statement(f"2025-02-10,{held.number},100", "2025-02-10,RCT-2526-0000001,100"), actor=None
    )

    assert (outcome.recorded, outcome.waiting) == (0, 2)
    assert not Payment.objects.exists()
    problems = list(BankStatementLine.objects.order_by("line_number").values_list("problem", flat=True))
    assert problems == ["No invoice or consumer number in the narration."] * 2


def test_a_consumer_number_with_a_wrong_check_digit_is_not_a_match(invoice):
    number = invoice.account.consumer_number
    wrong = number[:-1] + str((int(number[-1]) + 1) % 10)

    outcome = bank_statement_import(file=statement(f"2025-02-10,bill {wrong},100"), actor=None)

    assert outcome.waiting == 1
    assert not Payment.objects.exists()


def test_a_line_naming_two_accounts_waits_for_staff(invoice):
    other = AccountFactory()

    outcome = bank_statement_import(
        file=statement(f"2025-02-10,{invoice.number} and {other.consumer_number},100"), actor=None
    )

    assert (outcome.recorded, outcome.waiting) == (0, 1)
    line = BankStatementLine.objects.get()
    assert line.status == BankStatementLine.Status.UNMATCHED
    assert "more than one account" in line.problem
    assert not Payment.objects.exists()


def test_the_same_account_named_twice_is_one_match(invoice):
    outcome = bank_statement_import(
        file=statement(f"2025-02-10,{invoice.number} {invoice.account.consumer_number},100"), actor=None
    )

    assert outcome.recorded == 1


def test_an_unknown_number_is_named_in_the_problem(db):
    outcome = bank_statement_import(file=statement("2025-02-10,INV-2526-0009999,100"), actor=None)

    assert outcome.waiting == 1
    assert BankStatementLine.objects.get().problem == "No issued invoice or account for INV-2526-0009999."


# --- bad lines and bad files -----------------------------------------------------------------------


def test_lines_without_a_usable_date_or_amount_are_reported_not_kept(invoice):
    number = invoice.account.consumer_number
    data = statement(
        f"31/02/2025,{number},100",
        f"2025-02-10,{number},12.345",
        f"2025-02-10,{number},0",
        f"2025-02-10,{number},100",
    )

    outcome = bank_statement_import(file=data, actor=None)

    assert [(rejected.line_number, rejected.reason) for rejected in outcome.rejected] == [
        (2, "date '31/02/2025' is not a date (use 2026-11-05, 05/11/2026, 05-11-2026 or 05-Nov-2026)"),
        (3, "amount '12.345' has more than two decimal places"),
        (4, "amount '0' is not more than zero"),
    ]
    assert outcome.recorded == 1
    assert list(BankStatementLine.objects.values_list("line_number", flat=True)) == [5]


def test_a_line_dated_after_today_is_kept_for_staff_with_the_reason(invoice):
    tomorrow = billing_today() + timedelta(days=1)

    outcome = bank_statement_import(
        file=statement(f"{tomorrow:%Y-%m-%d},{invoice.account.consumer_number},100"), actor=None
    )

    assert (outcome.recorded, outcome.waiting) == (0, 1)
    assert "after today" in BankStatementLine.objects.get().problem


def test_debits_and_blank_credits_are_skipped(invoice):
    number = invoice.account.consumer_number
    data = statement(
        f"05/02/2025,ATM WDL {number},500.00,",
        f"06/02/2025,NEFT {number},,250.00",
        header="Date,Description,Debit,Credit",
    )

    outcome = bank_statement_import(file=data, actor=None)

    assert (outcome.recorded, outcome.debits_skipped, outcome.rejected) == (1, 1, [])
    assert Payment.objects.get().amount == Decimal("250.00")


def test_a_preamble_before_the_header_and_a_byte_order_mark_are_fine(invoice):
    data = (
        "\ufeffStatement of account 0012345\nPeriod,01-02-2025 to 28-02-2025\n"
        f"Value Date,Reference,Narration,Deposit\n10-Feb-2025,UTR99,{invoice.number},100\n"
    ).encode()

    outcome = bank_statement_import(file=data, actor=None)

    assert outcome.recorded == 1
    assert BankStatementLine.objects.get().narration == f"UTR99 / {invoice.number}"


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        ("Date,Narration,Amount\n10/02/2025,Caf\xe9,100\n".encode("latin-1"), "not UTF-8"),
        (b"when,what,how much\n10/02/2025,x,100\n", "No header row"),
        (b"", "No header row"),
    ],
)
def test_a_file_that_cannot_be_read_is_refused_whole(invoice, data, reason):
    with pytest.raises(BankImportRefused, match=reason):
        bank_statement_import(file=data, actor=None)
    assert not BankStatementLine.objects.exists()
    assert not Payment.objects.exists()


def test_a_file_with_too_many_lines_is_refused_whole(invoice, settings):
    settings.BANK_IMPORT_MAX_ROWS = 2
    number = invoice.account.consumer_number

    with pytest.raises(BankImportRefused, match="more than 2 lines"):
        bank_statement_import(file=statement(*[f"2025-02-1{day},{number},100" for day in range(3)]), actor=None)
    assert not Payment.objects.exists()


def test_a_file_too_large_is_refused_whole(invoice, settings):
    settings.BANK_IMPORT_MAX_BYTES = 60

    with pytest.raises(BankImportRefused, match="larger than"):
        bank_statement_import(file=statement(f"2025-02-10,{invoice.number} {'x' * 40},100"), actor=None)
    assert not BankStatementLine.objects.exists()


# --- idempotence --------------------------------------------------------------------------------------


def test_uploading_the_same_statement_again_records_nothing_twice(invoice):
    number = invoice.account.consumer_number
    data = statement(f"2025-02-10,{number},100", "2025-02-11,nobody,50")
    first = bank_statement_import(file=data, actor=None)

    again = bank_statement_import(file=data, actor=None)

    assert (first.recorded, first.waiting) == (1, 1)
    assert (again.recorded, again.waiting, again.already_imported) == (0, 0, 2)
    assert Payment.objects.count() == 1
    assert BankStatementLine.objects.count() == 2


def test_a_later_statement_overlapping_an_earlier_one_adds_only_the_new_lines(invoice):
    number = invoice.account.consumer_number
    bank_statement_import(file=statement(f"2025-02-10,{number},100"), actor=None)

    outcome = bank_statement_import(
        file=statement(f"2025-02-10,  {number}  ,100.00", f"2025-02-12,{number},200"), actor=None
    )

    assert (outcome.recorded, outcome.already_imported) == (1, 1)
    assert sorted(Payment.objects.values_list("amount", flat=True)) == [Decimal("100.00"), Decimal("200.00")]


def test_two_equal_payments_on_one_day_are_both_recorded(invoice):
    line = f"2025-02-10,{invoice.account.consumer_number},100"

    outcome = bank_statement_import(file=statement(line, line), actor=None)
    again = bank_statement_import(file=statement(line, line, line), actor=None)

    assert outcome.recorded == 2
    assert (again.recorded, again.already_imported) == (1, 2)


# --- the ledger ---------------------------------------------------------------------------------------


def test_a_payment_settles_the_oldest_bill_first(invoice_factory):
    january = invoice_factory(month=date(2025, 1, 1))
    february = invoice_factory(month=date(2025, 2, 1))

    bank_statement_import(file=statement(f"2025-03-05,{february.number},1500.00"), actor=None)

    january.refresh_from_db()
    february.refresh_from_db()
    assert january.status == Invoice.Status.PAID
    assert invoice_open_amount(invoice=february) == february.total - Decimal("231.50")
    assert february.status != Invoice.Status.PAID
    assert account_balance(account=january.account) == january.total + february.total - Decimal("1500.00")


def test_receipt_numbers_follow_the_lines_order_without_gaps(invoice):
    number = invoice.account.consumer_number
    payment_record(
        account=invoice.account,
        amount=Decimal("10.00"),
        method=Payment.Method.CASH,
        received_on=date(2025, 2, 1),
    )

    bank_statement_import(
        file=statement(f"2025-02-10,{number},100", "2025-02-11,nobody,5", f"2025-02-09,{number},200"), actor=None
    )

    receipts = list(Payment.objects.order_by("number").values_list("number", "amount"))
    assert receipts == [
        ("RCT-2425-0000001", Decimal("10.00")),
        ("RCT-2425-0000002", Decimal("100.00")),
        ("RCT-2425-0000003", Decimal("200.00")),
    ]


def _ledger(account) -> dict:
    """An account's ledger as facts that do not depend on keys, timestamps or receipt numbers."""
    entries = list(account.entries.order_by("pk"))
    position = {entry.pk: index for index, entry in enumerate(entries)}
    return {
        "entries": [(entry.kind, entry.amount, entry.posted_on) for entry in entries],
        "allocations": sorted(
            (position[allocation.credit_id], position[allocation.charge_id], allocation.amount)
            for allocation in Allocation.objects.filter(credit__account=account)
        ),
        "invoices": list(account.invoices.order_by("month").values_list("month", "status", "paid_date")),
    }


def _two_accounts_with_bills():
    accounts = []
    for _ in range(2):
        device = DeviceFactory(owner=UserFactory())
        for month in (date(2025, 1, 1), date(2025, 2, 1), date(2025, 3, 1)):
            InvoiceFactory(device=device, month=month)
        accounts.append(device.invoices.first().account)
    return accounts


def test_payments_recorded_together_leave_the_ledger_of_payments_recorded_one_by_one(seed_tariff):
    one_by_one, together = _two_accounts_with_bills()
    arriving = [  # out of date order, more than the first bill, and more than all three
        (Decimal("600.00"), date(2025, 3, 10)),
        (Decimal("900.00"), date(2025, 3, 1)),
        (Decimal("2500.00"), date(2025, 3, 5)),
        (Decimal("1000.00"), date(2025, 3, 2)),
    ]

    for amount, day in arriving:
        payment_record(account=one_by_one, amount=amount, method=Payment.Method.UPI, received_on=day, reference="x")
    recorded = payments_record(
        received=[
            PaymentReceived(account=together, amount=amount, method=Payment.Method.UPI, received_on=day, reference="x")
            for amount, day in arriving
        ]
    )

    assert _ledger(together) == _ledger(one_by_one)
    assert _ledger(together)["invoices"][0][1] == Invoice.Status.PAID
    assert [payment.number for payment in recorded] == [f"RCT-2425-{number:07d}" for number in range(5, 9)]
    descriptions = set(LedgerEntry.objects.filter(kind=LedgerEntry.Kind.PAYMENT).values_list("description", flat=True))
    assert descriptions == {"Payment by UPI (x)"}


def test_import_reads_the_database_a_fixed_number_of_times_whatever_the_lines(
    seed_tariff, django_assert_max_num_queries
):
    accounts = [AccountFactory() for _ in range(6)]
    lines = [
        f"2025-02-{1 + index % 28:02d},{accounts[index % 6].consumer_number},{100 + index}" for index in range(120)
    ]

    with django_assert_max_num_queries(40):
        outcome = bank_statement_import(file=statement(*lines), actor=None)

    assert outcome.recorded == 120


# --- staff matching ---------------------------------------------------------------------------------


def _waiting_line(narration="nobody", amount="300"):
    bank_statement_import(file=statement(f"2025-02-10,{narration},{amount}"), actor=None)
    return BankStatementLine.objects.get(narration=narration)


def test_staff_match_a_waiting_line_to_an_account(invoice, staff):
    line = _waiting_line()

    payment = bank_line_match(line=line, account=invoice.account, actor=staff)

    line.refresh_from_db()
    assert (line.status, line.payment, line.problem) == (BankStatementLine.Status.RECORDED, payment, "")
    assert (payment.account, payment.amount, payment.received_on, payment.recorded_by) == (
        invoice.account,
        Decimal("300.00"),
        date(2025, 2, 10),
        staff,
    )
    assert invoice_open_amount(invoice=invoice) == Decimal("968.50")


def test_a_line_already_recorded_cannot_be_matched_again(invoice, staff):
    line = _waiting_line()
    bank_line_match(line=line, account=invoice.account, actor=staff)

    with pytest.raises(BankLineRefused, match="already recorded"):
        bank_line_match(line=line, account=invoice.account, actor=staff)
    assert Payment.objects.count() == 1


def test_staff_ignore_a_waiting_line_with_a_reason(invoice, staff):
    line = _waiting_line()

    bank_line_ignore(line=line, reason="Interest credited by the bank", actor=staff)

    line.refresh_from_db()
    assert line.status == BankStatementLine.Status.IGNORED
    assert line.problem == "Ignored: Interest credited by the bank"
    with pytest.raises(BankLineRefused, match="already ignored"):
        bank_line_match(line=line, account=invoice.account, actor=staff)


def test_ignoring_needs_a_reason(invoice, staff):
    line = _waiting_line()

    with pytest.raises(BankLineRefused, match="Say why"):
        bank_line_ignore(line=line, reason="  ", actor=staff)
    line.refresh_from_db()
    assert line.status == BankStatementLine.Status.UNMATCHED
