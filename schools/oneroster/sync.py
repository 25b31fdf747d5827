"""The scheduled sync: the newest set dropped in a folder, imported once."""

import hashlib
from pathlib import Path

from django.db import transaction
from django.utils import timezone

from ..models import (
    District,
    RosterImportRun,
)
from .applying import oneroster_import
from .reading import OneRosterError, oneroster_set_read


def _newest_set(drop_dir: Path, settle_seconds: float) -> Path | None:
    """The newest complete set in the drop folder: the folder itself when it holds the CSV
    files, else its newest zip or sub-folder. Anything written in the last
    ``settle_seconds`` may still be arriving and waits for the next run."""
    now = timezone.now().timestamp()

    def settled(path: Path) -> bool:
        files = [path] if path.is_file() else [path, *path.iterdir()]
        return all(now - f.stat().st_mtime >= settle_seconds for f in files)

    if (drop_dir / "users.csv").is_file():
        return drop_dir if settled(drop_dir) else None
    candidates = [
        p
        for p in drop_dir.iterdir()
        if (p.is_dir() or p.suffix.lower() == ".zip") and not p.name.startswith(".")
    ]
    for path in sorted(candidates, key=lambda p: p.stat().st_mtime, reverse=True):
        return path if settled(path) else None
    return None


def oneroster_sync_drop_dir(
    *, drop_dir: Path, district: District, settle_seconds: float = 60
) -> RosterImportRun | None:
    """Import the newest set in the drop folder unless this district already ran it (even
    when it was refused: a refused set waits for a corrected one). Returns the new run."""
    path = _newest_set(drop_dir, settle_seconds)
    if path is None:
        return None
    with transaction.atomic():
        # One sync per district at a time: a second beat tick waits here, then finds the run.
        District.objects.select_for_update().get(pk=district.pk)
        try:
            roster_set = oneroster_set_read(path=path)
        except OneRosterError as exc:
            return RosterImportRun.objects.create(
                district=district,
                source=str(path)[:500],
                fingerprint=hashlib.sha256(str(exc).encode()).hexdigest(),
                trigger="scheduled",
                outcome=RosterImportRun.Outcome.REFUSED,
                problems=str(exc),
                started_at=timezone.now(),
                finished_at=timezone.now(),
            )
        if (
            RosterImportRun.objects.filter(district=district, fingerprint=roster_set.fingerprint)
            .exclude(outcome=RosterImportRun.Outcome.DRY_RUN)
            .exists()
        ):
            return None
        try:
            return oneroster_import(
                roster_set=roster_set, district=district, trigger="scheduled"
            ).run
        except OneRosterError:
            return RosterImportRun.objects.filter(district=district).first()
