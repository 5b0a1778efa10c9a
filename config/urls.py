from django.contrib import admin
from django.shortcuts import redirect
from django.urls import include, path

urlpatterns = [
    path("", lambda request: redirect("console:dashboard"), name="home"),
    path("console/m365/", include("m365bridge.console.urls")),
    path("console/", include("directory.console.urls")),
    path("portal/", include("directory.portal.urls")),
    path("api/v1/m365/", include("m365bridge.api.urls")),
    path("api/v1/", include("directory.api.urls")),
    path("scim/v2/", include("scim.urls")),
    path("django-admin/", admin.site.urls),
]
