"""Staff exchange a meter (devices.services.device_exchange): the new meter is provisioned (or an
unclaimed one used) for the same customer, the old one decommissioned at the instant, both registers
recorded and audited; and the selectors billing reads exchanges through."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.db import IntegrityError, transaction
from django.utils import timezone

from devices import lifecycle
from devices.lifecycle import ProvisionedSecrets
from devices.models import Device, MeterExchange
from devices.selectors import device_exchanges, exchange_of_old, exchanges_between
from devices.services import ExchangeRefused, claim_code_matches, device_decommission, device_exchange
from tests.factories import CLAIM_CODE, DeviceFactory, UnclaimedDeviceFactory

pytestmark = pytest.mark.django_db

INSTANT = datetime(2025, 3, 14, 9, 30, tzinfo=UTC)


@pytest.fixture
def broker_hook():
    """A provisioning hook like the broker-credentials one: it hands back a secret to show once."""

    def hook(device):
        return ProvisionedSecrets(label="MQTT password", value=f"pw-for-{device.device_id}")

    lifecycle.on_provisioned(hook)
    yield hook
    lifecycle._on_provisioned.remove(hook)


@pytest.fixture
def old_meter(customer):
    device = DeviceFactory(
        device_id="old-1",
        owner=customer,
        name="Home",
        location="Jayanagar",
        sanctioned_load_kw=Decimal("7.50"),
        register_digits=6,
    )
    Device.objects.filter(pk=device.pk).update(created_at=INSTANT - timedelta(days=400))
    device.refresh_from_db()
    return device


def exchange(old, **overrides):
    arguments = {
        "old_device": old,
        "new_device_id": "new-1",
        "new_serial": "SN-NEW-1",
        "old_final_register": Decimal("12345.678"),
        "new_initial_register": Decimal("0.012"),
        "exchanged_at": INSTANT,
        "notes": "display failed",
        "actor": None,
    }
    arguments.update(overrides)
    return device_exchange(**arguments)


def test_an_exchange_provisions_the_new_meter_for_the_same_customer_and_retires_the_old(
    old_meter, customer, staff, broker_hook, caplog
):
    with caplog.at_level("INFO", logger="smartmeter.audit"):
        done = exchange(old_meter, actor=staff)

    old_meter.refresh_from_db()
    new = Device.objects.get(device_id="new-1")
    assert old_meter.is_decommissioned
    assert old_meter.decommissioned_at == INSTANT
    assert old_meter.owner == customer  # its readings and invoices stay with the customer
    assert new.owner == customer
    assert new.claim_code_hash == ""  # assigned: no claim code to hand over
    assert new.serial == "SN-NEW-1"
    assert (new.name, new.location, new.sanctioned_load_kw, new.register_digits) == (
        "Home",
        "Jayanagar",
        Decimal("7.50"),
        6,
    )
    assert not new.is_decommissioned

    stored = MeterExchange.objects.get()
    assert stored == done
    assert (stored.old_device, stored.new_device, stored.exchanged_at) == (old_meter, new, INSTANT)
    assert (stored.old_final_register, stored.new_initial_register) == (Decimal("12345.678"), Decimal("0.012"))
    assert stored.recorded_by == staff
    assert stored.notes == "display failed"
    assert old_meter.exchanges_out.get() == stored
    assert new.exchange_in == stored

    # The new meter's one-time secrets come back, as provisioning hands them over.
    assert done.provisioned.device == new
    assert done.provisioned.secrets == [ProvisionedSecrets(label="MQTT password", value="pw-for-new-1")]

    [audit] = [record for record in caplog.records if getattr(record, "action", "") == "device.exchange"]
    assert audit.actor == staff.email
    assert (audit.old_device_id, audit.new_device_id, audit.owner) == ("old-1", "new-1", customer.email)
    assert (audit.old_final_register, audit.new_initial_register) == ("12345.678", "0.012")
    assert audit.exchanged_at == INSTANT.isoformat()
    assert audit.new_meter_provisioned is True


def test_a_provisioned_unclaimed_meter_is_used_as_the_new_one(old_meter, customer):
    spare = UnclaimedDeviceFactory(device_id="spare-7", serial="SN-SPARE-7", register_digits=8)

    done = exchange(old_meter, new_device_id="spare-7", new_serial="")

    spare.refresh_from_db()
    assert done.new_device == spare
    assert done.provisioned is None  # it keeps the credentials it was provisioned with
    assert spare.owner == customer
    assert not claim_code_matches(CLAIM_CODE, spare.claim_code_hash)  # the open claim code stops working
    assert spare.serial == "SN-SPARE-7"
    assert spare.register_digits == 8  # its own register, not the old meter's
    assert spare.location == "Jayanagar"
    assert Device.objects.count() == 2


def test_the_exchange_instant_is_kept_to_the_millisecond(old_meter):
    done = exchange(old_meter, exchanged_at=INSTANT.replace(microsecond=123456))
    assert done.exchanged_at == INSTANT.replace(microsecond=123000)


@pytest.mark.parametrize(
    ("setup", "words"),
    [
        (lambda old: device_decommission(device=old), "already decommissioned"),
        (lambda old: Device.objects.filter(pk=old.pk).update(owner=None), "has no customer"),
    ],
    ids=["decommissioned", "unclaimed"],
)
def test_an_old_meter_out_of_service_or_without_customer_is_refused(old_meter, setup, words):
    setup(old_meter)
    old_meter.refresh_from_db()
    with pytest.raises(ExchangeRefused, match=words):
        exchange(old_meter)
    assert not MeterExchange.objects.exists()
    assert not Device.objects.filter(device_id="new-1").exists()


def test_an_instant_in_the_future_or_before_the_meter_entered_service_is_refused(old_meter):
    with pytest.raises(ExchangeRefused, match="in the future") as refused:
        exchange(old_meter, exchanged_at=timezone.now() + timedelta(minutes=5))
    assert refused.value.field == "exchanged_at"
    with pytest.raises(ExchangeRefused, match="entered service"):
        exchange(old_meter, exchanged_at=old_meter.created_at - timedelta(seconds=1))
    with pytest.raises(ExchangeRefused, match="time zone"):
        exchange(old_meter, exchanged_at=datetime(2025, 3, 14, 9, 30))  # noqa: DTZ001 - naive on purpose
    old_meter.refresh_from_db()
    assert not old_meter.is_decommissioned
    assert not Device.objects.filter(device_id="new-1").exists()


def test_a_meter_that_came_in_by_an_exchange_cannot_go_out_before_it(old_meter):
    first = exchange(old_meter)
    with pytest.raises(ExchangeRefused, match="entered service"):
        exchange(first.new_device, new_device_id="new-2", new_serial="", exchanged_at=INSTANT - timedelta(hours=1))
    later = exchange(first.new_device, new_device_id="new-2", new_serial="", exchanged_at=INSTANT + timedelta(days=3))
    assert later.old_device == first.new_device
    assert [item.pk for item in device_exchanges(device=first.new_device)] == [later.pk, first.pk]


@pytest.mark.parametrize(
    ("new_device_id", "new_serial", "field", "words"),
    [
        ("old-1", "", "new_device_id", "cannot replace itself"),
        ("bad/id", "", "new_device_id", "letters, digits"),
        ("taken-1", "", "new_device_id", "already in service"),
        ("retired-1", "", "new_device_id", "decommissioned"),
        ("spare-1", "SN-OTHER", "new_serial", "has serial 'SN-SPARE-1'"),
        ("new-1", "SN-SPARE-1", "new_serial", "serial 'SN-SPARE-1' is already provisioned"),
    ],
)
def test_an_unusable_new_meter_is_refused_naming_the_field(old_meter, new_device_id, new_serial, field, words):
    DeviceFactory(device_id="taken-1")
    device_decommission(device=UnclaimedDeviceFactory(device_id="retired-1"))
    UnclaimedDeviceFactory(device_id="spare-1", serial="SN-SPARE-1")
    with pytest.raises(ExchangeRefused, match=words) as refused:
        exchange(old_meter, new_device_id=new_device_id, new_serial=new_serial)
    assert refused.value.field == field
    old_meter.refresh_from_db()
    assert not old_meter.is_decommissioned
    assert not MeterExchange.objects.exists()


def test_a_failing_provisioning_hook_leaves_everything_as_it_was(old_meter):
    def hook(device):
        raise RuntimeError("broker down")

    lifecycle.on_provisioned(hook)
    try:
        with pytest.raises(RuntimeError):
            exchange(old_meter)
    finally:
        lifecycle._on_provisioned.remove(hook)
    old_meter.refresh_from_db()
    assert not old_meter.is_decommissioned
    assert not Device.objects.filter(device_id="new-1").exists()
    assert not MeterExchange.objects.exists()


def test_the_database_refuses_a_second_exchange_of_one_meter_and_a_meter_replacing_itself(old_meter):
    first = exchange(old_meter)
    other = DeviceFactory(device_id="other-1")
    with pytest.raises(IntegrityError), transaction.atomic():
        MeterExchange.objects.create(
            old_device=old_meter,
            new_device=other,
            exchanged_at=INSTANT,
            old_final_register=Decimal("1"),
            new_initial_register=Decimal("0"),
        )
    with pytest.raises(IntegrityError), transaction.atomic():
        MeterExchange.objects.create(
            old_device=other,
            new_device=other,
            exchanged_at=INSTANT,
            old_final_register=Decimal("1"),
            new_initial_register=Decimal("0"),
        )
    assert list(MeterExchange.objects.all()) == [first]


# --- selectors for billing ----------------------------------------------------------------


@pytest.fixture
def three_exchanges(customer):
    """a->b on 14 March, c->d on 1 April 00:00 UTC (the next month's start), e->f on 28 Feb."""
    made = {}
    for old_id, new_id, when in (
        ("a", "b", INSTANT),
        ("c", "d", datetime(2025, 4, 1, tzinfo=UTC)),
        ("e", "f", datetime(2025, 2, 28, 23, 59, tzinfo=UTC)),
    ):
        old = DeviceFactory(device_id=old_id, owner=customer)
        Device.objects.filter(pk=old.pk).update(created_at=INSTANT - timedelta(days=365))
        old.refresh_from_db()
        made[old_id] = exchange(old, new_device_id=new_id, new_serial="", exchanged_at=when)
    return made


MARCH = (datetime(2025, 3, 1, tzinfo=UTC), datetime(2025, 4, 1, tzinfo=UTC))


def test_exchanges_between_finds_the_months_exchanges_by_the_new_meter(three_exchanges, django_assert_num_queries):
    start, end = MARCH
    with django_assert_num_queries(1):
        found = exchanges_between(device_ids=["b", "d", "f", "a", "zzz"], start=start, end=end)
        assert list(found) == ["b"]  # d came in at the end instant (April's), f in February
        assert found["b"].old_device.device_id == "a"  # loaded with the same query
        assert found["b"].old_final_register == Decimal("12345.678")
    assert exchanges_between(device_ids=[], start=start, end=end) == {}


def test_exchange_of_old_finds_the_months_exchanges_by_the_old_meter(three_exchanges, django_assert_num_queries):
    start, end = MARCH
    with django_assert_num_queries(1):
        found = exchange_of_old(device_ids=("a", "c", "e", "b"), start=start, end=end)
        assert list(found) == ["a"]
        assert found["a"].new_device.device_id == "b"
        assert found["a"].exchanged_at == INSTANT
    april = exchange_of_old(device_ids=["c"], start=end, end=datetime(2025, 5, 1, tzinfo=UTC))
    assert april["c"] == three_exchanges["c"]
