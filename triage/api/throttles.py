"""API throttles: a per-user rate (DJANGO_API_THROTTLE_USER) and failed token guesses per
address. Both answer 429 with Retry-After (DRF's Throttled)."""

from rest_framework.authentication import TokenAuthentication
from rest_framework.authtoken.models import Token
from rest_framework.exceptions import AuthenticationFailed, Throttled
from rest_framework.throttling import SimpleRateThrottle, UserRateThrottle

from schools.selectors import user_with_memberships_by_token
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
        return self.cache_format % {"scope": self.scope, "ident": client_ip(request) or "unknown"}

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


class ThrottledTokenAuthentication(TokenAuthentication):
    """Token authentication that stops answering an address after too many wrong tokens."""

    def authenticate(self, request):
        if not request.META.get("HTTP_AUTHORIZATION", "").lower().startswith("token"):
            return None
        throttle = FailedTokenThrottle()
        if throttle.blocked(request):
            raise Throttled(wait=throttle.wait(), detail="Too many wrong tokens from this address.")
        try:
            return super().authenticate(request)
        except AuthenticationFailed:
            throttle.record_failure(request)
            raise

    def authenticate_credentials(self, key):
        # The token's user and their roles in one query instead of two; a user without a
        # role, an inactive one or a wrong key take DRF's own path and messages.
        user = user_with_memberships_by_token(key)
        if user is None or not user.is_active:
            return super().authenticate_credentials(key)
        return user, Token(key=key, user=user)
