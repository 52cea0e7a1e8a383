from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "accounts"
    verbose_name = "Accounts"

    def ready(self):
        from accounts import openapi  # noqa: F401 - registers the schema extension for our JWT authentication
