from django import forms

from directory.addresses import CanonicalEmailField, email_canonical


class SignInForm(forms.Form):
    email = forms.CharField(
        max_length=254,
        widget=forms.EmailInput(attrs={"autocomplete": "username", "autofocus": True}),
    )
    password = forms.CharField(
        max_length=1024,
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "current-password"}),
    )

    def clean_email(self):
        # Not an EmailField: a malformed address is a failed sign-in, not a form error.
        return email_canonical(self.cleaned_data["email"])


class ForgotForm(forms.Form):
    email = CanonicalEmailField(
        max_length=254, widget=forms.EmailInput(attrs={"autocomplete": "email", "autofocus": True})
    )


class NewPasswordForm(forms.Form):
    """A new password typed twice. Widgets never render a value back into the page."""

    new_password = forms.CharField(
        label="New password",
        max_length=1024,
        strip=False,
        widget=forms.PasswordInput(
            attrs={"autocomplete": "new-password", "data-password-new": True}
        ),
    )
    confirm_password = forms.CharField(
        label="Type it again",
        max_length=1024,
        strip=False,
        widget=forms.PasswordInput(
            attrs={"autocomplete": "new-password", "data-password-confirm": True}
        ),
    )

    def clean(self):
        cleaned = super().clean()
        new, confirm = cleaned.get("new_password"), cleaned.get("confirm_password")
        if new and confirm and new != confirm:
            self.add_error("confirm_password", "The two passwords are not the same.")
        return cleaned

    def add_service_error(self, error) -> None:
        """Show a service's InvalidInput on the fields it names."""
        mapping = {"password": "new_password"}
        for field, messages in (error.fields or {}).items():
            field = mapping.get(field, field)
            for message in messages:
                self.add_error(field if field in self.fields else None, message)
        if not error.fields:
            self.add_error(None, error.message)


class ChangePasswordForm(NewPasswordForm):
    current_password = forms.CharField(
        label="Current password",
        max_length=1024,
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "current-password"}),
    )

    field_order = ["current_password", "new_password", "confirm_password"]


class MfaCodeForm(forms.Form):
    """A six-digit code from the authenticator app, or a recovery code."""

    code = forms.CharField(
        label="Code",
        max_length=32,
        widget=forms.TextInput(
            attrs={"autocomplete": "one-time-code", "inputmode": "text", "autofocus": True}
        ),
    )

    def add_service_error(self, error) -> None:
        for field, messages in (error.fields or {}).items():
            for message in messages:
                self.add_error(field if field in self.fields else None, message)
        if not error.fields:
            self.add_error(None, error.message)
