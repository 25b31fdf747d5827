"""Writes of rule sets: drafts, edits, publishing and rollback. One transaction each."""

from django.db import transaction
from django.db.models import Max
from django.utils import timezone

from schools.models import District, User

from . import engine
from .defaults import default_policy
from .models import PublishEvent, RuleSet, RuleSetStatus
from .selectors import district_for_admin


class RulesetInvalid(Exception):
    def __init__(self, errors: list[engine.Problem]):
        self.errors = errors
        super().__init__("; ".join(str(e) for e in errors))


class RulesetConflict(Exception):
    """The action does not fit the version's state (e.g. editing a published version)."""


def _next_version(district: District) -> int:
    current = RuleSet.objects.filter(district=district).aggregate(v=Max("version"))["v"]
    return (current or 0) + 1


def ruleset_ensure_default(*, district: District, by: User | None = None) -> RuleSet:
    """Publish the default policy as version 1 for a district that has no rule set yet."""
    with transaction.atomic():
        District.objects.select_for_update().get(pk=district.pk)
        existing = RuleSet.objects.filter(district=district).order_by("version").first()
        if existing is not None:
            return existing
        spec = engine.normalize_ruleset(default_policy())
        return RuleSet.objects.create(
            district=district,
            version=1,
            status=RuleSetStatus.PUBLISHED,
            rules=spec["rules"],
            default_route=spec["default_route"],
            guardrails=spec["guardrails"],
            note="Default policy (DOMAIN.md)",
            created_by=by,
            published_by=by,
            published_at=timezone.now(),
        )


def ruleset_create_draft(*, user: User, based_on: int | None = None) -> RuleSet:
    district = district_for_admin(user)
    with transaction.atomic():
        District.objects.select_for_update().get(pk=district.pk)
        if based_on is None:
            source = RuleSet.objects.filter(
                district=district, status=RuleSetStatus.PUBLISHED
            ).first()
            spec = source.spec() if source else engine.normalize_ruleset(default_policy())
            based_version = source.version if source else None
        else:
            source = RuleSet.objects.filter(district=district, version=based_on).first()
            if source is None:
                raise RuleSet.DoesNotExist(f"version {based_on} does not exist")
            spec, based_version = source.spec(), source.version
        return RuleSet.objects.create(
            district=district,
            version=_next_version(district),
            status=RuleSetStatus.DRAFT,
            rules=spec["rules"],
            default_route=spec["default_route"],
            guardrails=spec["guardrails"],
            based_on=based_version,
            created_by=user,
        )


def _draft_store(*, user: User, version: int, spec: dict, require_valid: bool) -> RuleSet:
    """Replace a draft's rules, default route and guardrails, under its row lock."""
    district = district_for_admin(user)
    with transaction.atomic():
        ruleset = RuleSet.objects.select_for_update().get(district=district, version=version)
        if ruleset.status != RuleSetStatus.DRAFT:
            raise RulesetConflict(
                f"version {version} is {ruleset.status}: only drafts can be edited; "
                "create a draft based on it instead"
            )
        if require_valid:
            errors = engine.validate_ruleset(spec).errors
            if errors:
                raise RulesetInvalid(errors)
        normal = engine.normalize_ruleset(spec)
        ruleset.rules = normal["rules"]
        ruleset.default_route = normal["default_route"]
        ruleset.guardrails = normal["guardrails"]
        _mark_kept_replay(ruleset)
        ruleset.save(
            update_fields=["rules", "default_route", "guardrails", "analysis", "updated_at"]
        )
    return ruleset


def _mark_kept_replay(ruleset: RuleSet) -> None:
    """A replay result kept with the draft says whether it still describes the draft.

    Kept rather than dropped, so the editor can say it is out of date; ``stale`` is false
    again if an edit brings back the very spec that was replayed. (Pages decide by the digest
    itself, ``selectors.ruleset_kept_replay``; the flag is for readers of the stored JSON.)
    """
    kept = (ruleset.analysis or {}).get("replay")
    if kept:
        stale = kept.get("spec_digest") != ruleset.spec_digest()
        ruleset.analysis = {**ruleset.analysis, "replay": {**kept, "stale": stale}}


