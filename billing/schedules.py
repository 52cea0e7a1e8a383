"""The billing jobs django-q2 runs on a clock, as the app expects them to be scheduled.

Migrations create them, each writing its data out literally (billing 0002), so a
change here needs a new migration; tests check the migrated database holds every
schedule listed here. Cron expressions are read in the billing time zone (settings
set Q_CLUSTER's ``time_zone`` to BILLING_TIME_ZONE); see docs/billing.md#schedule.
"""

SCHEDULES = [
    {
        "name": "billing: monthly run",
        "func": "billing.tasks.run_monthly_billing",
        "cron": "5 0 1 * *",  # 00:05 on the 1st: bill the month that just ended
    },
    {
        "name": "billing: mark overdue invoices",
        "func": "billing.tasks.mark_overdue_invoices",
        "cron": "30 0 * * *",  # daily at 00:30
    },
]
