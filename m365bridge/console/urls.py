from django.urls import path

from . import views

app_name = "m365"

urlpatterns = [
    path("", views.tenant_list, name="tenants"),
    path("connect/", views.tenant_connect, name="connect"),
    path("callback/", views.tenant_callback, name="callback"),
    path("<int:pk>/", views.tenant_detail, name="tenant"),
    path("<int:pk>/check/", views.tenant_check, name="check"),
    path("<int:pk>/reauthorize/", views.tenant_reauthorize, name="reauthorize"),
    path("<int:pk>/deauthorize/", views.tenant_deauthorize, name="deauthorize"),
]
