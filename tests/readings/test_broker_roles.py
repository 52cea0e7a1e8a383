"""The plan that makes the broker's product roles and logins match the settings (pure: no broker)."""

from devices.identity import TopicPrefixes
from readings.broker_roles import (
    CONSUMER_ROLE,
    LIVE_ROLE,
    ClientState,
    ProductAccount,
    broker_roles_plan,
    product_accounts,
    product_roles,
)

ROLES = product_roles(live_shared_group="smartmeter-live")
CONSUMER = ProductAccount("smartmeter-consumer", "c-pass", CONSUMER_ROLE, "consumer (MQTT_URL)")
LIVE = ProductAccount("smartmeter-live", "l-pass", LIVE_ROLE, "live view (LIVE_MQTT_URL)")


FILTERS = (
    "smartmeter/+/telemetry",
    "tele/+/SENSOR",
    "shelly/+/status/em:0",
    "shelly/+/status/em1:0",
    "shelly/+/status/emdata:0",
    "shelly/+/status/em1data:0",
    "shelly/+/events/rpc",
    "dsmr/+/json",
)


def test_the_consumer_may_subscribe_to_every_formats_data_plain_and_shared():
    assert ROLES[CONSUMER_ROLE] == {
        *(("subscribePattern", topic, True) for topic in FILTERS),
        *(("subscribePattern", f"$share/+/{topic}", True) for topic in FILTERS),
    }


def test_the_live_view_may_share_only_in_its_own_group():
    assert ROLES[LIVE_ROLE] == {
        *(("subscribePattern", topic, True) for topic in FILTERS),
        *(("subscribePattern", f"$share/smartmeter-live/{topic}", True) for topic in FILTERS),
    }
    assert product_roles(live_shared_group="")[LIVE_ROLE] == {("subscribePattern", topic, True) for topic in FILTERS}
    assert all(acltype.startswith("subscribe") for role in ROLES.values() for acltype, _, _ in role)


def test_configured_prefixes_are_what_the_roles_allow():
    roles = product_roles(live_shared_group="", prefixes=TopicPrefixes(tasmota="site/tele", shelly="sh", dsmr="p1"))
    topics = {topic for _, topic, _ in roles[CONSUMER_ROLE]}
    assert {"site/tele/+/SENSOR", "sh/+/status/em:0", "p1/+/json", "$share/+/site/tele/+/SENSOR"} <= topics
    assert not any(topic.startswith(("tele/", "shelly/", "dsmr/")) for topic in topics)


def test_an_empty_broker_gets_both_roles_and_both_logins():
    steps = broker_roles_plan(roles=ROLES, current_roles={}, accounts=[CONSUMER, LIVE], current_clients={})
    assert [step.command["command"] for step in steps] == ["createRole", "createRole", "createClient", "createClient"]
    assert steps[2].command["roles"] == [{"rolename": CONSUMER_ROLE}]
    assert steps[2].command["password"] == "c-pass"


def test_a_broker_that_matches_needs_nothing():
    current = {name: set(acls) for name, acls in ROLES.items()}
    clients = {
        CONSUMER.username: ClientState(frozenset({CONSUMER_ROLE}), disabled=False, password_current=True),
        LIVE.username: ClientState(frozenset({LIVE_ROLE}), disabled=False, password_current=True),
    }
    assert (
        broker_roles_plan(roles=ROLES, current_roles=current, accounts=[CONSUMER, LIVE], current_clients=clients) == []
    )


def test_drift_is_undone_acl_by_acl_and_role_by_role():
    widened = {*ROLES[LIVE_ROLE], ("publishClientSend", "smartmeter/+/telemetry", True)}
    current = {CONSUMER_ROLE: set(ROLES[CONSUMER_ROLE]), LIVE_ROLE: widened}
    clients = {
        CONSUMER.username: ClientState(frozenset({"admin"}), disabled=True, password_current=False),
        LIVE.username: ClientState(frozenset({LIVE_ROLE}), disabled=False, password_current=True),
    }
    steps = broker_roles_plan(roles=ROLES, current_roles=current, accounts=[CONSUMER, LIVE], current_clients=clients)
    assert [step.description for step in steps] == [
        "remove publishClientSend smartmeter/+/telemetry (allow) from smartmeter-live",
        "set the password of smartmeter-consumer",
        "enable smartmeter-consumer",
        "give smartmeter-consumer role smartmeter-consumer",
        "take role admin from smartmeter-consumer (least privilege)",
    ]


def test_logins_come_from_the_urls_and_a_shared_login_is_set_up_once():
    accounts, notes = product_accounts(
        consumer_url_username="c", consumer_url_password="p", live_url_username="c", live_url_password="p"
    )
    assert [account.rolename for account in accounts] == [CONSUMER_ROLE]
    assert "shares the consumer's account" in notes[0]
    accounts, notes = product_accounts(
        consumer_url_username=None, consumer_url_password=None, live_url_username="l", live_url_password="q"
    )
    assert [account.rolename for account in accounts] == [LIVE_ROLE]
    assert "MQTT_URL has no username" in notes[0]
