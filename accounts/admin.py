"""Admin for user accounts, customers and staff alike, listing how many meters each user has."""

from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin

from accounts.models import User


@admin.register(User)
class UserAdmin(DjangoUserAdmin):
    ordering = ["email"]
    list_display = ["email", "name", "is_staff", "is_active", "meter_count", "date_joined"]
    list_filter = ["is_staff", "is_active", "is_superuser"]
    search_fields = ["email", "name", "phone"]
    readonly_fields = ["date_joined", "last_login"]
    fieldsets = [
        (None, {"fields": ["email", "password"]}),
        ("Customer", {"fields": ["name", "phone", "address"]}),
        ("Access", {"fields": ["is_active", "is_staff", "is_superuser", "groups", "user_permissions"]}),
        ("Dates", {"fields": ["last_login", "date_joined"]}),
    ]
    add_fieldsets = [(None, {"classes": ["wide"], "fields": ["email", "name", "password1", "password2", "is_staff"]})]

    def get_queryset(self, request):
        from django.db.models import Count

        return super().get_queryset(request).annotate(_meter_count=Count("devices"))

    @admin.display(description="Meters", ordering="_meter_count")
    def meter_count(self, obj):
        return obj._meter_count
