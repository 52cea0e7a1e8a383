"""Forms of the customer's account pages and the admin's password form.

Every form that sets a password saves through accounts.services.user_change_password, so a
new password always revokes the user's API tokens, whichever Django view shows the form.
"""

from django import forms
from django.contrib.admin.forms import AdminPasswordChangeForm as AdminOwnPasswordChangeForm
from django.contrib.auth.forms import (
    AdminPasswordChangeForm,
    AuthenticationForm,
    PasswordChangeForm,
    PasswordResetForm,
    SetPasswordForm,
)
from django.forms import EmailField, EmailInput

from accounts.models import User
from accounts.services import user_change_password


class EmailAuthenticationForm(AuthenticationForm):
    username = EmailField(
        label="Email",
        max_length=254,
        widget=EmailInput(attrs={"autofocus": True, "autocomplete": "email"}),
    )


class ProfileForm(forms.Form):
    name = forms.CharField(max_length=150, required=False, widget=forms.TextInput(attrs={"autocomplete": "name"}))
    email = forms.EmailField(max_length=254, widget=forms.EmailInput(attrs={"autocomplete": "email"}))
    receive_invoice_emails = forms.BooleanField(label="Email me each new invoice and payment reminder", required=False)
    current_password = forms.CharField(
        label="Current password (needed to change your email)",
        required=False,
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "current-password"}),
    )

    def __init__(self, *args, user: User, **kwargs):
        self.user = user
        initial = {"name": user.name, "email": user.email, "receive_invoice_emails": user.receive_invoice_emails}
        super().__init__(*args, initial=initial, **kwargs)

    def clean(self):
        # The email is the login and where reset links go: someone at an unattended, signed-in
        # browser must not be able to take the account over by changing it.
        cleaned = super().clean()
        email = cleaned.get("email")
        if email and email.lower() != self.user.email.lower():
            if not self.user.check_password(cleaned.get("current_password") or ""):
                self.add_error("current_password", "Enter your current password to change your email.")
        return cleaned

    def profile_fields(self) -> dict:
        return {name: self.cleaned_data[name] for name in ("name", "email", "receive_invoice_emails")}


class _SavesThroughService:
    """Mixin for Django's password forms: save() hands the new password to the service."""

    def save(self, commit=True):
        if not commit:  # no caller here does this; keep Django's contract anyway
            return super().save(commit=False)
        return user_change_password(user=self.user, password=self.cleaned_data["new_password1"])


class CustomerPasswordChangeForm(_SavesThroughService, PasswordChangeForm):
    pass


class CustomerSetPasswordForm(_SavesThroughService, SetPasswordForm):
    """The form behind the password-reset link."""


class CustomerPasswordResetForm(PasswordResetForm):
    email = forms.EmailField(
        label="Email", max_length=254, widget=forms.EmailInput(attrs={"autocomplete": "email", "autofocus": True})
    )


class StaffSetsPasswordForm(AdminPasswordChangeForm):
    """The admin's "set password" page for any user; may also switch password sign-in off."""

    def save(self, commit=True):
        if not commit:
            return super().save(commit=False)
        usable = self.cleaned_data.get("set_usable_password", True)  # Django's validate_passwords sets it
        return user_change_password(user=self.user, password=self.cleaned_data["password1"] if usable else None)


class StaffOwnPasswordChangeForm(_SavesThroughService, AdminOwnPasswordChangeForm):
    """The admin's "change my password" page."""
