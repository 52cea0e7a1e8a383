"""Session login and the account pages of the customer site; the dashboard pages hang under it."""

from django.contrib.auth import views as auth_views
from django.urls import include, path

from accounts import views
from accounts.forms import EmailAuthenticationForm
from ops.ratelimits import login_rate_limit

urlpatterns = [
    path(
        "login/",
        login_rate_limit(
            auth_views.LoginView.as_view(
                template_name="accounts/login.html",
                authentication_form=EmailAuthenticationForm,
                redirect_authenticated_user=True,
            )
        ),
        name="login",
    ),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("account/", views.profile, name="account-profile"),
    path("account/apps/sign-out/", views.api_tokens_revoke, name="account-api-tokens-revoke"),
    path("account/password/", views.PasswordChangeView.as_view(), name="password_change"),
    path("account/password/reset/", views.password_reset, name="password_reset"),
    path("account/password/reset/sent/", views.password_reset_done, name="password_reset_done"),
    path("account/password/reset/<uidb64>/<token>/", views.password_reset_confirm, name="password_reset_confirm"),
    path("account/password/reset/complete/", views.password_reset_complete, name="password_reset_complete"),
    path("", include("dashboard.urls")),
]
