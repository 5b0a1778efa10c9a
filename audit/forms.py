"""The console's event filters: the query string of the events page and its exports.
Error messages are shown after the field's label ("From: Enter a date ...")."""

from datetime import date, datetime, time, timedelta

from django import forms
from django.utils import timezone

from .models import Event

DATE_EXAMPLE = "2026-05-01"


def _date_field(label: str) -> forms.DateField:
    return forms.DateField(
        label=label,
        required=False,
        input_formats=["%Y-%m-%d"],
        widget=forms.DateInput(attrs={"type": "date", "aria-label": label}, format="%Y-%m-%d"),
        error_messages={"invalid": f"Enter a date such as {DATE_EXAMPLE}."},
    )


def _text_field(label: str, placeholder: str) -> forms.CharField:
    return forms.CharField(
        label=label,
        required=False,
        max_length=254,
        widget=forms.TextInput(attrs={"placeholder": placeholder, "aria-label": label}),
    )


class EventFilterForm(forms.Form):
    type = forms.ChoiceField(label="Type", required=False)
    outcome = forms.ChoiceField(
        label="Outcome", required=False, choices=[("", "Any outcome"), *Event.OUTCOMES]
    )
    user = _text_field("User", "User email or id")
    tenant = forms.ChoiceField(label="Tenant", required=False)
    actor = _text_field("Actor", "Actor email or system")
    since = _date_field("From")
    until = _date_field("To")

    def __init__(self, *args, types: list[str], tenants: list[tuple[str, str]], **kwargs):
        super().__init__(*args, **kwargs)
        # A type or tenant the organization has no event of yet (a bookmarked filter)
        # simply matches nothing, rather than being an error.
        asked_type, asked_tenant = self.data.get("type", ""), self.data.get("tenant", "")
        type_choices = [(t, t) for t in types]
        if asked_type and asked_type not in types:
            type_choices.append((asked_type, asked_type))
        tenant_choices = list(tenants)
        if asked_tenant and asked_tenant not in dict(tenants):
            tenant_choices.append((asked_tenant, asked_tenant))
        self.fields["type"].choices = [("", "Any type"), *type_choices]
        self.fields["tenant"].choices = [("", "Any tenant"), *tenant_choices]

    def clean(self):
        cleaned = super().clean()
        since, until = cleaned.get("since"), cleaned.get("until")
        if since and until and until < since:
            self.add_error("until", "Must be the same day as From or later.")
        return cleaned

    def criteria(self) -> dict:
        """The valid form's filters, as `audit.selectors.event_list` takes them. Dates
        are whole days in the site's time zone; To includes its day."""
        data = self.cleaned_data
        return {
            "type": data["type"],
            "outcome": data["outcome"],
            "user": data["user"].strip(),
            "tenant_ref": data["tenant"],
            "actor": data["actor"].strip(),
            "since": _start_of(data["since"]) if data["since"] else None,
            "until": _day_after(data["until"]) if data["until"] else None,
        }


def _day_after(day: date) -> datetime | None:
    return None if day == date.max else _start_of(day + timedelta(days=1))


def _start_of(day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=timezone.get_current_timezone())
