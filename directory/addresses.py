"""One spelling for every email address.

An internationalized domain can be written in Unicode (`bücher.example`) or in its
ASCII form (`xn--bcher-kva.example`); both name the same mailbox. Stratus keeps the
ASCII form: it is the only form Microsoft 365 accepts in a userPrincipalName, every
mail server accepts it, and it leaves the case-insensitive uniqueness of emails as it
was. The domain goes through IDNA 2008 with UTS #46 mapping (the `idna` package), which
also folds case and width; the local part is only lowercased, as before.
"""

import idna
from django import forms


def email_canonical(email: str) -> str:
    """The stored form of `email`. A domain IDNA refuses is left as written, for the
    email validator to reject with its usual message."""
    email = (email or "").strip()
    local, at, domain = email.rpartition("@")
    if at and not domain.isascii():
        try:
            domain = idna.encode(domain, uts46=True).decode("ascii")
        except idna.IDNAError:
            pass
    return f"{local}{at}{domain}".lower()


class CanonicalEmailField(forms.EmailField):
    """A form's email field that hands on the stored spelling, so that sign-in, its
    throttle and "forgot password" see one address whichever way it was typed."""

    def to_python(self, value):
        return email_canonical(super().to_python(value))
