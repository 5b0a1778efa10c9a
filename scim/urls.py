from django.urls import path, re_path

from . import views

app_name = "scim"

urlpatterns = [
    path("ServiceProviderConfig", views.service_provider_config, name="service_provider_config"),
    path("ResourceTypes", views.resource_type_list, name="resource_types"),
    path("ResourceTypes/<str:name>", views.resource_type_detail, name="resource_type"),
    path("Schemas", views.schema_list, name="schemas"),
    path("Schemas/<str:name>", views.schema_detail, name="schema"),
    path("Users", views.user_list, name="users"),
    path("Users/.search", views.user_search, name="user_search"),
    path("Users/<str:pk>", views.user_detail, name="user"),
    path("Groups", views.group_list, name="groups"),
    path("Groups/.search", views.group_search, name="group_search"),
    path("Groups/<str:pk>", views.group_detail, name="group"),
    path(".search", views.search_all, name="search"),
    re_path(r"^(?P<path>.*)$", views.unknown, name="unknown"),
]
