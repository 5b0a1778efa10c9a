"""`__in_array`: the same rows as `__in`, with the values as one array parameter."""

from django.db import connection
from django.test.utils import CaptureQueriesContext

from directory.models import User


def test_in_array_finds_what_in_finds_with_one_parameter(acme, alice, bob):
    keys = [alice.pk, bob.pk, -5]
    with CaptureQueriesContext(connection) as queries:
        by_array = list(User.objects.filter(pk__in_array=keys).order_by("pk"))
        by_organization = list(User.objects.filter(organization__in_array=[acme.pk]).order_by("pk"))

    assert by_array == list(User.objects.filter(pk__in=keys).order_by("pk")) == [alice, bob]
    assert by_organization == list(User.objects.filter(organization=acme).order_by("pk"))
    assert "= ANY(" in queries.captured_queries[0]["sql"]
    assert list(User.objects.filter(pk__in_array=[])) == []
