"""`manage.py seed_demo`: the demo organization `make run` shows, created once."""

import random

from django.core.management.base import BaseCommand
from django.db import transaction

from directory import services
from directory.models import Organization, User

DEMO_SLUG = "contoso"
DEMO_DOMAIN = "contoso.example"
DEMO_OWNER = f"owner@{DEMO_DOMAIN}"
# A demo-only password, printed on the console by `make run`; never used in production.
DEMO_PASSWORD = "Stratus-Demo-2026"

FIRST = [
    "Ada",
    "Bram",
    "Chiara",
    "Dev",
    "Elif",
    "Femi",
    "Grace",
    "Hiro",
    "Ines",
    "Jonas",
    "Kemal",
    "Lena",
    "Mateo",
    "Nia",
    "Oskar",
    "Priya",
    "Quinn",
    "Rosa",
    "Sami",
    "Tara",
]
LAST = [
    "Lovelace",
    "Visser",
    "Rossi",
    "Patel",
    "Yilmaz",
    "Adeyemi",
    "Hopper",
    "Tanaka",
    "Costa",
    "Berg",
    "Aydin",
    "Fischer",
    "Garcia",
    "Okafor",
    "Nilsson",
    "Rao",
    "Hughes",
    "Moreno",
    "Haddad",
    "Singh",
]
DEPARTMENTS = ["Engineering", "Sales", "Finance", "Support", "Marketing"]
TITLES = {
    "Engineering": "Software Engineer",
    "Sales": "Account Executive",
    "Finance": "Analyst",
    "Support": "Support Specialist",
    "Marketing": "Marketing Lead",
}


class Command(BaseCommand):
    help = "Create the demo organization (owner, 50 users, 5 groups) unless it exists."

    def handle(self, *args, **options):
        if Organization.objects.filter(slug=DEMO_SLUG).exists():
            self.stdout.write("Demo organization already exists.")
            return
        with transaction.atomic():
            self._seed()
        self.stdout.write(self.style.SUCCESS("Demo organization created."))

    def _seed(self):
        organization, owner = services.organization_signup(
            name="Contoso",
            email=DEMO_OWNER,
            password=DEMO_PASSWORD,
            first_name="Olivia",
            last_name="Owner",
        )
        assert organization.slug == DEMO_SLUG
        # The demo signs in with the printed password alone; turn the second factor on in
        # Settings to try it (real organizations require it of admins from the start).
        organization.mfa_required_for_admins = False
        organization.save(update_fields=["mfa_required_for_admins"])
        rng = random.Random(7)
        groups = {
            name: services.group_create(
                actor=owner, organization=organization, name=name, description=f"Everyone in {name}"
            )
            for name in DEPARTMENTS
        }
        for index in range(50):
            first, last = FIRST[index % 20], LAST[(index * 7) % 20]
            department = DEPARTMENTS[index % len(DEPARTMENTS)]
            user = services.user_create(
                actor=owner,
                organization=organization,
                email=f"{first}.{last}{index}@{DEMO_DOMAIN}".lower(),
                role=User.ADMIN if index == 0 else User.MEMBER,
                first_name=first,
                last_name=last,
                department=department,
                job_title=TITLES[department],
                usage_location="US",
                city=rng.choice(["Seattle", "Austin", "Boston", "Denver"]),
                country="United States",
                send_activation=False,
            )
            services.group_member_add(actor=owner, group=groups[department], user=user)
