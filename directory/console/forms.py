"""Console forms. They check shape only (required, lengths, choices); the rules live
in the services, whose errors `add_service_error` puts next to the fields they name."""

from datetime import UTC, datetime, time

from django import forms

from directory import hooks
from directory.addresses import CanonicalEmailField
from directory.errors import ServiceError
from directory.models import ApiKey, User
from directory.services import PROFILE_FIELDS


def add_service_error(form: forms.Form, error: ServiceError) -> None:
    """Show a service's error on the form: each message next to its field, the rest at
    the top of the form."""
    placed = False
    for field, messages in error.fields.items():
        for message in messages:
            form.add_error(field if field in form.fields else None, message)
            placed = True
    if not placed:
        form.add_error(None, error.message)


class SignInForm(forms.Form):
    email = CanonicalEmailField(
        widget=forms.EmailInput(attrs={"autofocus": True, "autocomplete": "email"})
    )
    password = forms.CharField(
        strip=False, widget=forms.PasswordInput(attrs={"autocomplete": "current-password"})
    )


class SignUpForm(forms.Form):
    name = forms.CharField(
        label="Organization name", max_length=200, widget=forms.TextInput(attrs={"autofocus": True})
    )
    first_name = forms.CharField(max_length=64, required=False)
    last_name = forms.CharField(max_length=64, required=False)
    email = CanonicalEmailField(
        label="Work email", widget=forms.EmailInput(attrs={"autocomplete": "email"})
    )


class UserFilterForm(forms.Form):
    q = forms.CharField(required=False, label="Search")
    status = forms.ChoiceField(required=False, choices=[("", "Any status"), *User.STATUSES])
    role = forms.ChoiceField(required=False, choices=[("", "Any role"), *User.ROLES])
    service = forms.ChoiceField(required=False, label="Connected services")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # States the bridges add (directory.hooks), e.g. "Microsoft 365: password pending".
        self.fields["service"].choices = [("", "Any service state")] + [
            (f.key, f.label) for f in hooks.user_list_flags()
        ]


class UserForm(forms.Form):
    """Create or edit a user: login, role and the profile attributes synced to M365."""

    email = CanonicalEmailField(max_length=254)
    role = forms.ChoiceField(choices=User.ROLES, initial=User.MEMBER)
    first_name = forms.CharField(max_length=64, required=False)
    last_name = forms.CharField(max_length=64, required=False)
    display_name = forms.CharField(
        max_length=256, required=False, help_text="Defaults to first and last name."
    )
    job_title = forms.CharField(max_length=128, required=False)
    department = forms.CharField(max_length=64, required=False)
    employee_id = forms.CharField(max_length=16, required=False, label="Employee ID")
    company_name = forms.CharField(max_length=64, required=False)
    office_location = forms.CharField(max_length=128, required=False)
    mobile_phone = forms.CharField(max_length=64, required=False)
    business_phones = forms.CharField(max_length=64, required=False, label="Business phone")
    street_address = forms.CharField(max_length=1024, required=False)
    city = forms.CharField(max_length=128, required=False)
    state = forms.CharField(max_length=128, required=False, label="State or province")
    postal_code = forms.CharField(max_length=40, required=False)
    country = forms.CharField(max_length=128, required=False)
    usage_location = forms.CharField(
        max_length=2, required=False, help_text="Two-letter country code, such as US or DE."
    )

    SECTIONS = (
        ("Account", ("email", "role")),
        ("Name", ("first_name", "last_name", "display_name")),
        ("Work", ("job_title", "department", "employee_id", "company_name", "office_location")),
        ("Contact", ("mobile_phone", "business_phones")),
        (
            "Address",
            ("street_address", "city", "state", "postal_code", "country", "usage_location"),
        ),
    )

    @classmethod
    def initial_for(cls, user: User) -> dict:
        initial = {name: getattr(user, name) for name in ("email", "role", *PROFILE_FIELDS)}
        initial["business_phones"] = (user.business_phones or [""])[0]
        return initial

    def sections(self):
        return [(title, [self[name] for name in names]) for title, names in self.SECTIONS]

    def service_arguments(self) -> dict:
        return dict(self.cleaned_data)


class UserCreateForm(UserForm):
    """Adding a user: the same fields, and whether to email them an activation link."""

    send_activation = forms.BooleanField(
        required=False,
        initial=True,
        label="Send an activation email",
        help_text="A welcome email with a link to choose their password. Turn it off to "
        "set a password yourself.",
    )

    SECTIONS = (("Account", ("email", "role", "send_activation")), *UserForm.SECTIONS[1:])


