from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from schools.services import RosterImportError, roster_import


class Command(BaseCommand):
    help = (
        "Import a student roster CSV (upsert by student_id, all or nothing). Columns: "
        "student_id,school_code,first_name,last_name,birth_date,grade,sex,race_ethnicity,"
        "english_learner,iep,section_504,bip (optional: plan_contact)."
    )

    def add_arguments(self, parser):
        parser.add_argument("file", type=Path, help="CSV file, UTF-8, with a header row")

    def handle(self, *args, file: Path, **options):
        try:
            content = file.read_text(encoding="utf-8-sig")
        except FileNotFoundError as exc:
            raise CommandError(f"{file}: no such file") from exc
        except UnicodeDecodeError as exc:
            raise CommandError(
                f"{file}: not UTF-8 text ({exc.reason} at byte {exc.start})"
            ) from exc
        try:
            result = roster_import(content=content)
        except RosterImportError as exc:
            for problem in exc.problems:
                self.stderr.write(f"{file}: {problem}")
            raise CommandError(
                f"{len(exc.problems)} problem(s) found; nothing was imported."
            ) from exc
        self.stdout.write(
            self.style.SUCCESS(
                f"Imported {result.created + result.updated} students "
                f"({result.created} new, {result.updated} updated)."
            )
        )
