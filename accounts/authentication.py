"""The API's JWT authentication: simplejwt's, refusing tokens revoked by a newer token generation.

Installed as the default in REST_FRAMEWORK and named by the auth endpoints; see accounts.tokens.
"""

from rest_framework_simplejwt.authentication import JWTAuthentication
from rest_framework_simplejwt.exceptions import AuthenticationFailed

from accounts.tokens import TOKEN_REVOKED_MESSAGE, token_generation_is_current


class RevocableJWTAuthentication(JWTAuthentication):
    def get_user(self, validated_token):
        user = super().get_user(validated_token)  # unknown or inactive users are refused here
        if not token_generation_is_current(validated_token, user):
            raise AuthenticationFailed(TOKEN_REVOKED_MESSAGE, code="token_revoked")
        return user
