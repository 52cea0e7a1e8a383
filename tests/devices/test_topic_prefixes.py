"""Topic prefixes that would let one format's meter publish as another's are refused."""

import pytest

from devices.identity import TopicPrefixes


def test_the_default_prefixes_are_fine():
    assert TopicPrefixes().problems() == []


@pytest.mark.parametrize(
    ("prefixes", "problem"),
    [
        (
            TopicPrefixes(tasmota="site/tele", shelly="site"),
            "MQTT_TASMOTA_PREFIX 'site/tele' must not start with MQTT_SHELLY_PREFIX 'site'",
        ),
        (
            TopicPrefixes(dsmr="smartmeter/p1"),
            "MQTT_DSMR_PREFIX 'smartmeter/p1' must not start with smartmeter 'smartmeter'",
        ),
    ],
)
def test_a_prefix_inside_another_formats_root_is_refused(prefixes, problem):
    # With shelly="site", a Shelly whose id is "tele" could publish site/tele/# - every Tasmota's data.
    assert problem in prefixes.problems()


def test_prefixes_that_only_share_leading_characters_are_fine():
    assert TopicPrefixes(tasmota="tele", shelly="telemetry-shelly").problems() == []
