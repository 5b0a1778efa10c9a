from django.urls import path

from . import views

app_name = "webhooks"

urlpatterns = [
    path("", views.endpoint_list, name="list"),
    path("<int:pk>/", views.endpoint_detail, name="detail"),
    path("<int:pk>/rotate-secret/", views.endpoint_rotate_secret, name="rotate_secret"),
    path("<int:pk>/test/", views.endpoint_send_test, name="send_test"),
    path("<int:pk>/delete/", views.endpoint_delete, name="delete"),
]
