"""A payment recorded by staff into the live server's own database, for the browser tests.

Run as ``python -m tests.dashboard.e2e_payment <customer email> <amount>`` with the server's environment;
records the payment with billing's own service (as the back office does) and prints its receipt number
and the account's balance after it as JSON.
"""

import json
import sys


def pay(email: str, amount: str) -> dict:
    from decimal import Decimal

    from accounts.models import User
    from billing.customer_account import account_of
    from billing.receivables import account_balance
    from billing.selectors import billing_today
    from billing.services.payments import payment_record

    account = account_of(customer=User.objects.get(email=email))
    staff = User.objects.filter(is_staff=True).first()
    payment = payment_record(
        account=account,
        amount=Decimal(amount),
        method="upi",
        received_on=billing_today(),
        reference="UTR 4242",
        actor=staff,
    )
    return {"receipt": payment.number, "balance": str(account_balance(account=account))}


if __name__ == "__main__":
    import django

    django.setup()
    print(json.dumps(pay(sys.argv[1], sys.argv[2])))
