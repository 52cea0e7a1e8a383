"""Receivables: customer accounts, the ledger, payments and their allocation, credit and debit notes,
document number series and imported bank statement lines. Rules: docs/billing.md#receivables."""

from decimal import Decimal

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

from billing.storage import private_storage

ZERO = Decimal("0.00")


class Account(models.Model):
    """A customer's account with the utility; its consumer number is printed on every document."""

    consumer_number = models.CharField(max_length=10, unique=True, help_text="Ten digits, the last a check digit.")
    customer = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="account")
    opened_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["consumer_number"]

    def __str__(self):
        return f"{self.consumer_number} ({self.customer})"


class DocumentSequence(models.Model):
    """The last number issued in one document series for one financial year (April–March).

    Numbers are taken by locking this row inside the issuing transaction, so a rolled-back
    issue gives its number back and two runs never skip or repeat one.
    """

    class Series(models.TextChoices):
        INVOICE = "INV", "Invoices"
        CREDIT_NOTE = "CRN", "Credit notes"
        DEBIT_NOTE = "DBN", "Debit notes"
        RECEIPT = "RCT", "Receipts"

    series = models.CharField(max_length=3, choices=Series.choices)
    financial_year = models.PositiveSmallIntegerField(help_text="The calendar year the financial year starts in.")
    last_number = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["series", "financial_year"]
        constraints = [
            models.UniqueConstraint(fields=["series", "financial_year"], name="document_sequence_unique_series_year")
        ]

    def __str__(self):
        return f"{self.series} {self.financial_year}-{(self.financial_year + 1) % 100:02d}: {self.last_number}"


def note_pdf_path(note, filename):
    return f"notes/{note.number}.pdf"


def receipt_pdf_path(payment, filename):
    return f"receipts/{payment.number}.pdf"


class Note(models.Model):
    """A credit note (lowers what the customer owes) or a debit note (raises it), never edited once issued."""

    class Kind(models.TextChoices):
        CREDIT = "credit", "Credit note"
        DEBIT = "debit", "Debit note"

    class Reason(models.TextChoices):
        RERATE = "rerate", "Month billed again"
        LATE_PAYMENT = "late_payment", "Late-payment surcharge"
        ADJUSTMENT = "adjustment", "Adjustment"

    number = models.CharField(max_length=16, unique=True)
    kind = models.CharField(max_length=8, choices=Kind.choices)
    reason = models.CharField(max_length=16, choices=Reason.choices)
    account = models.ForeignKey(Account, on_delete=models.PROTECT, related_name="notes")
    invoice = models.ForeignKey(
        "billing.Invoice",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="notes",
        help_text="The invoice this note corrects or is charged with.",
    )
    amount = models.DecimalField(max_digits=12, decimal_places=2, help_text="Positive, tax included.")
    description = models.TextField(help_text="Printed on the note: why it was issued.")
    detail = models.JSONField(default=dict, blank=True, help_text="How the amount was worked out.")
    issued_at = models.DateTimeField(default=timezone.now)
    issued_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    pdf = models.FileField(storage=private_storage, upload_to=note_pdf_path, blank=True, max_length=200)
    emailed_at = models.DateTimeField(null=True, blank=True, help_text="When the note went to the customer.")

    class Meta:
        ordering = ["-issued_at"]
        constraints = [
            models.CheckConstraint(condition=Q(amount__gt=0), name="note_amount_positive"),
        ]

    def __str__(self):
        return self.number

    @property
    def is_credit(self) -> bool:
        return self.kind == self.Kind.CREDIT

    @property
    def pdf_filename(self) -> str:
        return f"{self.get_kind_display().lower().replace(' ', '-')}-{self.number}.pdf"


class Payment(models.Model):
    """Money received from a customer. Reversing it (a bounced cheque) keeps the row and reopens what it paid."""

    class Method(models.TextChoices):
        CASH = "cash", "Cash"
        UPI = "upi", "UPI"
        CARD = "card", "Card"
        BANK_TRANSFER = "bank_transfer", "Bank transfer"
        CHEQUE = "cheque", "Cheque"

    number = models.CharField("receipt number", max_length=16, unique=True)
    account = models.ForeignKey(Account, on_delete=models.PROTECT, related_name="payments")
    amount = models.DecimalField(max_digits=12, decimal_places=2)
    method = models.CharField(max_length=16, choices=Method.choices)
    reference = models.CharField(max_length=120, blank=True, help_text="Cheque number, UPI or bank reference.")
    received_on = models.DateField()
    recorded_at = models.DateTimeField(default=timezone.now)
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    reversed_at = models.DateTimeField(null=True, blank=True)
    reversed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    reversal_reason = models.CharField(max_length=200, blank=True)
    receipt_pdf = models.FileField(storage=private_storage, upload_to=receipt_pdf_path, blank=True, max_length=200)
    receipt_emailed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-received_on", "-number"]
        constraints = [models.CheckConstraint(condition=Q(amount__gt=0), name="payment_amount_positive")]

    def __str__(self):
        return self.number

    @property
    def is_reversed(self) -> bool:
        return self.reversed_at is not None

    @property
    def receipt_filename(self) -> str:
        return f"receipt-{self.number}.pdf"


