"""Billing an issued month again: the difference becomes a credit or debit note referring to the invoice,
which stays exactly as issued (docs/billing.md#billing-a-month-again)."""

from datetime import date
from decimal import Decimal

import pytest

from billing.models import Invoice, Note
from billing.receivables import account_balance
from billing.selectors import tariff_for_month
from billing.services.invoices import invoice_pdf_bytes
from billing.services.notes import note_pdf_bytes
from billing.services.rerate import RerateRefused, invoice_rerate, invoice_rerate_preview
from tests.billing.test_pdf import pdf_text
from tests.factories import InvoiceFactory, TariffFactory

pytestmark = pytest.mark.django_db

# 250 kWh under the seed tariff: 100 x 3.50 + 150 x 4.50 = 1025.00, fixed 50.00, tax 18% 193.50: 1268.50.
JANUARY_TOTAL = Decimal("1268.50")
# 200 kWh: 350.00 + 100 x 4.50 = 800.00, fixed 50.00, tax 153.00: 1003.00.
TOTAL_AT_200_KWH = Decimal("1003.00")
# 320 kWh: 350.00 + 900.00 + 20 x 6.00 = 1370.00, fixed 50.00, tax 255.60: 1675.60.
TOTAL_AT_320_KWH = Decimal("1675.60")


@pytest.fixture
def january(invoice_factory):
    return invoice_factory(month=date(2025, 1, 1))


def _as_issued(invoice: Invoice) -> tuple:
    invoice.refresh_from_db()
    return (invoice.number, invoice.total, invoice.energy_kwh, invoice.end_register, invoice.tariff_id, invoice.status)


def test_a_lower_corrected_read_issues_a_credit_note_for_the_difference_to_the_paisa(january, staff):
    closing = january.end_register - Decimal("50.000")
    balance = account_balance(account=january.account)

    note = invoice_rerate(invoice=january, actor=staff, reason="Read on site", closing_register=closing)

    assert note.kind == Note.Kind.CREDIT
    assert note.reason == Note.Reason.RERATE
    assert note.number.startswith("CRN-")
    assert note.invoice == january
    assert note.amount == JANUARY_TOTAL - TOTAL_AT_200_KWH == Decimal("265.50")
    assert note.detail["energy_kwh_before"] == "250.000"
    assert note.detail["energy_kwh_after"] == "200.000"
    assert note.detail["total_before"] == "1268.50"
    assert note.detail["total_after"] == "1003.00"
    assert note.detail["closing_register_after"] == str(closing)
    assert note.detail["tariff_id_before"] == note.detail["tariff_id_after"] == january.tariff_id
    assert "closing register corrected" in note.description
    assert "Read on site" in note.description
    assert account_balance(account=january.account) == balance - Decimal("265.50")


def test_a_higher_corrected_read_issues_a_debit_note(january, staff):
    balance = account_balance(account=january.account)
    note = invoice_rerate(
        invoice=january, actor=staff, reason="Meter under-read", closing_register=january.end_register + 70
    )
    assert note.kind == Note.Kind.DEBIT
    assert note.number.startswith("DBN-")
    assert note.amount == TOTAL_AT_320_KWH - JANUARY_TOTAL == Decimal("407.10")
    assert account_balance(account=january.account) == balance + Decimal("407.10")


def test_a_month_billed_under_the_wrong_tariff_version_is_repriced_under_the_one_in_force(seed_tariff, device, staff):
    corrected = TariffFactory(
        effective_from=date(2025, 1, 1),
        slabs=[
            {"range_start": 0, "range_end": 100, "rate": "4.00"},
            {"range_start": 101, "range_end": 300, "rate": "5.00"},
            {"range_start": 301, "range_end": None, "rate": "6.50"},
        ],
        fixed_charge="60.00",
    )
    january = InvoiceFactory(device=device, month=date(2025, 1, 1), tariff=seed_tariff)
    assert january.total == JANUARY_TOTAL
    assert tariff_for_month(month=january.month) == corrected

    note = invoice_rerate(invoice=january, actor=staff, reason="Wrong tariff", tariff=corrected)

    # 400.00 + 750.00 = 1150.00, fixed 60.00, tax 217.80: 1427.80.
    assert note.kind == Note.Kind.DEBIT
    assert note.amount == Decimal("1427.80") - JANUARY_TOTAL == Decimal("159.30")
    assert (note.detail["tariff_id_before"], note.detail["tariff_id_after"]) == (seed_tariff.pk, corrected.pk)
    assert note.detail["energy_kwh_before"] == note.detail["energy_kwh_after"] == "250.000"
    assert "tariff from 1 Jan 2025" in note.description


