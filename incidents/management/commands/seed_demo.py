from django.conf import settings
from django.core.management.base import BaseCommand

from policies.services import ruleset_ensure_default
from schools.demo import DEMO_PASSWORD, DEMO_USERS, seed_people_and_roster


class Command(BaseCommand):
    help = (
        "Create (or top up) the demo district, its people, roster and routing policy. Idempotent."
    )

    def handle(self, *args, **options):
        district = seed_people_and_roster()
        ruleset_ensure_default(district=district)
        self.stdout.write(self.style.SUCCESS(f"Demo data ready: {district.name}."))
        self.stdout.write(f"Demo logins (password: {DEMO_PASSWORD}):")
        for username, _first, _last, role in DEMO_USERS:
            self.stdout.write(f"  {username:<15} {role.label} at LIN-ES, WAS-MS and JEF-HS")
        self.stdout.write(f"  {'teacher2':<15} Teacher at WAS-MS only")
        self.stdout.write(f"Open {settings.SITE_URL}/ once the server is up.")
