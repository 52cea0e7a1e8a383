"""Billing runs from the back office: "Start a billing run" queues a run on the task workers, the run's
page and its JSON show its progress, and a run saves its counts as it goes."""

from datetime import date
from decimal import Decimal

import pytest
from django.contrib.auth.models import Permission
from django.core import mail
from django.utils import timezone
from django_q.conf import Conf
from django_q.models import Task

from billing.models import BillingRun, Invoice
from billing.months import last_complete_month, month_label
from billing.services import billing_run
from billing.services import runs as run_services
from billing.tasks import run_requested_billing
from billing.zone import billing_zone
from devices.models import Device
from tests.factories import BillingRunFactory, DeviceFactory, UserFactory
from tests.support.readings import ist, write_registers

# Invoices email on commit and the run is queued on commit: real commits.
pytestmark = pytest.mark.django_db(transaction=True)

START_URL = "/admin/billing/billingrun/start/"


@pytest.fixture(autouse=True)
def _tasks_run_at_once(monkeypatch):
    """django-q2's sync mode: a queued task runs in the queuing process, through the worker's code."""
    monkeypatch.setattr(Conf, "SYNC", True)


@pytest.fixture
def meters(customer, seed_tariff):
    """Three January 2025 meters of one customer: 250, 90 and 0 kWh; all registered in December."""
    for number, used in ((1, "250"), (2, "90"), (3, "0")):
        device = DeviceFactory(device_id=f"meter-{number:03d}", owner=customer)
        write_registers(device.device_id, [(ist(2025, 1, 1), "1000"), (ist(2025, 2, 1), str(1000 + Decimal(used)))])
    Device.objects.update(created_at=ist(2024, 12, 1))


@pytest.fixture
def billing_clerk(client):
    """Staff who may start billing runs (and see them), and nothing else."""
    user = UserFactory(email="clerk@example.com", is_staff=True)
    user.user_permissions.add(*Permission.objects.filter(codename__in=["add_billingrun", "view_billingrun"]))
    client.force_login(user)
    client.user = user
    return client


def start(client, month: str, device_id: str = ""):
    return client.post(START_URL, {"month": month, "device_id": device_id})


def test_staff_start_a_run_that_bills_the_month_and_its_page_shows_the_counts(billing_clerk, meters):
    changelist = billing_clerk.get("/admin/billing/billingrun/").content.decode()
    assert f'href="{START_URL}"' in changelist

    response = start(billing_clerk, "2025-01")

    run = BillingRun.objects.get()
    assert response.status_code == 302
    assert response.url == f"/admin/billing/billingrun/{run.pk}/change/"
    assert (run.trigger, run.requested_by, run.status) == ("admin", billing_clerk.user, "finished")
    assert (run.meters, run.billed, run.failed, run.emails_sent) == (3, 3, 0, 3)
    assert Invoice.objects.filter(billing_run=run).count() == 3
    assert len(mail.outbox) == 3
    task = Task.objects.get(func="billing.tasks.run_requested_billing")
    assert (task.args, task.success) == ((run.pk,), True)

    page = billing_clerk.get(response.url).content.decode()
    assert 'id="run-progress"' in page
    assert 'data-running="false"' in page
    assert '<span data-field="done">3</span> of <span data-field="meters">3</span> meters done' in page
    assert '<div class="sm-big" data-field="billed">3</div>' in page
    assert '<div class="sm-big" data-field="emails_sent">3</div>' in page
    assert "js/admin-billing-run.js" in page
    assert " style=" not in page.split('id="run-progress"')[1].split("</section>")[0]

    progress = billing_clerk.get(f"/admin/billing/billingrun/{run.pk}/progress/").json()
    assert {key: progress[key] for key in ("status", "running", "meters", "done", "billed", "held", "failed")} == {
        "status": "finished",
        "running": False,
        "meters": 3,
        "done": 3,
        "billed": 3,
        "held": 0,
        "failed": 0,
    }
    assert progress["emails_sent"] == 3


def test_the_start_page_offers_the_last_complete_month(billing_clerk, seed_tariff):
    page = billing_clerk.get(START_URL).content.decode()
    expected = month_label(last_complete_month(timezone.now(), billing_zone()))
    assert f'value="{expected}"' in page


def test_a_run_for_one_meter_bills_only_that_meter(billing_clerk, meters):
    start(billing_clerk, "2025-01", "meter-002")
    run = BillingRun.objects.get()
    assert (run.device_id, run.meters, run.billed) == ("meter-002", 1, 1)
    assert list(Invoice.objects.values_list("device__device_id", flat=True)) == ["meter-002"]