class PasswordForm(forms.Form):
    password = forms.CharField(
        label="New password",
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password", "autofocus": True}),
    )
    confirm = forms.CharField(
        label="Repeat the password",
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
    )
    temporary = forms.BooleanField(
        required=False, label="Temporary: the user must choose their own at the next sign-in"
    )

    def clean(self):
        data = super().clean()
        if data.get("password") and data.get("confirm") and data["password"] != data["confirm"]:
            self.add_error("confirm", "The two passwords differ.")
        return data


class SearchForm(forms.Form):
    q = forms.CharField(required=False, label="Search")


class GroupForm(forms.Form):
    name = forms.CharField(max_length=256, widget=forms.TextInput(attrs={"autofocus": True}))
    description = forms.CharField(
        max_length=1024, required=False, widget=forms.Textarea(attrs={"rows": 3})
    )


class MemberAddForm(forms.Form):
    email = CanonicalEmailField(label="Email of the user to add")


class PolicyForm(forms.Form):
    password_min_length = forms.IntegerField(label="Minimum length", min_value=8, max_value=256)
    password_require_lowercase = forms.BooleanField(label="A lowercase letter", required=False)
    password_require_uppercase = forms.BooleanField(label="An uppercase letter", required=False)
    password_require_digit = forms.BooleanField(label="A digit", required=False)
    password_require_symbol = forms.BooleanField(label="A symbol", required=False)
    password_max_age_days = forms.IntegerField(
        label="Maximum age (days)",
        required=False,
        min_value=1,
        max_value=3650,
        help_text="Leave empty for passwords that never expire.",
    )
    password_history = forms.IntegerField(
        label="Remembered passwords",
        min_value=0,
        max_value=24,
        help_text="How many previous passwords a user may not reuse (0 to 24).",
    )


class ReauthForm(forms.Form):
    secret = forms.CharField(
        label="Your password, or a code from your authenticator app",
        max_length=1024,
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "current-password", "autofocus": True}),
    )


class MfaPolicyForm(forms.Form):
    required_for_admins = forms.BooleanField(
        label="Admins and owners must use a second factor", required=False
    )
    required_for_everyone = forms.BooleanField(
        label="Every user must use a second factor (console and portal)", required=False
    )


class ApiKeyForm(forms.Form):
    READ_WRITE, READ_ONLY = "read_write", "read_only"

    name = forms.CharField(max_length=100, help_text="Say what uses it, such as “HR sync”.")
    scope = forms.ChoiceField(
        label="For",
        choices=ApiKey.SCOPES,
        initial=ApiKey.SCOPE_API,
        help_text="A SCIM key works only at /scim/v2/; a REST API key only at /api/v1/.",
    )
    access = forms.ChoiceField(
        label="Rights",
        choices=[(READ_WRITE, "Read and write"), (READ_ONLY, "Read only")],
        initial=READ_WRITE,
        help_text="REST API keys. Never more than your own role allows.",
    )
    areas = forms.MultipleChoiceField(
        choices=ApiKey.AREAS,
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text="REST API keys: the only areas it may use. None ticked: every area.",
    )
    expires_at = forms.DateField(
        label="Expires on",
        required=False,
        widget=forms.DateInput(attrs={"type": "date"}),
        help_text="The key stops working at the start of this day (UTC). Empty: never.",
    )

    def __init__(self, data=None, **kwargs):
        if data is not None and ("scope" not in data or "access" not in data):
            # A post that does not choose (as before keys had scopes) makes a REST API
            # key that may read and write.
            data = data.copy()
            data.setdefault("scope", ApiKey.SCOPE_API)
            data.setdefault("access", self.READ_WRITE)
        super().__init__(data, **kwargs)

    def key_options(self) -> dict:
        """The cleaned choices as `services.api_key_create` takes them."""
        data = self.cleaned_data
        day = data.get("expires_at")
        return {
            "name": data["name"],
            "scope": data["scope"],
            "read_only": data["access"] == self.READ_ONLY,
            "areas": data.get("areas") or [],
            "expires_at": datetime.combine(day, time.min, tzinfo=UTC) if day else None,
        }


class ScimSettingsForm(forms.Form):
    scim_bind_new_users = forms.BooleanField(
        label="Bind new users to the Microsoft 365 tenant of their domain",
        required=False,
        help_text="Users created through SCIM get a Microsoft 365 account in the connected "
        "tenant whose verified domain is their email's; without such a tenant they stay "
        "unbound.",
    )
