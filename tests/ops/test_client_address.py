"""The client address rate limits and audit lines use: the socket peer, or the entry a trusted proxy wrote."""

import pytest

from ops.middleware import client_address


@pytest.mark.parametrize(
    ("trusted", "forwarded_for", "peer", "expected"),
    [
        (0, "", "203.0.113.7", "203.0.113.7"),
        (0, "6.6.6.6", "203.0.113.7", "203.0.113.7"),  # forged, nobody trusted
        (1, "198.51.100.4", "10.0.0.2", "198.51.100.4"),
        (1, "6.6.6.6, 198.51.100.4", "10.0.0.2", "198.51.100.4"),  # forged entry to the left
        (1, "6.6.6.6,7.7.7.7 ,198.51.100.4", "10.0.0.2", "198.51.100.4"),
        (2, "6.6.6.6, 198.51.100.4, 10.0.0.9", "10.0.0.2", "198.51.100.4"),
        (1, "", "10.0.0.2", "10.0.0.2"),  # reached the web process directly
        (3, "198.51.100.4", "10.0.0.2", "198.51.100.4"),  # fewer entries than proxies: the leftmost one
        (1, "not-an-address", "10.0.0.2", "10.0.0.2"),
        (1, "2001:db8::1", "10.0.0.2", "2001:db8::1"),
    ],
)
def test_the_client_is_counted_from_the_right(trusted, forwarded_for, peer, expected):
    assert client_address(peer=peer, forwarded_for=forwarded_for, trusted_proxies=trusted) == expected
