"""What an API token carries so that it can be revoked, and the check every use of one makes.

Access tokens are stateless JWTs. To revoke them before they expire, every token carries the
user's token generation at issue (`TOKEN_GENERATION_CLAIM`) and is honoured only while that
still equals `User.token_generation`; raising the generation (accounts.services.user_tokens_revoke)
revokes every token issued before. Refresh tokens are also recorded in simplejwt's outstanding
list, so they can be blacklisted one by one (logout, rotation). See docs/operations.md#api-tokens.
"""

from __future__ import annotations

from rest_framework_simplejwt.settings import api_settings
from rest_framework_simplejwt.tokens import RefreshToken, Token

from accounts.models import User

TOKEN_GENERATION_CLAIM = "token_generation"  # noqa: S105 - a claim name, not a secret
TOKEN_REVOKED_MESSAGE = "This token has been revoked; sign in again."  # noqa: S105 - shown to API clients


def token_generation_is_current(token: Token, user: User) -> bool:
    """A token minted before generations existed has no claim: it counts as generation 0,
    so it keeps working until the first revocation for its user, and never after."""
    return token.get(TOKEN_GENERATION_CLAIM, 0) == user.token_generation


def refresh_token_build(*, user: User) -> RefreshToken:
    """A new refresh token for `user`, stamped with the current generation (its access
    tokens copy the claim) and recorded as outstanding so it can be blacklisted."""
    token = RefreshToken()
    token[api_settings.USER_ID_CLAIM] = str(getattr(user, api_settings.USER_ID_FIELD))
    token[TOKEN_GENERATION_CLAIM] = user.token_generation
    token.outstand()
    return token


class RefreshTokenBlacklistCheckedByCaller(RefreshToken):
    """A refresh token verified for signature, type and expiry only.

    simplejwt checks the blacklist when it decodes a token and blacklists it later, in a
    separate query: two requests racing with the same token would both pass. The services
    check and blacklist in one step under a row lock instead (accounts.services)."""

    def check_blacklist(self) -> None:
        return None