class LedgerEntry(models.Model):
    """One money event on an account. Positive entries raise what the customer owes, negative ones lower it;
    the balance is the sum. Entries are only ever added."""

    class Kind(models.TextChoices):
        INVOICE = "invoice", "Invoice"
        PAYMENT = "payment", "Payment"
        CREDIT_NOTE = "credit_note", "Credit note"
        DEBIT_NOTE = "debit_note", "Debit note"
        REVERSAL = "reversal", "Payment reversed"

    account = models.ForeignKey(Account, on_delete=models.PROTECT, related_name="entries")
    kind = models.CharField(max_length=16, choices=Kind.choices)
    amount = models.DecimalField(max_digits=12, decimal_places=2, help_text="Signed: + owed, − paid or credited.")
    posted_on = models.DateField(help_text="The day the entry counts from (billing time zone).")
    posted_at = models.DateTimeField(default=timezone.now)
    document_number = models.CharField(max_length=40, help_text="The invoice, note or receipt number.")
    description = models.CharField(max_length=200, blank=True)
    invoice = models.ForeignKey(
        "billing.Invoice", null=True, blank=True, on_delete=models.PROTECT, related_name="ledger_entries"
    )
    payment = models.ForeignKey(Payment, null=True, blank=True, on_delete=models.PROTECT, related_name="entries")
    note = models.ForeignKey(Note, null=True, blank=True, on_delete=models.PROTECT, related_name="entries")

    class Meta:
        ordering = ["account", "posted_on", "pk"]
        verbose_name_plural = "ledger entries"
        indexes = [models.Index(fields=["account", "posted_on"], name="ledger_account_posted_idx")]
        constraints = [
            models.UniqueConstraint(
                fields=["invoice"], condition=Q(kind="invoice"), name="ledger_one_entry_per_invoice"
            ),
            models.UniqueConstraint(
                fields=["payment", "kind"], condition=Q(payment__isnull=False), name="ledger_one_entry_per_payment_kind"
            ),
            models.UniqueConstraint(fields=["note"], condition=Q(note__isnull=False), name="ledger_one_entry_per_note"),
        ]

    def __str__(self):
        return f"{self.posted_on} {self.get_kind_display()} {self.document_number} {self.amount}"

    @property
    def is_charge(self) -> bool:
        """An invoice or debit note: something payments are allocated to."""
        return self.kind in (self.Kind.INVOICE, self.Kind.DEBIT_NOTE)

    @property
    def is_credit(self) -> bool:
        """A payment or credit note: money that is allocated to charges."""
        return self.kind in (self.Kind.PAYMENT, self.Kind.CREDIT_NOTE)


class Allocation(models.Model):
    """Part of a credit (payment or credit note) settling part of a charge (invoice or debit note).

    A reversed payment's allocations are released (kept, with released_at set) and no longer count.
    """

    credit = models.ForeignKey(LedgerEntry, on_delete=models.PROTECT, related_name="allocations_made")
    charge = models.ForeignKey(LedgerEntry, on_delete=models.PROTECT, related_name="allocations_received")
    amount = models.DecimalField(max_digits=12, decimal_places=2)
    allocated_at = models.DateTimeField(default=timezone.now)
    released_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["allocated_at", "pk"]
        constraints = [models.CheckConstraint(condition=Q(amount__gt=0), name="allocation_amount_positive")]

    def __str__(self):
        return f"{self.credit.document_number} → {self.charge.document_number}: {self.amount}"


class BankStatementLine(models.Model):
    """One line of an imported bank statement: matched to an account and recorded as a payment, or waiting
    for staff to match it by hand."""

    class Status(models.TextChoices):
        UNMATCHED = "unmatched", "Waiting for staff"
        RECORDED = "recorded", "Recorded as a payment"
        IGNORED = "ignored", "Ignored"

    import_batch = models.CharField(max_length=64, db_index=True, help_text="The upload this line came from.")
    line_number = models.PositiveIntegerField()
    received_on = models.DateField()
    amount = models.DecimalField(max_digits=12, decimal_places=2)
    narration = models.CharField(max_length=500)
    fingerprint = models.CharField(
        max_length=64, unique=True, help_text="Date, amount and narration hashed: the same line is imported once."
    )
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.UNMATCHED, db_index=True)
    problem = models.CharField(max_length=200, blank=True, help_text="Why the line could not be matched.")
    payment = models.OneToOneField(Payment, null=True, blank=True, on_delete=models.PROTECT, related_name="bank_line")
    imported_at = models.DateTimeField(default=timezone.now)
    imported_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["-imported_at", "line_number"]

    def __str__(self):
        return f"{self.received_on} {self.amount} {self.narration[:40]}"


class Reminder(models.Model):
    """A payment reminder sent for an invoice; each stage is sent at most once (claimed before sending)."""

    class Stage(models.TextChoices):
        BEFORE_DUE = "before_due", "Before the due date"
        AFTER_DUE = "after_due", "After the due date"
        FINAL = "final", "Final notice"

    invoice = models.ForeignKey("billing.Invoice", on_delete=models.CASCADE, related_name="reminders")
    stage = models.CharField(max_length=16, choices=Stage.choices)
    sent_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["invoice", "sent_at"]
        constraints = [models.UniqueConstraint(fields=["invoice", "stage"], name="reminder_once_per_stage")]

    def __str__(self):
        return f"{self.invoice} {self.get_stage_display()}"


def disconnection_letter_path(notice, filename):
    return f"disconnection-notices/{notice.account.consumer_number}-{notice.pk}.pdf"


class DisconnectionNotice(models.Model):
    """A letter warning a customer in long arrears that supply may be disconnected. Nothing is switched off."""

    account = models.ForeignKey(Account, on_delete=models.PROTECT, related_name="disconnection_notices")
    amount_overdue = models.DecimalField(max_digits=12, decimal_places=2)
    oldest_due_date = models.DateField()
    issued_at = models.DateTimeField(default=timezone.now)
    issued_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    letter = models.FileField(storage=private_storage, upload_to=disconnection_letter_path, blank=True, max_length=200)

    class Meta:
        ordering = ["-issued_at"]

    def __str__(self):
        return f"Disconnection notice {self.account.consumer_number} {self.issued_at:%Y-%m-%d}"
