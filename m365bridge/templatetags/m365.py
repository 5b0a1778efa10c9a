"""Template tags that let directory pages show Microsoft 365 state without the
directory importing this bridge: `{% load m365 %}{% m365_user_panel subject %}`."""

from django import template

from .. import pause, selectors

register = template.Library()


@register.inclusion_tag("m365/_user_panel.html", takes_context=True)
def m365_user_panel(context, subject):
    """The user detail's Microsoft 365 card: binding, state, last push, last error, and
    the bind / unbind / sync now / retry buttons."""
    organization = subject.organization
    binding = selectors.binding_for_user(organization=organization, user=subject)
    tenants = []
    if binding is None:
        tenants = selectors.tenants_for_users(organization=organization, users=[subject])
    return {
        "subject": subject,
        "binding": binding,
        "csrf_token": context.get("csrf_token"),
        "user": context.get("user"),  # which buttons their role may use (console_roles)
        "owner": next((t for t in tenants if t is not None), None),
        "has_tenants": selectors.tenant_list(
            organization=organization, include_deauthorized=False
        ).exists(),
    }


@register.inclusion_tag("m365/_tenant_provisioning.html", takes_context=True)
def m365_tenant_provisioning(context, tenant):
    """The tenant page's provisioning card: bindings per state, the latest bulk bind's
    progress (polled without a reload), and the bindings in error or waiting."""
    return {
        "tenant": tenant,
        "csrf_token": context.get("csrf_token"),
        "user": context.get("user"),  # which buttons their role may use (console_roles)
        "counts": selectors.binding_state_counts(tenant=tenant),
        "progress": selectors.bind_run_progress(tenant=tenant),
        "problems": selectors.binding_problems(tenant=tenant),
        "group_problems": selectors.group_binding_problems(tenant=tenant),
    }


@register.inclusion_tag("m365/_group_panel.html", takes_context=True)
def m365_group_panel(context, group):
    """The group page's Microsoft 365 card: the tenants it is synced to as a security
    group, each with its state, members sent and last error."""
    organization = group.organization
    return {
        "group": group,
        "csrf_token": context.get("csrf_token"),
        "user": context.get("user"),  # which buttons their role may use (console_roles)
        "bindings": list(
            selectors.group_bindings_for_group(organization=organization, group=group)
        ),
        "has_tenants": selectors.tenant_list(
            organization=organization, include_deauthorized=False
        ).exists(),
    }


@register.inclusion_tag("m365/_sending_paused.html")
def m365_sending_paused():
    """The banner while sending to Microsoft 365 is paused for every tenant."""
    return {"pause": pause.sending_paused()}
