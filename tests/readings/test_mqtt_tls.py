# ruff: noqa: F811 - pytest fixtures imported from ingest_helpers are redefined as arguments
"""The consumer and the simulator over TLS with a username and password, against a Mosquitto
started with a self-signed certificate (made here, at test time) and a password file."""

import ipaddress
import subprocess
from datetime import UTC, datetime, timedelta

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from django.db import connection

from readings.ingestion.mqtt import BrokerSettings, MqttConfigError, broker_probe
from tests.readings.ingest_helpers import (  # noqa: F401 - fixtures
    BASE_DIR,
    PYTHON,
    LocalBroker,
    consumers,
    ingest_db,
    ingest_db_template,
    process_env,
    publisher_for,
    stored_count,
    telemetry_stream,
)
from tests.support.network import wait_until

pytestmark = [
    pytest.mark.broker,
    pytest.mark.skipif(
        connection.vendor != "sqlite",
        reason="consumer subprocesses use their own SQLite file: run once, in the SQLite pass",
    ),
]

USER, PASSWORD = "ingest", "s3cret-pass:with@odd/chars"
QUOTED_PASSWORD = "s3cret-pass%3Awith%40odd%2Fchars"


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def make_certificates(directory):
    """A throwaway CA and a server certificate for localhost / 127.0.0.1 signed by it."""
    now = datetime.now(UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_cert = (
        x509.CertificateBuilder()
        .subject_name(_name("smartmeter test CA"))
        .issuer_name(_name("smartmeter test CA"))
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                key_cert_sign=True,
                crl_sign=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    server_key = ec.generate_private_key(ec.SECP256R1())
    server_cert = (
        x509.CertificateBuilder()
        .subject_name(_name("localhost"))
        .issuer_name(ca_cert.subject)
        .public_key(server_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )
    paths = {"ca": directory / "ca.pem", "cert": directory / "server.pem", "key": directory / "server.key"}
    paths["ca"].write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))
    paths["cert"].write_bytes(server_cert.public_bytes(serialization.Encoding.PEM))
    paths["key"].write_bytes(
        server_key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return paths


@pytest.fixture
def tls_broker(tmp_path):
    directory = tmp_path / "tls-broker"
    directory.mkdir()
    files = make_certificates(directory)
    password_file = directory / "passwords"
    subprocess.run(["mosquitto_passwd", "-b", "-c", str(password_file), USER, PASSWORD], check=True)
    broker = LocalBroker(
        directory=directory,
        scheme="mqtts",
        host="localhost",
        extra=(
            f"cafile {files['ca']}\ncertfile {files['cert']}\nkeyfile {files['key']}\n"
            f"allow_anonymous false\npassword_file {password_file}\n"
        ),
    )
    broker.ca_file = str(files["ca"])
    broker.start()
    yield broker
    broker.stop()


def test_consumer_and_simulator_work_over_tls_with_credentials(ingest_db, tls_broker, consumers, tmp_path):
    url = f"mqtts://{USER}:{QUOTED_PASSWORD}@localhost:{tls_broker.port}"
    consumer = consumers(database=ingest_db, broker_url=url, MQTT_CA_FILE=tls_broker.ca_file).start()
    consumer.wait_subscribed()
    assert f"mqtts://{USER}@localhost:{tls_broker.port}" in consumer.log()
    assert PASSWORD not in consumer.log()

    publisher = publisher_for(url, ca_file=tls_broker.ca_file)
    for topic, body in telemetry_stream(50, start=datetime.now(UTC) - timedelta(minutes=30)):
        publisher.publish(topic, body)
    assert publisher.flush(timeout=10)
    publisher.close()
    wait_until(lambda: stored_count(ingest_db) == 50, timeout=15, message="50 readings over TLS")

    simulated = subprocess.run(
        [
            PYTHON,
            "manage.py",
            "simulate_meters",
            "--devices",
            "meter-005,meter-006",
            "--rounds",
            "2",
            "--interval",
            "0.2",
        ],
        cwd=BASE_DIR,
        env=process_env(
            database=ingest_db, metrics_dir=tmp_path / "metrics", MQTT_URL=url, MQTT_CA_FILE=tls_broker.ca_file
        ),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert simulated.returncode == 0, simulated.stderr
    wait_until(lambda: stored_count(ingest_db) == 54, timeout=15, message="the simulator's 4 readings over TLS")


def test_a_wrong_password_stops_the_consumer_with_a_clear_error(ingest_db, tls_broker, consumers):
    url = f"mqtts://{USER}:wrong@localhost:{tls_broker.port}"
    consumer = consumers(database=ingest_db, broker_url=url, MQTT_CA_FILE=tls_broker.ca_file).start()
    assert consumer.process.wait(30) != 0
    assert "refused the credentials" in consumer.log()


def test_an_untrusted_certificate_is_refused(tls_broker):
    untrusted = BrokerSettings.from_url(f"mqtts://{USER}:{QUOTED_PASSWORD}@localhost:{tls_broker.port}")
    with pytest.raises(MqttConfigError, match="TLS verification failed"):
        broker_probe(untrusted, timeout=5)
    trusted = BrokerSettings.from_url(
        f"mqtts://{USER}:{QUOTED_PASSWORD}@localhost:{tls_broker.port}", ca_file=tls_broker.ca_file
    )
    assert broker_probe(trusted, timeout=5) == 5
