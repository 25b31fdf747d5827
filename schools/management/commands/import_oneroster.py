from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from schools.models import District
from schools.oneroster import OneRosterError, oneroster_import, oneroster_set_read, summary_text


class Command(BaseCommand):
    help = (
        "Import a OneRoster 1.1 CSV set (a folder or a zip; 1.2's roles.csv is read too): "
        "schools, students with demographics, staff with their roles. All or nothing; a second "
        "run of the same set changes nothing."
    )

    def add_arguments(self, parser):
        parser.add_argument("path", type=Path, help="folder or .zip with orgs.csv, users.csv, …")
        parser.add_argument(
            "--district",
            help="slug of the district to import into (needed when there are several)",
        )
        parser.add_argument(
            "--special-education",
            type=Path,
            help="CSV student_id,iep,section_504,bip,plan_contact (default: "
            "special_education.csv in the set, when present)",
        )
        parser.add_argument(
            "--dry-run", action="store_true", help="print the changes, change nothing"
        )

    def handle(self, *args, path: Path, district, special_education, dry_run, **options):
        target = district_for(district)
        if not path.exists():
            raise CommandError(f"{path}: no such file or folder")
        if special_education is not None and not special_education.is_file():
            raise CommandError(f"{special_education}: no such file")
        try:
            roster_set = oneroster_set_read(path=path, special_education=special_education)
            result = oneroster_import(roster_set=roster_set, district=target, dry_run=dry_run)
        except OneRosterError as exc:
            for problem in exc.problems:
                self.stderr.write(str(problem))
            raise CommandError(
                f"{len(exc.problems)} problem(s) found; nothing was imported."
            ) from exc
        if dry_run:
            for change in result.changes:
                self.stdout.write(f"would {change}")
            self.stdout.write(f"Dry run, nothing changed. {summary_text(result.summary)}")
        else:
            self.stdout.write(self.style.SUCCESS(f"Imported. {summary_text(result.summary)}"))


def district_for(slug: str | None) -> District:
    if slug:
        try:
            return District.objects.get(slug=slug)
        except District.DoesNotExist as exc:
            raise CommandError(f"no district with slug {slug!r}") from exc
    districts = list(District.objects.all()[:2])
    if len(districts) != 1:
        raise CommandError(
            "give --district SLUG: there are several districts"
            if districts
            else "no district yet: create one in the back office first"
        )
    return districts[0]