@pytest.mark.parametrize(
    ("month", "device_id", "message"),
    [
        ("current", "", "has not ended yet"),
        ("2019-12", "", "is before the first tariff (in force from 01 Jan 2020)"),
        ("2025-13", "", "has no month 13"),
        ("2025-01", "meter-999", "No meter &#x27;meter-999&#x27; is registered."),
    ],
)
def test_a_month_or_meter_that_cannot_be_billed_is_refused_with_a_reason(
    billing_clerk, meters, month, device_id, message
):
    if month == "current":
        month = timezone.localtime(timezone.now(), billing_zone()).strftime("%Y-%m")
    response = start(billing_clerk, month, device_id)
    assert response.status_code == 400
    assert message in response.content.decode()
    assert not BillingRun.objects.exists()
    assert not Task.objects.exists()


def test_a_month_is_not_started_twice_while_its_run_is_running(billing_clerk, meters):
    running = BillingRunFactory(month=date(2025, 1, 1), status="running", host="another-host", pid=4242)
    response = start(billing_clerk, "2025-01")
    assert response.status_code == 400
    assert f"Billing run #{running.pk} for 2025-01 is still running" in response.content.decode()
    assert BillingRun.objects.count() == 1
    assert not Invoice.objects.exists()
    # Another month is not held up by it.
    assert start(billing_clerk, "2024-12").status_code == 302


def test_staff_without_the_permission_cannot_start_a_run(client, meters):
    viewer = UserFactory(email="viewer@example.com", is_staff=True)
    viewer.user_permissions.add(Permission.objects.get(codename="view_billingrun"))
    client.force_login(viewer)
    assert START_URL not in client.get("/admin/billing/billingrun/").content.decode()
    assert client.get(START_URL).status_code == 403
    assert start(client, "2025-01").status_code == 403
    assert not BillingRun.objects.exists()


def test_the_progress_json_is_for_staff_only(client, customer, meters):
    run = BillingRunFactory(status="running")
    url = f"/admin/billing/billingrun/{run.pk}/progress/"
    anonymous = client.get(url)
    assert (anonymous.status_code, anonymous.json()) == (403, {"detail": "Staff only."})
    client.force_login(customer)
    assert client.get(url).status_code == 403
    staff_without_view = UserFactory(email="other-staff@example.com", is_staff=True)
    client.force_login(staff_without_view)
    assert client.get(url).status_code == 403


def test_a_queued_run_shows_it_waits_for_a_task_worker(billing_clerk, meters, monkeypatch):
    monkeypatch.setattr(Conf, "SYNC", False)  # no worker: the task stays on the queue
    run = BillingRun.objects.get(pk=start(billing_clerk, "2025-01").url.split("/")[-3])
    progress = billing_clerk.get(f"/admin/billing/billingrun/{run.pk}/progress/").json()
    assert (progress["status"], progress["status_label"], progress["running"]) == (
        "running",
        "Waiting for a task worker",
        True,
    )
    page = billing_clerk.get(f"/admin/billing/billingrun/{run.pk}/change/").content.decode()
    assert 'data-running="true"' in page
    assert "Waiting for a task worker" in page
    # The worker picks it up once; a repeated delivery does nothing.
    assert run_requested_billing(run.pk)["status"] == "finished"
    assert run_requested_billing(run.pk) == {"billing_run_id": run.pk, "status": "already claimed"}
    assert BillingRun.objects.get(pk=run.pk).billed == 3


def test_a_requested_run_whose_month_became_unbillable_is_marked_failed(billing_clerk, meters, monkeypatch):
    monkeypatch.setattr(Conf, "SYNC", False)
    run_id = int(start(billing_clerk, "2025-01", "meter-003").url.split("/")[-3])
    Device.objects.filter(device_id="meter-003").delete()
    run_requested_billing(run_id)
    run = BillingRun.objects.get(pk=run_id)
    assert run.status == "failed"
    assert run.failures == [{"device_id": "", "stage": "start", "error": "No meter 'meter-003' is registered."}]


def test_a_run_saves_its_counts_after_every_chunk(meters, seed_tariff, monkeypatch):
    seed_tariff.review_ceiling = Decimal("1000.00")  # the 250 kWh bill (1268.50) is held
    seed_tariff.save(update_fields=["review_ceiling"])
    seen = []
    issue = run_services.invoice_issue

    def issue_and_look(**kwargs):
        run = BillingRun.objects.get()
        seen.append((run.meters, run.billed, run.held))
        return issue(**kwargs)

    monkeypatch.setattr(run_services, "invoice_issue", issue_and_look)
    billing_run(month=date(2025, 1, 1), chunk_size=1)
    assert seen == [(3, 0, 0), (3, 0, 1), (3, 1, 1)]
    run = BillingRun.objects.get()
    assert (run.billed, run.held, run.meters_done, run.status) == (2, 1, 3, "finished")
