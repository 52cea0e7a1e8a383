"""python manage.py mqtt_setup_roles [--dry-run]: the consumer's and the live view's broker roles and logins.

Makes Mosquitto's dynamic security plugin (administered through MQTT_ADMIN_URL) hold the
roles of readings.broker_roles and the logins of MQTT_URL and LIVE_MQTT_URL, each with its
one role. Safe to run on every deployment: it changes only what differs, and a login whose
password already works is not touched (setting a password disconnects its sessions).
docs/deployment.md#mqtt-credentials.
"""

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from devices.topics import topic_prefixes
from readings.broker_roles import (
    ClientState,
    ProductAccount,
    acls_from_broker,
    broker_roles_plan,
    product_accounts,
    product_roles,
)
from readings.ingestion.mqtt import BrokerAccounts, BrokerAdminError, BrokerSettings, MqttConfigError, broker_probe


class Command(BaseCommand):
    help = "Create or update the consumer's and live view's least-privilege broker roles and logins."

    def add_arguments(self, parser):
        parser.add_argument("--dry-run", action="store_true", help="Print the changes without making them.")

    def handle(self, *args, dry_run: bool = False, **options):
        if not settings.MQTT_ADMIN_URL:
            raise CommandError("MQTT_ADMIN_URL is not set: there is no broker administration to set up")
        try:
            consumer = BrokerSettings.from_settings(settings.MQTT_URL)
            live = BrokerSettings.from_settings(settings.LIVE_MQTT_URL or settings.MQTT_URL)
            accounts = BrokerAccounts(BrokerSettings.from_settings(settings.MQTT_ADMIN_URL))
        except MqttConfigError as exc:
            raise CommandError(str(exc)) from exc
        wanted_accounts, notes = product_accounts(
            consumer_url_username=consumer.username,
            consumer_url_password=consumer.password,
            live_url_username=live.username,
            live_url_password=live.password,
        )
        for note in notes:
            self.stdout.write(f"note: {note}")
        roles = product_roles(live_shared_group=settings.LIVE_MQTT_SHARED_GROUP, prefixes=topic_prefixes())
        address = {live.username: live, consumer.username: consumer}  # where each login connects
        try:
            with accounts:
                current_roles = {name: _role(accounts, name) for name in roles}
                current_clients = {
                    account.username: _client(accounts, account, address[account.username])
                    for account in wanted_accounts
                }
                steps = broker_roles_plan(
                    roles=roles,
                    current_roles=current_roles,
                    accounts=wanted_accounts,
                    current_clients=current_clients,
                )
                if not steps:
                    self.stdout.write("The broker's roles and logins are as configured: nothing to do.")
                    return
                for step in steps:
                    self.stdout.write(("would " if dry_run else "") + step.description)
                if not dry_run:
                    accounts.commands([step.command for step in steps])
        except BrokerAdminError as exc:
            raise CommandError(str(exc)) from exc
        if not dry_run:
            self.stdout.write(self.style.SUCCESS(f"Done: {len(steps)} change(s)."))


def _role(accounts: BrokerAccounts, rolename: str):
    try:
        return acls_from_broker(accounts.command("getRole", rolename=rolename)["role"].get("acls", []))
    except BrokerAdminError as exc:
        if exc.error == "Role not found":
            return None
        raise


def _client(accounts: BrokerAccounts, account: ProductAccount, address: BrokerSettings) -> ClientState | None:
    try:
        client = accounts.command("getClient", username=account.username)["client"]
    except BrokerAdminError as exc:
        if exc.error == "Client not found":
            return None
        raise
    disabled = bool(client.get("disabled"))
    return ClientState(
        roles=frozenset(role["rolename"] for role in client.get("roles", [])),
        disabled=disabled,
        password_current=not disabled and _password_works(address),
    )


def _password_works(address: BrokerSettings) -> bool:
    try:
        return broker_probe(address, timeout=3.0) is not None
    except MqttConfigError:
        return False
