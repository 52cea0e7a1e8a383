"""The billing app: registers the count of bills held for review as a /metrics gauge, and its settings checks."""

from django.apps import AppConfig


class BillingConfig(AppConfig):
    name = "billing"
    verbose_name = "Billing"

    def ready(self):
        from billing import checks  # noqa: F401 - registers the settings checks
        from billing.selectors import invoices_held_count
        from ops.prometheus import scrape_gauge_register

        scrape_gauge_register(
            "smartmeter_invoices_held", "Bills held for review, waiting for staff.", invoices_held_count
        )
