"""Account API routes, mounted under /api/auth/."""

from django.urls import path

from accounts.apis import LoginApi, MeApi, RefreshApi, RegisterApi

urlpatterns = [
    path("register", RegisterApi.as_view(), name="auth-register"),
    path("login", LoginApi.as_view(), name="auth-login"),
    path("refresh", RefreshApi.as_view(), name="auth-refresh"),
    path("me", MeApi.as_view(), name="auth-me"),
]
