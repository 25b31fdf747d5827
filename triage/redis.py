"""One Redis client per process for what is not Celery's own: live updates and the routing
wake-up. Only used when REDIS_URL is set (the embedded default has no Redis)."""

import functools

from django.conf import settings


@functools.cache
def client():
    """redis-py re-opens its connections after a fork, so one cached client is safe."""
    import redis

    return redis.Redis.from_url(settings.REDIS_URL, socket_timeout=5, socket_connect_timeout=2)
