"""Forms of the customer pages."""

from django import forms

from devices.identity import DEVICE_ID_PATTERN, DEVICE_ID_RULE


class AddMeterForm(forms.Form):
    """A meter's id and the claim code that came with it (docs/dashboard.md#add-a-meter)."""

    device_id = forms.RegexField(
        DEVICE_ID_PATTERN,
        max_length=64,
        label="Meter id",
        help_text="Printed on the meter and on the letter that came with it.",
        error_messages={"invalid": f"A meter id is {DEVICE_ID_RULE}."},
        widget=forms.TextInput(attrs={"autocomplete": "off", "spellcheck": "false"}),
    )
    claim_code = forms.CharField(
        max_length=32,
        label="Claim code",
        help_text="Ten letters and digits, like K7QP-3MXW-9T; dashes and case do not matter.",
        widget=forms.TextInput(attrs={"autocomplete": "off", "autocapitalize": "characters", "spellcheck": "false"}),
    )
    name = forms.CharField(
        max_length=120, required=False, label="Name (optional)", help_text="What you call it: Home, Shop, Pump."
    )
