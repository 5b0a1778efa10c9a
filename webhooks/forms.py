from django import forms


class EndpointForm(forms.Form):
    url = forms.CharField(
        label="URL",
        max_length=2000,
        widget=forms.URLInput(attrs={"placeholder": "https://siem.example.com/stratus"}),
        help_text="Receives each event as a signed JSON POST.",
    )
    description = forms.CharField(max_length=200, required=False)
    event_types = forms.CharField(
        label="Event types",
        required=False,
        max_length=2000,
        help_text="Comma-separated, e.g. user_create, group_*. Empty: every event.",
    )


class EndpointEditForm(EndpointForm):
    active = forms.BooleanField(
        required=False, help_text="Paused endpoints keep their queue and get it when resumed."
    )
