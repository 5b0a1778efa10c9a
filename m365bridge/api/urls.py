from django.urls import path

from . import views

urlpatterns = [
    path("tenants", views.TenantListApi.as_view(), name="api-m365-tenants"),
    path("tenants/<int:tenant_id>", views.TenantDetailApi.as_view(), name="api-m365-tenant"),
    path("tenants/<int:tenant_id>/deauthorize", views.TenantDeauthorizeApi.as_view(),
         name="api-m365-tenant-deauthorize"),
    path("tenants/<int:tenant_id>/reauthorize", views.TenantReauthorizeApi.as_view(),
         name="api-m365-tenant-reauthorize"),
]
