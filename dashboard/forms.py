"""Forms of the customer pages."""

from datetime import date, timedelta

from django import forms

from billing.statement_period import statement_period_default, statement_period_problems
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


class StatementPeriodForm(forms.Form):
    """The statement's period, ``from`` and ``to`` (query parameters; both default to the last 12 months).
    What makes a period acceptable lives in billing.statement_period."""

    def __init__(self, data=None, *, today: date):
        self.today = today
        default_start, default_end = statement_period_default(today=today)
        super().__init__(data, initial={"from": default_start, "to": default_end})
        date_input = {"type": "date", "max": today.isoformat()}
        self.fields["from"] = forms.DateField(label="From", widget=forms.DateInput(date_input, format="%Y-%m-%d"))
        self.fields["to"] = forms.DateField(label="To", widget=forms.DateInput(date_input, format="%Y-%m-%d"))
        for field in self.fields.values():
            field.error_messages["invalid"] = "Enter a date as YYYY-MM-DD."

    def clean(self):
        cleaned = super().clean()
        if "from" in cleaned and "to" in cleaned:
            problems = statement_period_problems(start=cleaned["from"], end=cleaned["to"], today=self.today)
            for name, message in problems.items():
                self.add_error(name, message)
        return cleaned

    def period(self) -> tuple[date, date]:
        """The period asked for; call after is_valid()."""
        return self.cleaned_data["from"], self.cleaned_data["to"]


class ReadingsDownloadForm(forms.Form):
    """The meter page's "Download data": dates (both included, the site's time zone) and granularity."""

    GRANULARITIES = [("day", "Daily"), ("hour", "Hourly"), ("month", "Monthly"), ("raw", "Every reading")]

    def __init__(self, data=None, *, today: date):
        super().__init__(data, initial={"from": today.replace(day=1), "to": today, "agg": "day"})
        date_input = {"type": "date", "max": today.isoformat()}
        self.fields["from"] = forms.DateField(label="From", widget=forms.DateInput(date_input, format="%Y-%m-%d"))
        self.fields["to"] = forms.DateField(label="To", widget=forms.DateInput(date_input, format="%Y-%m-%d"))
        self.fields["agg"] = forms.ChoiceField(label="Granularity", choices=self.GRANULARITIES)
        for name in ("from", "to"):
            self.fields[name].error_messages["invalid"] = "Enter a date as YYYY-MM-DD."

    def query(self) -> dict[str, str]:
        """The readings query of the chosen dates (`to` taken whole: up to the next midnight); call after is_valid()."""
        return {
            "from": self.cleaned_data["from"].isoformat(),
            "to": (self.cleaned_data["to"] + timedelta(days=1)).isoformat(),
            "agg": self.cleaned_data["agg"],
        }
