"""Every write on accounts: registration, profile, passwords, deactivation and API tokens."""

from dataclasses import dataclass

from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone
from rest_framework_simplejwt.exceptions import TokenError
from rest_framework_simplejwt.settings import api_settings
from rest_framework_simplejwt.token_blacklist.models import BlacklistedToken, OutstandingToken

from accounts.models import User
from accounts.tokens import (
    TOKEN_REVOKED_MESSAGE,
    RefreshTokenBlacklistCheckedByCaller,
    refresh_token_build,
    token_generation_is_current,
)


class EmailAlreadyRegistered(Exception):
    pass


@transaction.atomic
def user_register(
    *, email: str, password: str, name: str = "", is_staff: bool = False, is_superuser: bool = False
) -> User:
    """Create a customer (or staff) account after Django's password validators agree."""
    email = User.objects.normalize_email(email).strip().lower()
    if User.objects.filter(email__iexact=email).exists():
        raise EmailAlreadyRegistered(email)
    candidate = User(email=email, name=name.strip())
    try:
        validate_password(password, user=candidate)
    except ValidationError as exc:
        raise ValidationError({"password": exc.messages}) from exc
    try:
        with transaction.atomic():
            return User.objects.create_user(
                email=email, password=password, name=name.strip(), is_staff=is_staff, is_superuser=is_superuser
            )
    except IntegrityError as exc:  # a concurrent registration won the race
        raise EmailAlreadyRegistered(email) from exc


# --- Profile and password ------------------------------------------------------


@transaction.atomic
def user_profile_update(*, user: User, name: str, email: str, receive_invoice_emails: bool) -> User:
    """The customer's own details. The email is the login: unique whatever its case."""
    email = User.objects.normalize_email(email).strip().lower()
    if User.objects.filter(email__iexact=email).exclude(pk=user.pk).exists():
        raise EmailAlreadyRegistered(email)
    user.name = name.strip()
    user.email = email
    user.receive_invoice_emails = receive_invoice_emails
    try:
        with transaction.atomic():
            user.save(update_fields=["name", "email", "receive_invoice_emails"])
    except IntegrityError as exc:  # a concurrent registration took the address
        raise EmailAlreadyRegistered(email) from exc
    return user


@transaction.atomic
def user_change_password(*, user: User, password: str | None) -> User:
    """Set a new password (None: no usable password) and revoke every API token of the user.

    Every way of changing a password in this product ends here: the customer's password
    page and reset link, the admin (accounts.forms). Sessions need nothing: Django ties
    them to the password hash, and the caller keeps the current one with
    update_session_auth_hash when it should.
    """
    if password is None:
        user.set_unusable_password()
    else:
        try:
            validate_password(password, user=user)
        except ValidationError as exc:
            raise ValidationError({"password": exc.messages}) from exc
        user.set_password(password)
    user.save(update_fields=["password"])
    user_tokens_revoke(user=user)
    return user


@transaction.atomic
def user_deactivate(*, user: User) -> User:
    """Stop an account: no sign-in, and every API token revoked (a later reactivation revives none)."""
    user.is_active = False
    user.save(update_fields=["is_active"])
    user_tokens_revoke(user=user)
    return user


# --- API tokens (docs/operations.md#api-tokens) ---------------------------------


@dataclass(frozen=True, slots=True)
class TokenPair:
    access: str
    refresh: str


class TokenRefused(Exception):
    """A refresh token that must not be used; the message is safe to show the client."""


@transaction.atomic
def user_tokens_issue(*, user: User) -> TokenPair:
    refresh = refresh_token_build(user=user)
    return TokenPair(access=str(refresh.access_token), refresh=str(refresh))


@transaction.atomic
def user_tokens_revoke(*, user: User) -> int:
    """Revoke every token the user holds: access tokens by raising the token generation they
    carry, refresh tokens also by blacklisting them. Returns how many were blacklisted."""
    User.objects.filter(pk=user.pk).update(token_generation=F("token_generation") + 1)
    user.refresh_from_db(fields=["token_generation"])
    pending = OutstandingToken.objects.filter(
        user=user, expires_at__gt=timezone.now(), blacklistedtoken__isnull=True
    ).only("pk")
    blacklisted = BlacklistedToken.objects.bulk_create(
        [BlacklistedToken(token=token) for token in pending], ignore_conflicts=True
    )
    return len(blacklisted)


def _refresh_token_decode(raw: str) -> RefreshTokenBlacklistCheckedByCaller:
    try:
        return RefreshTokenBlacklistCheckedByCaller(raw)
    except TokenError:
        raise TokenRefused("Refresh token is invalid or expired.") from None


def _refresh_token_blacklist(token: RefreshTokenBlacklistCheckedByCaller) -> bool:
    """Blacklist the token; False when it already was. Two requests racing with one token:
    the row lock makes the second wait and then find the first one's blacklist entry."""
    outstanding, _ = token.outstand()  # a token minted before the blacklist app has no row yet
    outstanding = OutstandingToken.objects.select_for_update().get(pk=outstanding.pk)
    _, created = BlacklistedToken.objects.get_or_create(token=outstanding)
    return created


@transaction.atomic
def user_tokens_refresh(*, refresh: str) -> TokenPair:
    """A new access token, and (ROTATE_REFRESH_TOKENS) a new refresh token in place of the used one.

    Refused for a token that is expired, forged, used before or revoked, and for a user
    who is deleted, deactivated or has had their tokens revoked since it was issued."""
    token = _refresh_token_decode(refresh)
    user = User.objects.filter(**{api_settings.USER_ID_FIELD: token.get(api_settings.USER_ID_CLAIM)}).first()
    if user is None:
        raise TokenRefused("The account of this token no longer exists.")
    if not user.is_active:
        raise TokenRefused("This account is deactivated.")
    if not token_generation_is_current(token, user):
        raise TokenRefused(TOKEN_REVOKED_MESSAGE)
    if api_settings.ROTATE_REFRESH_TOKENS and api_settings.BLACKLIST_AFTER_ROTATION:
        if not _refresh_token_blacklist(token):
            raise TokenRefused("This refresh token has already been used or revoked; sign in again.")
    elif BlacklistedToken.objects.filter(token__jti=token[api_settings.JTI_CLAIM]).exists():
        raise TokenRefused(TOKEN_REVOKED_MESSAGE)
    if not api_settings.ROTATE_REFRESH_TOKENS:
        return TokenPair(access=str(token.access_token), refresh=refresh)
    new_refresh = refresh_token_build(user=user)
    return TokenPair(access=str(new_refresh.access_token), refresh=str(new_refresh))


@transaction.atomic
def refresh_token_revoke(*, refresh: str) -> None:
    """Sign one API client out: blacklist its refresh token. Its access token lapses within
    ACCESS_TOKEN_LIFETIME; to end those at once, user_tokens_revoke. Idempotent."""
    _refresh_token_blacklist(_refresh_token_decode(refresh))
