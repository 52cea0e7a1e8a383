"""The login form of the customer site, asking for an email instead of a user name."""

from django.contrib.auth.forms import AuthenticationForm
from django.forms import EmailField, EmailInput


class EmailAuthenticationForm(AuthenticationForm):
    username = EmailField(
        label="Email",
        max_length=254,
        widget=EmailInput(attrs={"autofocus": True, "autocomplete": "email"}),
    )
