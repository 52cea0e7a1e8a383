"""readings API routes, mounted under /api/."""

urlpatterns: list = []
