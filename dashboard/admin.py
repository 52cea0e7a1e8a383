"""Titles and layout of the Django admin as the utility's staff back office."""

from django.contrib import admin

from ops.ratelimits import login_rate_limit

# The back office is where utility staff run the utility from.
admin.site.site_header = "smartmeter back office"
admin.site.site_title = "smartmeter back office"
admin.site.index_title = "Run the utility"
# Meter and invoice lists are wide; the app list stays one click away on the index page.
admin.site.enable_nav_sidebar = False
# Staff sign-in is limited like every other sign-in: per address and per account tried.
admin.site.login = login_rate_limit(admin.site.login)
