"""Disconnection notices: a letter to a customer in long arrears, issued by staff; nothing is switched off.
Rules: docs/billing.md#disconnection-notices."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from accounts.models import User
from billing.collections import disconnection_candidates
from billing.models import Account, DisconnectionNotice
from billing.pdf import render_disconnection_letter_pdf
from billing.selectors import billing_today
from billing.services.kept_files import file_keep, file_read
from billing.services.ledger import account_lock
from billing.zone import billing_zone
from ops.audit import audit_log


@dataclass
class NoticeOutcome:
    issued: list[DisconnectionNotice] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  # "<consumer number>: why", for staff


def notice_pay_by(notice: DisconnectionNotice) -> date:
    """The last day to pay: the notice period after the day the notice was issued."""
    issued_on = notice.issued_at.astimezone(billing_zone()).date()
    return issued_on + timedelta(days=settings.DISCONNECTION_NOTICE_PERIOD_DAYS)


def disconnection_notices_issue(
    *, account_ids: Iterable[int], actor: User | None, today: date | None = None
) -> NoticeOutcome:
    """A notice with its letter for each account still more than DISCONNECTION_NOTICE_DAYS in arrears and
    without a notice inside its notice period; the others are skipped with the reason."""
    today = today or billing_today()
    outcome = NoticeOutcome()
    for account_id in sorted(set(account_ids)):
        account = Account.objects.filter(pk=account_id).first()
        if account is None:
            outcome.skipped.append(f"account {account_id}: no such account")
            continue
        with transaction.atomic():
            account = account_lock(account=account)  # one notice at a time per account
            found = disconnection_candidates(today=today, account_ids=[account.pk])
            if not found:
                outcome.skipped.append(
                    f"{account.consumer_number}: nothing open more than {settings.DISCONNECTION_NOTICE_DAYS} days "
                    "past due"
                )
                continue
            candidate = found[0]
            if not candidate.can_notice:
                outcome.skipped.append(
                    f"{account.consumer_number}: a notice issued {candidate.noticed_at:%d %b %Y} is still running"
                )
                continue
            notice = DisconnectionNotice.objects.create(
                account=account,
                amount_overdue=candidate.amount_overdue,
                oldest_due_date=candidate.oldest_due_date,
                issued_at=timezone.now(),
                issued_by=actor,
            )
        # Drawn after the commit: the account is not held locked while the PDF renders; a letter lost to a
        # crash here is drawn on first download instead.
        disconnection_letter_store(notice=notice)
        audit_log(
            actor=actor,
            action="disconnection_notice.issue",
            consumer_number=account.consumer_number,
            amount_overdue=str(notice.amount_overdue),
            oldest_due_date=notice.oldest_due_date.isoformat(),
        )
        outcome.issued.append(notice)
    return outcome


def _render(notice: DisconnectionNotice) -> bytes:
    return render_disconnection_letter_pdf(
        notice, period_days=settings.DISCONNECTION_NOTICE_PERIOD_DAYS, pay_by=notice_pay_by(notice)
    )


def disconnection_letter_store(*, notice: DisconnectionNotice) -> bytes:
    pdf = _render(notice)
    file_keep(instance=notice, field="letter", filename=letter_filename(notice), content=pdf)
    return pdf


def disconnection_letter_bytes(*, notice: DisconnectionNotice) -> bytes:
    """The stored letter, or, when the file is gone, the letter drawn again from the notice."""
    return file_read(notice.letter) or disconnection_letter_store(notice=notice)


def letter_filename(notice: DisconnectionNotice) -> str:
    return f"disconnection-notice-{notice.account.consumer_number}-{notice.issued_at:%Y-%m-%d}.pdf"
