"""Least-privilege broker roles and accounts of the product's own clients: the consumer and the live view.

`smartmeter-consumer` may subscribe to every meter's data topics in every payload format
(devices.identity.ingest_topic_filters under the configured prefixes), shared or not;
`smartmeter-live` to the same, and shared only in its own group (LIVE_MQTT_SHARED_GROUP), so a
web process can never join the consumers' group and take a share of their messages. Neither
may publish anything: the plugin denies what no ACL allows. The accounts' usernames and
passwords are the ones in MQTT_URL and LIVE_MQTT_URL. `manage.py mqtt_setup_roles` gathers
what the broker has, plans the commands (pure, printed by --dry-run) and runs them.
docs/deployment.md#mqtt-credentials.
"""

from __future__ import annotations

from dataclasses import dataclass

from devices.identity import DEFAULT_PREFIXES, TopicPrefixes, ingest_topic_filters

CONSUMER_ROLE = "smartmeter-consumer"
LIVE_ROLE = "smartmeter-live"

Acl = tuple[str, str, bool]  # (acltype, topic, allow)


def product_roles(*, live_shared_group: str, prefixes: TopicPrefixes = DEFAULT_PREFIXES) -> dict[str, set[Acl]]:
    """The ACLs each product role must have, exactly (`prefixes`: devices.topics.topic_prefixes())."""
    filters = ingest_topic_filters(prefixes)
    consumer = {("subscribePattern", topic, True) for topic in filters}
    consumer |= {("subscribePattern", f"$share/+/{topic}", True) for topic in filters}
    live = {("subscribePattern", topic, True) for topic in filters}
    if live_shared_group:
        live |= {("subscribePattern", f"$share/{live_shared_group}/{topic}", True) for topic in filters}
    return {CONSUMER_ROLE: consumer, LIVE_ROLE: live}


@dataclass(frozen=True, slots=True)
class ProductAccount:
    """A login the product's own processes use, and the one role it must have."""

    username: str
    password: str
    rolename: str
    purpose: str


@dataclass(frozen=True, slots=True)
class ClientState:
    """What the broker has for one login."""

    roles: frozenset[str]
    disabled: bool
    password_current: bool  # whether the login's password already answers (tried with a connect)


@dataclass(frozen=True, slots=True)
class Step:
    description: str
    command: dict


def product_accounts(
    *,
    consumer_url_username: str | None,
    consumer_url_password: str | None,
    live_url_username: str | None,
    live_url_password: str | None,
) -> tuple[list[ProductAccount], list[str]]:
    """The accounts to set up from MQTT_URL and LIVE_MQTT_URL, and notes on what was left out and why.

    LIVE_MQTT_URL defaults to MQTT_URL: one login then serves both, with the consumer's role
    (which covers what the live view needs).
    """
    accounts, notes = [], []
    if consumer_url_username and consumer_url_password:
        accounts.append(
            ProductAccount(consumer_url_username, consumer_url_password, CONSUMER_ROLE, "consumer (MQTT_URL)")
        )
    else:
        notes.append("MQTT_URL has no username and password: no consumer account set up")
    if live_url_username == consumer_url_username:
        notes.append("LIVE_MQTT_URL uses MQTT_URL's login: the live view shares the consumer's account")
    elif live_url_username and live_url_password:
        accounts.append(ProductAccount(live_url_username, live_url_password, LIVE_ROLE, "live view (LIVE_MQTT_URL)"))
    else:
        notes.append("LIVE_MQTT_URL has no username and password: no live view account set up")
    return accounts, notes


def broker_roles_plan(
    *,
    roles: dict[str, set[Acl]],
    current_roles: dict[str, set[Acl] | None],
    accounts: list[ProductAccount],
    current_clients: dict[str, ClientState | None],
) -> list[Step]:
    """The dynamic security commands that make the broker match `roles` and `accounts` (none when it does)."""
    steps: list[Step] = []
    for rolename, wanted in sorted(roles.items()):
        have = current_roles.get(rolename)
        if have is None:
            acls = [acl_fields(acl) for acl in sorted(wanted)]
            steps.append(Step(f"create role {rolename}", {"command": "createRole", "rolename": rolename, "acls": acls}))
            continue
        for acltype, topic, allow in sorted(have - wanted):
            steps.append(
                Step(
                    f"remove {acltype} {topic} ({'allow' if allow else 'deny'}) from {rolename}",
                    {"command": "removeRoleACL", "rolename": rolename, "acltype": acltype, "topic": topic},
                )
            )
        for acl in sorted(wanted - have):
            steps.append(
                Step(
                    f"add {acl[0]} {acl[1]} to {rolename}",
                    {"command": "addRoleACL", "rolename": rolename, **acl_fields(acl)},
                )
            )
    for account in accounts:
        username = account.username
        state = current_clients.get(username)
        if state is None:
            steps.append(
                Step(
                    f"create {account.purpose} login {username} with role {account.rolename}",
                    {
                        "command": "createClient",
                        "username": username,
                        "password": account.password,
                        "roles": [{"rolename": account.rolename}],
                    },
                )
            )
            continue
        if not state.password_current:
            steps.append(
                Step(
                    f"set the password of {username}",
                    {"command": "setClientPassword", "username": username, "password": account.password},
                )
            )
        if state.disabled:
            steps.append(Step(f"enable {username}", {"command": "enableClient", "username": username}))
        if account.rolename not in state.roles:
            steps.append(
                Step(
                    f"give {username} role {account.rolename}",
                    {"command": "addClientRole", "username": username, "rolename": account.rolename},
                )
            )
        for extra in sorted(state.roles - {account.rolename}):
            steps.append(
                Step(
                    f"take role {extra} from {username} (least privilege)",
                    {"command": "removeClientRole", "username": username, "rolename": extra},
                )
            )
    return steps


def acl_fields(acl: Acl) -> dict:
    """An ACL as the plugin's commands spell it."""
    acltype, topic, allow = acl
    return {"acltype": acltype, "topic": topic, "priority": 0, "allow": allow}


def acls_from_broker(acls: list[dict]) -> set[Acl]:
    return {(acl["acltype"], acl["topic"], bool(acl.get("allow"))) for acl in acls}
