"""Input and output shapes of the meter API."""

from rest_framework import serializers

from accounts.models import User
from devices.identity import DEVICE_ID_PATTERN, DEVICE_ID_RULE
from devices.models import Device


class DeviceListOutputSerializer(serializers.ModelSerializer):
    class Meta:
        model = Device
        fields = ["device_id", "name", "location", "last_seen", "status"]
        read_only_fields = fields


class DeviceDetailOutputSerializer(serializers.ModelSerializer):
    owner = serializers.SerializerMethodField()

    class Meta:
        model = Device
        fields = [
            "device_id",
            "name",
            "location",
            "owner",
            "wifi_ssid",
            "status",
            "last_seen",
            "firmware_version",
            "created_at",
            "decommissioned_at",
        ]
        read_only_fields = fields

    def get_owner(self, device) -> dict:
        return {"id": device.owner_id, "email": device.owner.email, "name": device.owner.name}


class DeviceCreateInputSerializer(serializers.Serializer):
    device_id = serializers.RegexField(
        DEVICE_ID_PATTERN,
        max_length=64,
        error_messages={"invalid": f"Use {DEVICE_ID_RULE} (the id becomes an MQTT topic level)."},
    )
    name = serializers.CharField(max_length=120, required=False, allow_blank=True, default="")
    location = serializers.CharField(max_length=255, required=False, allow_blank=True, default="")
    wifi_ssid = serializers.CharField(max_length=64, required=False, allow_blank=True, default="")
    firmware_version = serializers.CharField(max_length=32, required=False, allow_blank=True, default="")
    owner = serializers.PrimaryKeyRelatedField(
        queryset=User.objects.filter(is_active=True), required=False, help_text="Staff only: the customer's user id."
    )


class DeviceListFilterSerializer(serializers.Serializer):
    owner = serializers.IntegerField(required=False, min_value=1)
    status = serializers.ChoiceField(choices=Device.Status.choices, required=False)
