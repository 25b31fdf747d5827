"""Reads of rule sets, scoped to the district admin's district, and the compiled-policy cache."""

from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache

from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import Http404

from schools.models import District, User
from schools.selectors import districts_administered

from . import engine
from .models import RuleSet, RuleSetStatus


def district_for_admin(user: User) -> District:
    """The district a district admin acts on; everyone else is refused."""
    districts = districts_administered(user)
    if not districts:
        raise PermissionDenied("Only district admins may manage routing rules.")
    return districts[0]


def rulesets_for(user: User) -> QuerySet[RuleSet]:
    district = district_for_admin(user)
    return RuleSet.objects.filter(district=district).select_related("created_by", "published_by")


def ruleset_get(*, user: User, version: int) -> RuleSet:
    """A version of the admin's district; 404 for versions that do not exist there."""
    ruleset = rulesets_for(user).filter(version=version).first()
    if ruleset is None:
        raise Http404(f"No rule set version {version}.")
    return ruleset


def ruleset_published(district: District | int) -> RuleSet | None:
    district_id = district if isinstance(district, int) else district.pk
    # One at most (ruleset_one_published_per_district): no ORDER BY to compile or run.
    published = RuleSet.objects.filter(district_id=district_id, status=RuleSetStatus.PUBLISHED)
    return next(iter(published.order_by()), None)


@lru_cache(maxsize=256)
def _compiled(ruleset_id: int, updated_at_iso: str) -> engine.CompiledPolicy:
    ruleset = RuleSet.objects.get(pk=ruleset_id)
    return engine.compile_ruleset(ruleset.spec())


def compiled_policy(ruleset: RuleSet) -> engine.CompiledPolicy:
    """Compiled once per version (and per edit of a draft), then reused from memory."""
    return _compiled(ruleset.pk, ruleset.updated_at.isoformat())


@dataclass(frozen=True)
class KeptReplay:
    """The latest what-if replay result kept with a version (``RuleSet.analysis["replay"]``)."""

    run_id: int
    finished_at: datetime
    changed: int
    total: int
    # False once the version's spec differs from the one replayed (the draft was edited since),
    # or when the result does not say which spec it replayed.
    current: bool

    @property
    def summary(self) -> str:
        return f"{self.changed:,} of {self.total:,} incidents would change route"


def ruleset_kept_replay(ruleset: RuleSet) -> KeptReplay | None:
    kept = (ruleset.analysis or {}).get("replay")
    if not kept:
        return None
    digest = kept.get("spec_digest")
    return KeptReplay(
        run_id=kept["run"],
        finished_at=datetime.fromisoformat(kept["finished_at"]),
        changed=kept["changed"],
        total=kept["total"],
        current=bool(digest) and digest == ruleset.spec_digest(),
    )
