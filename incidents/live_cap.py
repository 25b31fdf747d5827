"""A cap on the live streams one person holds open (LIVE_STREAMS_PER_USER).

With Redis the count holds across web processes (a sorted set of leases per person); without
it, per process. Eight open queue pages once stopped the production server.
"""

import contextlib
import time
import uuid
from collections import Counter
from collections.abc import Callable

from asgiref.sync import sync_to_async
from django.conf import settings

from . import live


class TooManyStreams(Exception):
    pass


_local_open: Counter[int] = Counter()
_CAP_LUA = """
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[1])
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[3]) then return 0 end
redis.call('ZADD', KEYS[1], ARGV[2], ARGV[4])
redis.call('EXPIRE', KEYS[1], ARGV[5])
return 1
"""


def _cap_take(user_id: int, token: str, cap: int) -> bool:
    now = time.time()
    lease = live.STREAM_SECONDS + 60
    client = live.redis_client()
    script = client.register_script(_CAP_LUA)
    return bool(
        script(
            keys=[f"{live.PREFIX}open:{user_id}"],
            args=[now, now + lease, cap, token, int(lease) + 1],
        )
    )


def _cap_release(user_id: int, token: str) -> None:
    live.redis_client().zrem(f"{live.PREFIX}open:{user_id}", token)


async def stream_slot_take(user_id: int) -> Callable[[], object]:
    """Take one of the person's LIVE_STREAMS_PER_USER open streams, or raise TooManyStreams.

    Returns the coroutine function that gives it back. With Redis the count holds across web
    processes; each lease outlives the longest stream, so a process that dies frees its slots.
    """
    cap = settings.LIVE_STREAMS_PER_USER
    if settings.REDIS_URL:
        token = uuid.uuid4().hex
        taken = await sync_to_async(_cap_take, thread_sensitive=False)(user_id, token, cap)
        if not taken:
            raise TooManyStreams

        async def release() -> None:
            with contextlib.suppress(Exception):
                await sync_to_async(_cap_release, thread_sensitive=False)(user_id, token)

        return release
    if _local_open[user_id] >= cap:
        raise TooManyStreams
    _local_open[user_id] += 1

    async def release_local() -> None:
        _local_open[user_id] -= 1
        if _local_open[user_id] <= 0:
            del _local_open[user_id]

    return release_local
