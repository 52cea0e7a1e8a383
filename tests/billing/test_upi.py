"""UPI payment links and QR codes (billing.upi), and the start-up check of the configured address."""

import io
from decimal import Decimal

import pytest
from PIL import Image

from billing.checks import upi_address_check
from billing.upi import is_vpa, upi_amount, upi_payment_uri, upi_qr_data_uri, upi_qr_png


def test_the_link_names_payee_amount_currency_note_and_reference_in_order():
    uri = upi_payment_uri(vpa="bills@examplebank", payee="Smartmeter Power", amount=Decimal("1268.5"), note="INV-1")
    assert uri == "upi://pay?pa=bills@examplebank&pn=Smartmeter%20Power&am=1268.50&cu=INR&tn=INV-1&tr=INV-1"


def test_every_value_is_url_encoded_spaces_as_percent_20():
    uri = upi_payment_uri(
        vpa="power.co-op_1@okaxis",
        payee="  Bijli & Co. / Zoë ",
        amount=Decimal("10"),
        note="Bill for Jan? #1",
        reference="A+B=C",
    )
    assert uri == (
        "upi://pay?pa=power.co-op_1@okaxis&pn=Bijli%20%26%20Co.%20%2F%20Zo%C3%AB&am=10.00&cu=INR"
        "&tn=Bill%20for%20Jan%3F%20%231&tr=A%2BB%3DC"
    )


@pytest.mark.parametrize(
    ("amount", "printed"),
    [
        (Decimal("1268.5"), "1268.50"),
        (Decimal("100"), "100.00"),
        (Decimal("0.005"), "0.01"),  # half up
        (Decimal("99.994"), "99.99"),
        (Decimal("1234567.891"), "1234567.89"),  # no digit grouping
        ("59", "59.00"),
    ],
)
def test_the_amount_has_exactly_two_decimals(amount, printed):
    assert upi_amount(amount) == printed


@pytest.mark.parametrize("amount", [Decimal("0"), Decimal("-1.00"), Decimal("0.004"), "lots", None])
def test_nothing_to_pay_or_not_a_number_makes_no_link(amount):
    with pytest.raises(ValueError, match="UPI"):
        upi_payment_uri(vpa="bills@examplebank", payee="Power", amount=amount, note="INV-1")


@pytest.mark.parametrize(
    ("text", "valid"),
    [
        ("bills@examplebank", True),
        ("smartmeter@upi", True),
        ("98450.12345@ybl", True),
        ("bills", False),
        ("@upi", False),
        ("bills@", False),
        ("bills@exam ple", False),
        ("bi lls@upi", False),
        ("bills@upi&am=1", False),
        ("", False),
    ],
)
def test_a_virtual_payment_address_is_name_at_bank(text, valid):
    assert is_vpa(text) is valid


def test_a_bad_address_or_a_blank_payee_makes_no_link():
    with pytest.raises(ValueError, match="not a UPI virtual payment address"):
        upi_payment_uri(vpa="bills@upi&am=1", payee="Power", amount=Decimal("1"), note="INV-1")
    with pytest.raises(ValueError, match="payee"):
        upi_payment_uri(vpa="bills@upi", payee="  ", amount=Decimal("1"), note="INV-1")


def test_the_qr_code_is_a_square_png_with_a_quiet_zone():
    image = Image.open(io.BytesIO(upi_qr_png("upi://pay?pa=bills@upi&am=1.00&cu=INR", scale=4, border=4)))
    assert image.format == "PNG"
    assert image.width == image.height
    modules = image.width // 4
    assert (modules - 8 - 21) % 4 == 0  # a QR version's size (21 + 4n modules) plus 4 on each side
    grey = image.convert("L")
    assert all(grey.getpixel((x, 0)) == 255 for x in range(image.width))  # the quiet zone is white
    assert grey.getextrema() == (0, 255)


def test_the_data_uri_carries_the_png():
    uri = upi_qr_data_uri("upi://pay?pa=bills@upi&am=1.00&cu=INR")
    assert uri.startswith("data:image/png;base64,iVBORw0KGgo")  # the PNG signature, base64


def test_a_mistyped_upi_address_stops_the_start(settings):
    settings.UTILITY_UPI_VPA = "bills at examplebank"
    (error,) = upi_address_check(None)
    assert error.id == "billing.E001"
    assert "bills at examplebank" in error.msg
    settings.UTILITY_UPI_VPA = ""
    assert upi_address_check(None) == []
    settings.UTILITY_UPI_VPA = "bills@examplebank"
    assert upi_address_check(None) == []
