"""Write use cases of accounts: registering a user."""

from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from accounts.models import User


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
