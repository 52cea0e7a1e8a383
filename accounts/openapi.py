"""The OpenAPI description of the API's authentication: simplejwt's bearer scheme, unchanged,
for its revocable subclass (drf-spectacular matches authenticator classes exactly)."""

from drf_spectacular.contrib.rest_framework_simplejwt import SimpleJWTScheme


class RevocableJWTScheme(SimpleJWTScheme):
    target_class = "accounts.authentication.RevocableJWTAuthentication"
