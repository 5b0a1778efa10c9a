from django.contrib.auth.backends import ModelBackend

from .addresses import email_canonical
from .models import User


class EmailBackend(ModelBackend):
    """Sign-in by email, case-insensitively; only active accounts get in."""

    def authenticate(self, request, username=None, password=None, email=None, **kwargs):
        email = email_canonical(email or username or "")
        if not email or password is None:
            return None
        user = User.objects.filter(email__iexact=email).select_related("organization").first()
        if user is None:
            User().set_password(password)  # same work either way: no timing hint
            return None
        if user.check_password(password) and self.user_can_authenticate(user):
            return user
        return None
