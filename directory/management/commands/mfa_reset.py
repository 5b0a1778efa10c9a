from django.core.management.base import BaseCommand, CommandError

from directory import mfa
from directory.addresses import email_canonical
from directory.models import User


class Command(BaseCommand):
    help = (
        "Remove a person's second factors and recovery codes (they lost all of them and "
        "no owner can reset them). Check who asks first; the person is emailed."
    )

    def add_arguments(self, parser):
        parser.add_argument("email")

    def handle(self, *args, email, **options):
        user = User.objects.filter(email__iexact=email_canonical(email)).first()
        if user is None or user.organization_id is None:
            raise CommandError(f"email: no user of an organization has the address {email}.")
        mfa.mfa_reset_by_operator(user=user)
        self.stdout.write(f"The second factors of {user.email} were removed.")
