"""Celery tasks of the schools app: take ids (or nothing), call one service, return."""

import logging
from pathlib import Path

from celery import shared_task
from django.conf import settings

from .models import District
from .oneroster import oneroster_sync_drop_dir

logger = logging.getLogger(__name__)


# Shorter than Redis's visibility timeout (CELERY_VISIBILITY_TIMEOUT, 300 s): a sync is never
# delivered twice while it runs. 50,000 students import in well under a minute.
@shared_task(name="schools.tasks.oneroster_sync", time_limit=280, soft_time_limit=270)
def oneroster_sync() -> str:
    """Beat: import a new OneRoster set from ONEROSTER_DROP_DIR, when one has landed."""
    if not settings.ONEROSTER_DROP_DIR:
        return "not configured"
    drop_dir = Path(settings.ONEROSTER_DROP_DIR)
    districts = District.objects.all()
    if settings.ONEROSTER_DISTRICT:
        districts = districts.filter(slug=settings.ONEROSTER_DISTRICT)
    district_list = list(districts[:2])
    if len(district_list) != 1 or not drop_dir.is_dir():
        logger.warning("OneRoster sync: set ONEROSTER_DISTRICT and an existing ONEROSTER_DROP_DIR")
        return "misconfigured"
    run = oneroster_sync_drop_dir(
        drop_dir=drop_dir,
        district=district_list[0],
        settle_seconds=settings.ONEROSTER_SETTLE_SECONDS,
    )
    if run is None:
        return "nothing new"
    logger.info("OneRoster sync run=%s outcome=%s", run.pk, run.outcome)  # counts only
    return run.outcome
