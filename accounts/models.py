"""The user model: a customer or a member of the utility's staff, who signs in with an email."""

from django.contrib.auth.models import AbstractBaseUser, BaseUserManager, PermissionsMixin
from django.db import models
from django.utils import timezone


class UserManager(BaseUserManager):
    use_in_migrations = True

    def _create_user(self, email, password, **extra_fields):
        if not email:
            raise ValueError("An email address is required.")
        user = self.model(email=self.normalize_email(email).lower(), **extra_fields)
        user.set_password(password)
        user.save(using=self._db)
        return user

    def create_user(self, email, password=None, **extra_fields):
        extra_fields.setdefault("is_staff", False)
        extra_fields.setdefault("is_superuser", False)
        return self._create_user(email, password, **extra_fields)

    def create_superuser(self, email, password=None, **extra_fields):
        extra_fields["is_staff"] = True
        extra_fields["is_superuser"] = True
        return self._create_user(email, password, **extra_fields)

    def get_by_natural_key(self, username):
        return self.get(email__iexact=username)


class User(AbstractBaseUser, PermissionsMixin):
    """A customer or a member of the utility's staff; the email is the login."""

    email = models.EmailField("email address", unique=True)
    name = models.CharField(max_length=150, blank=True)
    phone = models.CharField(max_length=32, blank=True)
    address = models.TextField(blank=True, help_text="Billing address printed on invoices.")
    is_staff = models.BooleanField(default=False, help_text="Utility staff: may use the admin and see every meter.")
    is_active = models.BooleanField(default=True)
    date_joined = models.DateTimeField(default=timezone.now)
    receive_invoice_emails = models.BooleanField(
        "email my invoices", default=True, help_text="Send each new invoice and overdue reminder by email."
    )
    token_generation = models.PositiveIntegerField(
        default=0,
        editable=False,
        help_text="Raised to revoke every API token issued before (docs/operations.md#api-tokens).",
    )

    objects = UserManager()

    USERNAME_FIELD = "email"
    EMAIL_FIELD = "email"
    REQUIRED_FIELDS: list[str] = []

    class Meta:
        ordering = ["email"]

    def __str__(self):
        return self.name or self.email

    @property
    def display_name(self) -> str:
        return self.name or self.email.split("@", 1)[0]
