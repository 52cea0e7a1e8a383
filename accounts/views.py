"""The customer's account pages: profile, password change and reset (docs/dashboard.md#account).

Django's auth views do the work; the forms they are given save through accounts.services.
"""

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.contrib.messages.views import SuccessMessageMixin
from django.shortcuts import redirect, render
from django.urls import reverse_lazy
from django.views.decorators.http import require_POST

from accounts.forms import CustomerPasswordChangeForm, CustomerPasswordResetForm, CustomerSetPasswordForm, ProfileForm
from accounts.services import EmailAlreadyRegistered, user_profile_update, user_tokens_revoke
from ops.ratelimits import password_reset_rate_limit


@login_required
def profile(request):
    user = request.user
    form = ProfileForm(request.POST if request.method == "POST" else None, user=user)
    if request.method == "POST" and form.is_valid():
        try:
            user_profile_update(user=user, **form.profile_fields())
        except EmailAlreadyRegistered:
            form.add_error("email", "An account with this email already exists.")
        else:
            messages.success(request, "Your details are saved.")
            return redirect("account-profile")
    return render(request, "accounts/profile.html", {"form": form, "nav_section": "account"})


@login_required
@require_POST
def api_tokens_revoke(request):
    """ "Sign out all apps": every API token of the customer stops working; this session stays."""
    user_tokens_revoke(user=request.user)
    messages.success(request, "Every app and script using your account has been signed out.")
    return redirect("account-profile")


class PasswordChangeView(SuccessMessageMixin, auth_views.PasswordChangeView):
    """Django's view keeps this session (update_session_auth_hash); every other session and
    every API token of the customer ends with the old password."""

    form_class = CustomerPasswordChangeForm
    template_name = "accounts/password_change.html"
    success_url = reverse_lazy("account-profile")
    success_message = "Your password is changed. Other browsers and apps have been signed out."
    extra_context = {"nav_section": "account"}


password_reset = password_reset_rate_limit(
    auth_views.PasswordResetView.as_view(
        form_class=CustomerPasswordResetForm,
        template_name="accounts/password_reset_form.html",
        subject_template_name="emails/password-reset-subject.txt",
        email_template_name="emails/password-reset-body.txt",
        html_email_template_name="emails/password-reset-body.html",
        success_url=reverse_lazy("password_reset_done"),
        extra_email_context={
            "utility": {
                "name": settings.UTILITY_NAME,
                "address": settings.UTILITY_ADDRESS,
                "email": settings.UTILITY_EMAIL,
            }
        },
    )
)
password_reset_done = auth_views.PasswordResetDoneView.as_view(template_name="accounts/password_reset_done.html")
password_reset_confirm = auth_views.PasswordResetConfirmView.as_view(
    form_class=CustomerSetPasswordForm,
    template_name="accounts/password_reset_confirm.html",
    success_url=reverse_lazy("password_reset_complete"),
)
password_reset_complete = auth_views.PasswordResetCompleteView.as_view(
    template_name="accounts/password_reset_complete.html"
)