def ruleset_replay_keep(*, ruleset_id: int, kept: dict) -> None:
    """Keep a finished what-if replay's result with the version (``analysis["replay"]``),
    under the version's row lock; ``kept`` carries the ``spec_digest`` it replayed.

    ``update()`` leaves ``updated_at`` alone: a replay is not an edit of the draft.
    """
    with transaction.atomic():
        ruleset = RuleSet.objects.select_for_update().get(pk=ruleset_id)
        analysis = {**(ruleset.analysis or {}), "replay": kept}
        RuleSet.objects.filter(pk=ruleset.pk).update(analysis=analysis)


def ruleset_update(*, user: User, version: int, spec: dict) -> tuple[RuleSet, list[engine.Problem]]:
    """Replace a draft's rules. Refuses invalid specs (nothing is saved); returns lint warnings."""
    ruleset = _draft_store(user=user, version=version, spec=spec, require_valid=True)
    return ruleset, engine.validate_ruleset(ruleset.spec()).warnings


def ruleset_publish(*, user: User, version: int) -> RuleSet:
    """Make a draft (or, as a rollback, an archived version) the district's active policy."""
    district = district_for_admin(user)
    with transaction.atomic():
        District.objects.select_for_update().get(pk=district.pk)
        ruleset = RuleSet.objects.get(district=district, version=version)
        if ruleset.status == RuleSetStatus.PUBLISHED:
            raise RulesetConflict(f"version {version} is already published")
        result = engine.validate_ruleset(ruleset.spec())
        if result.errors:
            raise RulesetInvalid(result.errors)
        current = RuleSet.objects.filter(district=district, status=RuleSetStatus.PUBLISHED).first()
        if current is not None:
            current.status = RuleSetStatus.ARCHIVED
            current.save(update_fields=["status", "updated_at"])
        rollback = ruleset.status == RuleSetStatus.ARCHIVED
        ruleset.status = RuleSetStatus.PUBLISHED
        ruleset.published_by = user
        ruleset.published_at = timezone.now()
        ruleset.save(update_fields=["status", "published_by", "published_at", "updated_at"])
        PublishEvent.objects.create(
            ruleset=ruleset,
            published_by=user,
            replaced_version=current.version if current else None,
            rollback=rollback,
        )
    return ruleset


def ruleset_save_draft(
    *, user: User, version: int, spec: dict
) -> tuple[RuleSet, engine.ValidationResult]:
    """Store a draft as the editor sent it, errors and all, so no work is lost.

    Unlike ``ruleset_update`` an invalid spec is kept (publishing still refuses it); only a
    shape that cannot be stored at all (not an object, rules not a list) is refused.
    """
    district_for_admin(user)  # non-admins are refused before their input is read
    normal = engine.normalize_ruleset(spec)
    unstorable = []
    if not isinstance(normal, dict):
        unstorable.append(engine.Problem("ruleset", "a rule set must be an object"))
    else:
        if not isinstance(normal.get("rules"), list):
            unstorable.append(engine.Problem("rules", "must be a list of rules"))
        route = normal.get("default_route")
        if (
            not isinstance(route, str)
            or len(route) > RuleSet._meta.get_field("default_route").max_length
        ):
            unstorable.append(engine.Problem("default_route", "choose one of the routes"))
        if not isinstance(normal.get("guardrails"), dict):
            unstorable.append(engine.Problem("guardrails", "must be an object keyed by guardrail"))
    if unstorable:
        raise RulesetInvalid(unstorable)
    ruleset = _draft_store(user=user, version=version, spec=spec, require_valid=False)
    return ruleset, engine.validate_ruleset(ruleset.spec())
