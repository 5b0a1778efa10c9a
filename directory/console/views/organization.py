from django.contrib import messages
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_http_methods

from directory import mfa, selectors, services
from directory.errors import ServiceError
from directory.services import POLICY_FIELDS

from ..access import console_view
from ..forms import ApiKeyForm, MfaPolicyForm, PolicyForm, ScimSettingsForm, add_service_error
from .common import confirm


@console_view("settings", reauth=True)
@require_http_methods(["GET", "POST"])
def organization_settings(request):
    """The password policy form, and the SCIM provisioning form (posted with
    `section=scim`), on one page."""
    organization = request.organization
    scim_post = request.method == "POST" and request.POST.get("section") == "scim"
    scim_form = ScimSettingsForm(
        request.POST if scim_post else None,
        initial={"scim_bind_new_users": organization.scim_bind_new_users},
    )
    if scim_post:
        return _scim_settings_save(request, scim_form)
    form = PolicyForm(
        request.POST or None, initial={name: getattr(organization, name) for name in POLICY_FIELDS}
    )
    if request.method == "POST" and form.is_valid():
        try:
            services.organization_update_policy(
                actor=request.user, organization=organization, **form.cleaned_data
            )
        except ServiceError as error:
            add_service_error(form, error)
        else:
            messages.success(
                request,
                "The password policy was saved. It applies to every password set from now on.",
            )
            return redirect("console:settings")
    return _settings_page(request, form, scim_form)


def _settings_page(request, form, scim_form):
    context = {
        "form": form,
        "scim_form": scim_form,
        "mfa_form": _mfa_policy_form(request.organization),
    }
    return render(request, "console/settings.html", context)


def _scim_settings_save(request, scim_form):
    if scim_form.is_valid():
        services.organization_update_scim(
            actor=request.user,
            organization=request.organization,
            bind_new_users=scim_form.cleaned_data["scim_bind_new_users"],
        )
        messages.success(request, "The SCIM provisioning setting was saved.")
        return redirect("console:settings")
    form = PolicyForm(initial={name: getattr(request.organization, name) for name in POLICY_FIELDS})
    return _settings_page(request, form, scim_form)


def _mfa_policy_form(organization, data=None) -> MfaPolicyForm:
    return MfaPolicyForm(
        data,
        initial={
            "required_for_admins": organization.mfa_required_for_admins,
            "required_for_everyone": organization.mfa_required_for_everyone,
        },
    )


@console_view("settings", reauth="console:settings")
@require_http_methods(["POST"])
def mfa_policy(request):
    """Who must use a second factor; saved from the settings page."""
    form = _mfa_policy_form(request.organization, request.POST)
    if form.is_valid():
        mfa.mfa_policy_update(
            actor=request.user, organization=request.organization, **form.cleaned_data
        )
        messages.success(request, "The second-factor policy was saved.")
    return redirect("console:settings")


@console_view("api_keys", reauth=True)
@require_http_methods(["GET", "POST"])
def api_key_list(request):
    """The keys, and the form to make one. A new key's secret is rendered in the response
    to the POST that made it, and nowhere else: it is never stored or redirected with."""
    form = ApiKeyForm(request.POST or None)
    created = secret = None
    if request.method == "POST" and form.is_valid():
        try:
            created, secret = services.api_key_create(
                actor=request.user, organization=request.organization, **form.key_options()
            )
        except ServiceError as error:
            add_service_error(form, error)
        else:
            form = ApiKeyForm()
    response = render(
        request,
        "console/api_keys.html",
        {
            "form": form,
            "created": created,
            "secret": secret,
            "keys": selectors.api_key_list(organization=request.organization),
        },
    )
    if secret:
        response["Cache-Control"] = "no-store"
    return response


@console_view("api_keys")
@require_http_methods(["GET", "POST"])
def api_key_revoke(request, pk):
    key = selectors.api_key_get(organization=request.organization, pk=pk)
    if request.method != "POST":
        return confirm(
            request,
            title=f"Revoke the key “{key.name}”?",
            message="Programs using this key get 401 from the API at once. This cannot be "
            "undone; make a new key instead.",
            action="Revoke key",
            cancel_url=reverse("console:api_keys"),
        )
    services.api_key_revoke(actor=request.user, key=key)
    messages.success(request, f"The key “{key.name}” was revoked.")
    return redirect("console:api_keys")
