"""The device formats' topic prefixes as configured (settings MQTT_TASMOTA_PREFIX, MQTT_SHELLY_PREFIX,
MQTT_DSMR_PREFIX); the topic layout itself is in devices.identity."""

from django.conf import settings

from devices.identity import TopicPrefixes, meter_publish_root, meter_topics


def topic_prefixes() -> TopicPrefixes:
    return TopicPrefixes(
        tasmota=settings.MQTT_TASMOTA_PREFIX, shelly=settings.MQTT_SHELLY_PREFIX, dsmr=settings.MQTT_DSMR_PREFIX
    )


def device_topics(device) -> tuple[str, ...]:
    """The topics this meter publishes its data on."""
    return meter_topics(device.payload_format, device.device_id, topic_prefixes())


def device_publish_root(device) -> str:
    """The topic this meter publishes under (its own subtree on the broker)."""
    return meter_publish_root(device.payload_format, device.device_id, topic_prefixes())
