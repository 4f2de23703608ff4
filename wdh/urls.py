from django.contrib import admin
from django.urls import path
from django.views.generic import RedirectView

from refs.downloads import rejects_download

urlpatterns = [
    path("", RedirectView.as_view(url="/admin/", permanent=False)),
    # Before admin.site.urls, whose catch-all would answer it; admin_view adds the admin's login.
    path(
        "admin/refs/backfillrun/<int:run_id>/rejects.xlsx",
        admin.site.admin_view(rejects_download),
        name="run_rejects",
    ),
    path("admin/", admin.site.urls),
]
