"""Users: customers by default, staff with ``is_staff=True``; every one can log in with DEFAULT_PASSWORD."""

import factory
from factory.django import DjangoModelFactory

from accounts.models import User

DEFAULT_PASSWORD = "correct-horse-battery-42"


class UserFactory(DjangoModelFactory):
    email = factory.Sequence(lambda n: f"user{n}@example.com")
    name = "Test User"
    password = DEFAULT_PASSWORD
    is_staff = False

    class Meta:
        model = User

    @classmethod
    def _create(cls, model_class, *args, **kwargs):
        # The manager lower-cases the email and hashes the password, as sign-up does.
        return cls._get_manager(model_class).create_user(*args, **kwargs)
