"""`manage.py scim_key_create --organization <slug> --name "Workday"`: make an
organization's SCIM key from the command line (for an operator setting up an HR system
or identity provider); `--expires 2027-06-30` makes it stop at the start of that day
(UTC). The key is printed once; Stratus keeps only its hash."""

import argparse
from datetime import UTC, date, datetime, time

from django.core.management.base import BaseCommand, CommandError

from directory import services
from directory.errors import ServiceError
from directory.models import ApiKey, Organization, User


class Command(BaseCommand):
    help = "Create a SCIM key (usable only at /scim/v2/) for an organization."

    def add_arguments(self, parser):
        parser.add_argument("--organization", required=True, help="The organization's slug.")
        parser.add_argument("--name", required=True, help="What uses it, such as Workday.")
        parser.add_argument(
            "--owner", help="Email of the owner named in its events (default: the first owner)."
        )
        parser.add_argument(
            "--expires",
            type=_day,
            help="YYYY-MM-DD: the key stops working at the start of this day (UTC).",
        )

    def handle(self, *args, organization, name, owner=None, expires=None, **options):
        org = Organization.objects.filter(slug=organization).first()
        if org is None:
            raise CommandError(f"No organization with the slug {organization!r}.")
        owners = User.objects.for_organization(org).filter(role=User.OWNER).order_by("pk")
        actor = owners.filter(email__iexact=owner).first() if owner else owners.first()
        if actor is None:
            raise CommandError(f"No owner {owner!r} in {org.name}." if owner else "No owner.")
        try:
            key, secret = services.api_key_create(
                actor=actor,
                organization=org,
                name=name,
                scope=ApiKey.SCOPE_SCIM,
                expires_at=datetime.combine(expires, time.min, tzinfo=UTC) if expires else None,
            )
        except ServiceError as error:
            raise CommandError(error.message) from error
        self.stderr.write(f"SCIM key {key.name!r} for {org.name}; it is shown only now:")
        self.stdout.write(secret)


def _day(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a date: write it as YYYY-MM-DD, such as 2027-06-30."
        ) from None
