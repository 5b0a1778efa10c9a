from django.shortcuts import render

from audit import selectors as audit_selectors

from ..access import console_view
from ..forms import EventFilterForm
from ..paging import paginate


@console_view("events")
def event_list(request):
    organization = request.organization
    types = audit_selectors.event_types(organization=organization)
    filters = EventFilterForm(request.GET, types=types)
    criteria = filters.cleaned_data if filters.is_valid() else {}
    events = audit_selectors.event_list(
        organization=organization,
        type=criteria.get("type", ""),
        outcome=criteria.get("outcome", ""),
    )
    return render(
        request,
        "console/events.html",
        {
            "filters": filters,
            "filtered": any(criteria.values()),
            "page": paginate(events, page=request.GET.get("page")),
        },
    )
