from django.core.management.base import BaseCommand, CommandError

from schools.models import District

from ...services.rollups import rollups_rebuild


class Command(BaseCommand):
    help = (
        "Recompute the report rollups from the incidents, their queue items and their "
        "hand-offs, one district per transaction. Idempotent; safe while the product runs "
        "(writers wait for each district's rebuild)."
    )

    def add_arguments(self, parser):
        parser.add_argument("--district", help="the district's slug (default: every district)")

    def handle(self, *args, **options):
        districts = District.objects.order_by("pk")
        if options["district"]:
            districts = districts.filter(slug=options["district"])
            if not districts.exists():
                raise CommandError(f'No district with the slug "{options["district"]}".')
        for district in districts:
            rows = rollups_rebuild(district=district)
            counts = ", ".join(f"{n:,} {name} rows" for name, n in rows.items())
            self.stdout.write(f"{district.slug}: {counts}")
