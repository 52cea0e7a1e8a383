"""Admin for user accounts, customers and staff alike, listing how many meters each user has."""

from django.contrib import admin, messages
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin

from accounts.forms import StaffOwnPasswordChangeForm, StaffSetsPasswordForm
from accounts.models import User
from accounts.services import user_deactivate, user_tokens_revoke

# The admin's own "change my password" page saves through the service too (revokes API tokens).
admin.site.password_change_form = StaffOwnPasswordChangeForm


@admin.register(User)
class UserAdmin(DjangoUserAdmin):
    ordering = ["email"]
    list_display = ["email", "name", "is_staff", "is_active", "meter_count", "date_joined"]
    list_filter = ["is_staff", "is_active", "is_superuser"]
    search_fields = ["email", "name", "phone"]
    readonly_fields = ["date_joined", "last_login"]
    fieldsets = [
        (None, {"fields": ["email", "password"]}),
        ("Customer", {"fields": ["name", "phone", "address", "receive_invoice_emails"]}),
        ("Access", {"fields": ["is_active", "is_staff", "is_superuser", "groups", "user_permissions"]}),
        ("Dates", {"fields": ["last_login", "date_joined"]}),
    ]
    add_fieldsets = [(None, {"classes": ["wide"], "fields": ["email", "name", "password1", "password2", "is_staff"]})]
    change_password_form = StaffSetsPasswordForm
    actions = ["deactivate_users", "revoke_api_tokens"]

    def get_queryset(self, request):
        from django.db.models import Count

        return super().get_queryset(request).annotate(_meter_count=Count("devices"))

    @admin.display(description="Meters", ordering="_meter_count")
    def meter_count(self, obj):
        return obj._meter_count

    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        if change and "is_active" in form.changed_data and not obj.is_active:
            user_deactivate(user=obj)  # the flag is saved already; this revokes the API tokens

    @admin.action(description="Deactivate the selected users (signs them out everywhere)")
    def deactivate_users(self, request, queryset):
        users = list(queryset.filter(is_active=True))
        for user in users:
            user_deactivate(user=user)
        self.message_user(request, f"Deactivated {len(users)} user(s).", messages.SUCCESS)

    @admin.action(description="Sign the selected users out of every API client")
    def revoke_api_tokens(self, request, queryset):
        users = list(queryset)
        for user in users:
            user_tokens_revoke(user=user)
        self.message_user(request, f"Revoked the API tokens of {len(users)} user(s).", messages.SUCCESS)
