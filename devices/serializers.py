"""Input and output shapes of the meter API."""

from decimal import Decimal

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from accounts.models import User
from devices.identity import DEVICE_ID_PATTERN, DEVICE_ID_RULE, NATIVE, PAYLOAD_FORMAT_LABELS
from devices.models import DEFAULT_SANCTIONED_LOAD_KW, Device


class DeviceListOutputSerializer(serializers.ModelSerializer):
    class Meta:
        model = Device
        fields = ["device_id", "name", "location", "last_seen", "status"]
        read_only_fields = fields


class OwnerOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    email = serializers.EmailField()
    name = serializers.CharField()


class DeviceDetailOutputSerializer(serializers.ModelSerializer):
    owner = serializers.SerializerMethodField()

    class Meta:
        model = Device
        fields = [
            "device_id",
            "name",
            "location",
            "owner",
            "serial",
            "sanctioned_load_kw",
            "register_digits",
            "payload_format",
            "claimed_at",
            "wifi_ssid",
            "status",
            "last_seen",
            "firmware_version",
            "created_at",
            "decommissioned_at",
        ]
        read_only_fields = fields

    @extend_schema_field(OwnerOutputSerializer(allow_null=True))
    def get_owner(self, device) -> dict | None:
        if device.owner is None:  # provisioned, not claimed yet (only staff see these)
            return None
        return {"id": device.owner_id, "email": device.owner.email, "name": device.owner.name}


class ProvisionedSecretOutputSerializer(serializers.Serializer):
    label = serializers.CharField()
    value = serializers.CharField()


class DeviceProvisionedOutputSerializer(DeviceDetailOutputSerializer):
    """The answer to POST /api/devices: the meter, and when staff just provisioned it, its claim
    code (null when assigned straight to an owner, and for a claim) and the secrets the
    provisioning hooks returned (empty for a claim): the only time the API shows them."""

    claim_code = serializers.SerializerMethodField()
    secrets = serializers.SerializerMethodField()

    class Meta(DeviceDetailOutputSerializer.Meta):
        fields = [*DeviceDetailOutputSerializer.Meta.fields, "claim_code", "secrets"]
        read_only_fields = fields

    @extend_schema_field(serializers.CharField(allow_null=True))
    def get_claim_code(self, device) -> str | None:
        return self.context.get("claim_code")

    @extend_schema_field(ProvisionedSecretOutputSerializer(many=True))
    def get_secrets(self, device) -> list[dict]:
        return [{"label": secret.label, "value": secret.value} for secret in self.context.get("secrets", [])]


def _device_id_field(**kwargs):
    return serializers.RegexField(
        DEVICE_ID_PATTERN,
        max_length=64,
        error_messages={"invalid": f"Use {DEVICE_ID_RULE} (the id becomes an MQTT topic level)."},
        **kwargs,
    )


class DeviceClaimInputSerializer(serializers.Serializer):
    """A customer adds a meter: its id and the claim code that came with it."""

    device_id = _device_id_field()
    claim_code = serializers.CharField(
        max_length=32, help_text="The code handed over with the meter, e.g. K7QP-3MXW-9T."
    )
    name = serializers.CharField(max_length=120, required=False, allow_blank=True, default="")


class DeviceProvisionInputSerializer(serializers.Serializer):
    """Staff add a meter nobody owns yet (or, with ``owner``, assign it at once)."""

    device_id = _device_id_field()
    serial = serializers.CharField(max_length=64, required=False, allow_blank=True, default="")
    sanctioned_load_kw = serializers.DecimalField(
        max_digits=7, decimal_places=2, min_value=Decimal("0.01"), required=False, default=DEFAULT_SANCTIONED_LOAD_KW
    )
    name = serializers.CharField(max_length=120, required=False, allow_blank=True, default="")
    location = serializers.CharField(max_length=255, required=False, allow_blank=True, default="")
    wifi_ssid = serializers.CharField(max_length=64, required=False, allow_blank=True, default="")
    firmware_version = serializers.CharField(max_length=32, required=False, allow_blank=True, default="")
    payload_format = serializers.ChoiceField(
        choices=list(PAYLOAD_FORMAT_LABELS.items()),
        required=False,
        default=NATIVE,
        help_text="What the meter sends, and so its MQTT topics and broker permissions.",
    )
    owner = serializers.PrimaryKeyRelatedField(
        queryset=User.objects.filter(is_active=True),
        required=False,
        help_text="Assign the meter to this customer (user id) at once; no claim code is then issued.",
    )


class DeviceListFilterSerializer(serializers.Serializer):
    owner = serializers.IntegerField(required=False, min_value=1)
    status = serializers.ChoiceField(choices=Device.Status.choices, required=False)
