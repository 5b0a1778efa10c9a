from django.contrib import admin
from django.shortcuts import redirect
from django.urls import include, path, re_path

from directory.api.errors import not_found

urlpatterns = [
    path("", lambda request: redirect("console:dashboard"), name="home"),
    path("console/m365/", include("m365bridge.console.urls")),
    path("console/webhooks/", include("webhooks.urls")),
    path("console/", include("directory.console.urls")),
    path("portal/", include("directory.portal.urls")),
    path("api/v1/m365/", include("m365bridge.api.urls")),
    path("api/v1/", include("directory.api.urls")),
    path("scim/v2/", include("scim.urls")),
    re_path(r"^api(/|$)", not_found),  # every other /api/ path: the API's JSON 404
    path("django-admin/", admin.site.urls),
]
