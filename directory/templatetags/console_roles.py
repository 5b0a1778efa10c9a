"""`{% load console_roles %}` and `{% if user|may:"console:user_delete" %}`: whether the
signed-in person's role may post to that console page (directory.roles, the one table
the views enforce), so pages show only the buttons and forms that would not answer 403."""

from django import template

from directory import roles

register = template.Library()


@register.filter
def may(user, view_name: str) -> bool:
    role = getattr(user, "role", "")
    return bool(role) and roles.console_allows(role=role, view_name=view_name, method="POST")