def test_billing_again_to_the_same_result_is_refused_and_issues_nothing(january, staff):
    with pytest.raises(RerateRefused, match="no difference"):
        invoice_rerate(invoice=january, actor=staff, reason="Check", closing_register=january.end_register)
    with pytest.raises(RerateRefused, match="no difference"):
        invoice_rerate(invoice=january, actor=staff, reason="Check", tariff=tariff_for_month(month=january.month))
    assert not Note.objects.exists()


def test_a_held_bill_is_refused_it_is_corrected_in_review(invoice_factory, staff):
    held = invoice_factory(month=date(2025, 1, 1), held=True)
    with pytest.raises(RerateRefused, match="held for review"):
        invoice_rerate(invoice=held, actor=staff, reason="Read on site", closing_register=Decimal("1"))
    assert not Note.objects.exists()


def test_a_reason_is_required(january, staff):
    with pytest.raises(RerateRefused, match="Say why"):
        invoice_rerate(invoice=january, actor=staff, reason="  ", closing_register=january.end_register - 50)
    assert not Note.objects.exists()


def test_re_rating_twice_with_the_same_inputs_issues_one_note(january, staff):
    closing = january.end_register - Decimal("50.000")
    first = invoice_rerate(invoice=january, actor=staff, reason="Read on site", closing_register=closing)
    balance = account_balance(account=january.account)
    with pytest.raises(RerateRefused, match="no difference"):
        invoice_rerate(invoice=january, actor=staff, reason="Read on site", closing_register=closing)
    assert list(Note.objects.values_list("number", flat=True)) == [first.number]
    assert account_balance(account=january.account) == balance


def test_a_second_correction_is_compared_with_the_month_as_the_first_note_left_it(january, staff):
    invoice_rerate(invoice=january, actor=staff, reason="Read on site", closing_register=january.end_register - 50)
    preview = invoice_rerate_preview(invoice=january, closing_register=january.end_register + 70)
    assert preview.before.energy_kwh == Decimal("200.000")
    assert preview.total_before() == TOTAL_AT_200_KWH
    second = invoice_rerate(
        invoice=january, actor=staff, reason="Second read", closing_register=january.end_register + 70
    )
    assert second.kind == Note.Kind.DEBIT
    assert second.amount == TOTAL_AT_320_KWH - TOTAL_AT_200_KWH
    # Back to the read as billed: the notes add up to nothing.
    third = invoice_rerate(invoice=january, actor=staff, reason="Original read", closing_register=january.end_register)
    assert third.kind == Note.Kind.CREDIT
    assert third.amount == TOTAL_AT_320_KWH - JANUARY_TOTAL


def test_the_invoice_row_and_its_pdf_stay_exactly_as_issued(january, staff, tmp_path):
    before = _as_issued(january)
    pdf_before = invoice_pdf_bytes(invoice=january)
    note = invoice_rerate(
        invoice=january, actor=staff, reason="Read on site", closing_register=january.end_register - 50
    )
    assert _as_issued(january) == before
    assert invoice_pdf_bytes(invoice=january) == pdf_before
    text = pdf_text(note_pdf_bytes(note=note), tmp_path)
    for expected in ("CREDIT NOTE", note.number, january.number, "January 2025", "meter-001", "₹265.50"):
        assert expected in text, expected
    assert "Rupees two hundred and sixty-five and fifty paise only" in " ".join(text.split())


def test_a_credit_larger_than_what_is_open_leaves_credit_on_the_account(january, staff):
    """The note lowers the balance by its whole amount, even below zero (credit for the next bill)."""
    closing = january.end_register - january.energy_kwh  # nothing used at all: only the fixed charge is due
    note = invoice_rerate(invoice=january, actor=staff, reason="Meter stopped", closing_register=closing)
    assert note.amount == JANUARY_TOTAL - Decimal("59.00")  # fixed 50.00 + tax 9.00
    assert account_balance(account=january.account) == Decimal("59.00")


def test_a_read_below_the_opening_is_refused(january, staff):
    with pytest.raises(RerateRefused, match="below the opening register"):
        invoice_rerate(invoice=january, actor=staff, reason="Typo", closing_register=Decimal("0"))
    assert not Note.objects.exists()
