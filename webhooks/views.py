"""Console pages of webhooks (organization settings area). Every object is looked up
in the signed-in admin's organization: another organization's endpoint is 404."""

from django.contrib import messages
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_http_methods

from directory.console.access import console_view
from directory.console.forms import add_service_error
from directory.console.paging import paginate
from directory.console.views.common import confirm
from directory.errors import ServiceError

from . import selectors, services
from .forms import EndpointEditForm, EndpointForm
from .models import Delivery


@console_view("webhooks")
@require_http_methods(["GET", "POST"])
def endpoint_list(request):
    """The endpoints and the form to add one; a new endpoint's secret is rendered in the
    response to the POST that made it, and nowhere else."""
    form = EndpointForm(request.POST or None)
    created = secret = None
    if request.method == "POST" and form.is_valid():
        try:
            created, secret = services.endpoint_create(
                actor=request.user, organization=request.organization, **form.cleaned_data
            )
        except ServiceError as error:
            add_service_error(form, error)
        else:
            form = EndpointForm()
    context = {
        "form": form,
        "created": created,
        "secret": secret,
        "endpoints": selectors.endpoint_list(organization=request.organization),
    }
    return _no_store(render(request, "webhooks/list.html", context), secret)


@console_view("webhooks")
@require_http_methods(["GET", "POST"])
def endpoint_detail(request, pk):
    endpoint = selectors.endpoint_get(organization=request.organization, pk=pk)
    initial = {
        "url": endpoint.url,
        "description": endpoint.description,
        "event_types": ", ".join(endpoint.event_types),
        "active": endpoint.active,
    }
    form = EndpointEditForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        try:
            services.endpoint_update(actor=request.user, endpoint=endpoint, **form.cleaned_data)
        except ServiceError as error:
            add_service_error(form, error)
        else:
            messages.success(request, "The endpoint was saved.")
            return redirect("webhooks:detail", pk=endpoint.pk)
    state = request.GET.get("state", "")
    if state not in dict(Delivery.STATES):
        state = ""
    deliveries = selectors.delivery_list(endpoint=endpoint, state=state)
    context = {
        "endpoint": endpoint,
        "form": form,
        "state": state,
        "states": Delivery.STATES,
        "page": paginate(deliveries, page=request.GET.get("page")),
    }
    return render(request, "webhooks/detail.html", context)


@console_view("webhooks")
@require_http_methods(["GET", "POST"])
def endpoint_rotate_secret(request, pk):
    endpoint = selectors.endpoint_get(organization=request.organization, pk=pk)
    if request.method != "POST":
        return confirm(
            request,
            title=f"Rotate the secret of {endpoint.host}?",
            message="A new secret is shown once. For 24 hours each delivery carries a "
            "signature with the old secret and one with the new, so the receiver can switch "
            "without losing events; then only the new one signs.",
            action="Rotate secret",
            cancel_url=reverse("webhooks:detail", args=[endpoint.pk]),
            danger=False,
        )
    secret = services.endpoint_rotate_secret(actor=request.user, endpoint=endpoint)
    response = render(request, "webhooks/secret.html", {"endpoint": endpoint, "secret": secret})
    return _no_store(response, secret)


@console_view("webhooks")
@require_http_methods(["GET", "POST"])
def endpoint_send_test(request, pk):
    endpoint = selectors.endpoint_get(organization=request.organization, pk=pk)
    if request.method != "POST":
        return confirm(
            request,
            title=f"Send a test event to {endpoint.host}?",
            message="A webhook_test event is queued behind this endpoint's other deliveries "
            "and sent at once; its outcome appears in the delivery log.",
            action="Send test event",
            cancel_url=reverse("webhooks:detail", args=[endpoint.pk]),
            danger=False,
        )
    delivery = services.endpoint_send_test(actor=request.user, endpoint=endpoint)
    messages.success(request, f"Test event {delivery.event_id} queued.")
    return redirect("webhooks:detail", pk=endpoint.pk)


@console_view("webhooks")
@require_http_methods(["GET", "POST"])
def endpoint_delete(request, pk):
    endpoint = selectors.endpoint_get(organization=request.organization, pk=pk)
    if request.method != "POST":
        return confirm(
            request,
            title=f"Delete the endpoint {endpoint.host}?",
            message="Its queue and delivery log are deleted with it; undelivered events "
            "are not sent.",
            action="Delete endpoint",
            cancel_url=reverse("webhooks:detail", args=[endpoint.pk]),
        )
    services.endpoint_delete(actor=request.user, endpoint=endpoint)
    messages.success(request, "The endpoint was deleted.")
    return redirect("webhooks:list")


def _no_store(response, secret):
    if secret:
        response["Cache-Control"] = "no-store"
    return response
