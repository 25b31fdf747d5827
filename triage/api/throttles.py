"""API throttles: a per-user rate (DJANGO_API_THROTTLE_USER) and failed token guesses per
address. Both answer 429 with Retry-After (DRF's Throttled)."""

from datetime import UTC, datetime

from django.utils import timezone
from rest_framework.authentication import TokenAuthentication
from rest_framework.authtoken.models import Token
from rest_framework.exceptions import AuthenticationFailed, Throttled
from rest_framework.throttling import SimpleRateThrottle, UserRateThrottle

from schools.models import TokenLockout
from schools.selectors import principal_by_token
from triage.client_ip import client_ip


class PerUserRateThrottle(UserRateThrottle):
    """DRF's user rate, keyed by the signed-in user; the address only for anonymous calls."""

    scope = "user"

    def get_ident(self, request) -> str:
        return client_ip(request) or "unknown"


class FailedTokenThrottle(SimpleRateThrottle):
    """Counts wrong tokens per client address. Only failures count, so a school network
    behind one address is never slowed by its staff's good tokens."""

    scope = "failed_token"

    def get_cache_key(self, request, view) -> str:
        return self.cache_format % {"scope": self.scope, "ident": _address(request)}

    def _history(self, request) -> list[float]:
        self.key = self.get_cache_key(request, None)
        self.history = self.cache.get(self.key, [])
        self.now = self.timer()
        while self.history and self.history[-1] <= self.now - self.duration:
            self.history.pop()
        return self.history

    def blocked(self, request) -> bool:
        if self.rate is None:
            return False
        return len(self._history(request)) >= self.num_requests

    def record_failure(self, request) -> None:
        if self.rate is None:
            return
        self._history(request)
        self.history.insert(0, self.now)
        self.cache.set(self.key, self.history, self.duration)
        if len(self.history) >= self.num_requests:
            # Blocked from now on, until the oldest wrong token counted leaves the window (as
            # blocked() reads it: while blocked, nothing more is counted). The lockout row
            # lets the token's query refuse a right token too without reading the cache.
            until = datetime.fromtimestamp(self.history[-1] + self.duration, tz=UTC)
            TokenLockout.objects.filter(until__lte=timezone.now()).delete()
            TokenLockout.objects.update_or_create(
                address=_address(request), defaults={"until": until}
            )


def _address(request) -> str:
    return client_ip(request) or "unknown"


TOO_MANY = "Too many wrong tokens from this address."


class ThrottledTokenAuthentication(TokenAuthentication):
    """Token authentication that stops answering an address after too many wrong tokens.

    A right token from a refused address is refused by the token's own query, which reads
    the address's lockout (TokenLockout) with the user and their roles; a wrong token, a
    malformed header or a user without a role take the throttle's cache check."""

    def authenticate(self, request):
        if not request.META.get("HTTP_AUTHORIZATION", "").lower().startswith("token"):
            return None
        self.request = request  # DRF makes an authenticator per request
        try:
            return super().authenticate(request)
        except AuthenticationFailed:
            throttle = FailedTokenThrottle()
            if throttle.blocked(request):
                raise Throttled(wait=throttle.wait(), detail=TOO_MANY) from None
            throttle.record_failure(request)
            raise

    def authenticate_credentials(self, key):
        # The token's user, their roles and the address's lockout in one query; a user
        # without a role, an inactive one or a wrong key take DRF's own path and messages.
        now = timezone.now()
        user, locked_until = principal_by_token(key, address=_address(self.request), now=now)
        if locked_until is not None:
            raise Throttled(wait=(locked_until - now).total_seconds(), detail=TOO_MANY)
        if user is None or not user.is_active:
            found = super().authenticate_credentials(key)
            throttle = FailedTokenThrottle()
            if throttle.blocked(self.request):  # a right token, but no role: a rare path
                raise Throttled(wait=throttle.wait(), detail=TOO_MANY)
            return found
        return user, Token(key=key, user=user)
