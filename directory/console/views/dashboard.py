from django.db.models import Count
from django.shortcuts import render

from audit.selectors import event_list
from directory import selectors
from directory.models import User

from ..access import console_view


@console_view("dashboard")
def dashboard(request):
    organization = request.organization
    by_status = dict(
        selectors.user_list(organization=organization)
        .order_by()
        .values_list("status")
        .annotate(n=Count("pk"))
    )
    statuses = [(value, label, by_status.get(value, 0)) for value, label in User.STATUSES]
    return render(
        request,
        "console/dashboard.html",
        {
            "statuses": statuses,
            "user_total": sum(by_status.values()),
            "group_total": selectors.group_list(organization=organization).count(),
            "events": event_list(organization=organization)[:10],
        },
    )
