"""Redis clients for what is not Celery's own: live updates and the routing wake-up. Only used
when REDIS_URL is set (the embedded default has no Redis)."""

import functools

from django.conf import settings


@functools.cache
def client(timeout: float = 5.0):
    """One client per process and timeout; redis-py re-opens its connections after a fork.

    A short ``timeout`` is for calls on a teacher's request path, which must not wait on a
    Redis that is down or unreachable."""
    import redis

    return redis.Redis.from_url(
        settings.REDIS_URL, socket_timeout=timeout, socket_connect_timeout=min(timeout, 2.0)
    )
