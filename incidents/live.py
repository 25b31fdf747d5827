"""Live updates: responders' queue pages and a reporter's incident page, on one async stream.

A channel is ``queue:<id>`` (a responder queue) or ``incident:<id>`` (one incident, for the
people who may read it). Every event has an id, so a page that reconnects sends
``Last-Event-ID`` and is sent what it missed.

- With Redis (REDIS_URL, or the broker when it is Redis) an event is appended to one capped
  Redis stream (its stream id is the event id) and published on its channel, both in one Lua
  script, so ids and publications are in the same order. Each web process holds ONE pattern
  subscription and fans events out to its open streams through asyncio queues: a thousand open
  pages are a thousand coroutines and one Redis connection, no thread and no database
  connection each.
- Without Redis (the embedded default) events are rows of LiveEvent (the row id is the event
  id), and each web process polls that table for all of its streams at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections import defaultdict
from collections.abc import AsyncIterator, Callable, Iterable

import redis.asyncio
from asgiref.sync import sync_to_async
from django.conf import settings
from django.db import connection

from triage.redis import client

from .models import LiveEvent

logger = logging.getLogger(__name__)

PREFIX = "triage:live:"
LOG_KEY = "triage:live:log"  # the Redis stream every event is appended to
LOG_LENGTH = 20_000  # about: trimmed with MAXLEN ~
REPLAY_MAX = 1_000  # events sent to a reconnecting page; more than that: "resync"
HEARTBEAT_SECONDS = 15.0  # a comment line, so proxies and the browser see the stream alive
STREAM_SECONDS = 300.0  # then the stream ends and the browser reconnects (access re-checked)
RETRY_MS = 2_000
DB_POLL_SECONDS = 0.5
LISTENER_BACKLOG = 1_000  # events waiting for one slow page before it is told to reconnect

# Every event of a call in one script: a routed or delivered batch is one command, not one
# per event (redis-py packs and parses each command in Python: per event that was a tenth of
# a routing round's CPU). ARGV: the stream's length, the channel prefix, then channel and
# payload in turn. The script runs whole, so ids and publications stay in the same order.
_PUBLISH_LUA = """
for i = 3, #ARGV, 2 do
  local channel, data = ARGV[i], ARGV[i + 1]
  local id = redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[1], '*', 'c', channel, 'd', data)
  redis.call('PUBLISH', ARGV[2] .. channel, id .. ' ' .. data)
end
return #ARGV / 2 - 1
"""


def queue_channel(queue_id: int) -> str:
    return f"queue:{queue_id}"


def incident_channel(incident_id: int) -> str:
    return f"incident:{incident_id}"


def _payload(item, event: str) -> dict:
    # Ids, route and state only: the page fetches what the viewer may see.
    return {
        "event": event,
        "item": item.pk,
        "queue": item.queue_id,
        "incident": item.incident_id,
        "route": item.route,
        "state": item.state,
        "origin": item.origin,
        "escalation_level": item.escalation_level,
    }


def redis_client():
    return client()


# --- Publishing (sync: services call these after commit) ------------------------------------


def publish_item(item, event: str) -> None:
    publish_items([item], event)


def publish_items(items, event: str) -> None:
    """Publish for these items on their queues' channels, in one round trip."""
    publish([(queue_channel(item.queue_id), _payload(item, event)) for item in items])


def publish_incident(*, incident_id: int, event: str, **data) -> None:
    """Tell the pages showing this incident that it changed (routed, acknowledged, ...)."""
    publish([(incident_channel(incident_id), {"event": event, "incident": incident_id, **data})])


def publish(events: list[tuple[str, dict]]) -> None:
    if not events:
        return
    try:
        if settings.REDIS_URL:
            args = [LOG_LENGTH, PREFIX]
            for channel, payload in events:
                args += (channel, json.dumps(payload))
            redis_client().register_script(_PUBLISH_LUA)(keys=[LOG_KEY], args=args)
        else:
            LiveEvent.objects.bulk_create(
                LiveEvent(channel=channel, queue_id=payload.get("queue"), payload=payload)
                for channel, payload in events
            )
    except Exception:
        # A missed live update is not a lost incident: the page also refreshes on focus.
        logger.warning(
            "live update on %s not published",
            ", ".join(channel for channel, _ in events),
            exc_info=True,
        )


# --- Event ids -------------------------------------------------------------------------------


def _redis_id(value: str) -> tuple[int, int] | None:
    ms, _, seq = value.partition("-")
    if ms.isdigit() and seq.isdigit():
        return int(ms), int(seq)
    return None


def _db_id(value: str) -> int | None:
    return int(value) if value.isdigit() else None


def _order_key(event_id: str):
    return _redis_id(event_id) if settings.REDIS_URL else _db_id(event_id)


# --- Reading the database without holding a connection ---------------------------------------


def _release_connection() -> None:
    # Inside a test's transaction there is nothing to hand back (and closing would end it).
    if not connection.in_atomic_block:
        connection.close()


async def db_call(function: Callable, *args, **kwargs):
    """Run a short ORM read off the event loop, then hand its connection back (to the pool),
    so that an open stream never keeps a database connection while it waits."""

    def call():
        try:
            return function(*args, **kwargs)
        finally:
            _release_connection()

    return await sync_to_async(call, thread_sensitive=False)()


# --- Replay ----------------------------------------------------------------------------------

RESYNC = "resync"


def _replay_redis(channels: set[str], since: str) -> list[tuple[str, str]] | None:
    """Events after ``since`` on these channels, or None when some may have been trimmed."""
    client = redis_client()
    if client.exists(LOG_KEY):
        deleted = client.xinfo_stream(LOG_KEY).get("max-deleted-entry-id", b"0-0")
        if _redis_id(deleted.decode() if isinstance(deleted, bytes) else deleted) > _redis_id(
            since
        ):
            return None  # trimmed away: some of what the page missed is gone
    found = []
    start = "(" + since
    while True:
        rows = client.xrange(LOG_KEY, min=start, count=500)
        for raw_id, fields in rows:
            if fields[b"c"].decode() in channels:
                found.append((raw_id.decode(), fields[b"d"].decode()))
        if len(rows) < 500 or len(found) > REPLAY_MAX:
            break
        start = "(" + rows[-1][0].decode()
    return None if len(found) > REPLAY_MAX else found


def _replay_db(channels: set[str], since: int) -> list[tuple[str, str]] | None:
    rows = list(
        LiveEvent.objects.filter(pk__gt=since, channel__in=channels)
        .order_by("pk")
        .values_list("pk", "payload")[: REPLAY_MAX + 1]
    )
    if len(rows) > REPLAY_MAX:
        return None
    return [(str(pk), json.dumps(payload)) for pk, payload in rows]


async def replay(channels: set[str], since: str) -> list[tuple[str, str]] | None:
    if settings.REDIS_URL:
        return await sync_to_async(_replay_redis, thread_sensitive=False)(channels, since)
    return await db_call(_replay_db, channels, int(since))


# --- One subscription per process, fanned out to every open stream --------------------------

_CLOSED = ("", "")  # put on a listener's queue: end the stream (the page reconnects)


class _Listener:
    def __init__(self, channels: set[str]) -> None:
        self.channels = channels
        self.queue: asyncio.Queue[tuple[str, str]] = asyncio.Queue(LISTENER_BACKLOG)

    def put(self, event: tuple[str, str]) -> None:
        try:
            self.queue.put_nowait(event)
        except asyncio.QueueFull:
            # A page this far behind reconnects and is sent what it missed.
            with contextlib.suppress(asyncio.QueueFull):
                self.queue.get_nowait()
                self.queue.put_nowait(_CLOSED)


class Hub:
    """The process's listener on Redis (or on the LiveEvent table), for the current loop."""

    def __init__(self) -> None:
        self.loop = asyncio.get_running_loop()
        self.listeners: dict[str, set[_Listener]] = defaultdict(set)
        self.ready = asyncio.Event()
        self.task: asyncio.Task | None = None

    async def add(self, listener: _Listener) -> None:
        for channel in listener.channels:
            self.listeners[channel].add(listener)
        if self.task is None or self.task.done():
            self.ready.clear()
            self.task = self.loop.create_task(self._run())
        await asyncio.wait_for(self.ready.wait(), timeout=10)

    def remove(self, listener: _Listener) -> None:
        for channel in listener.channels:
            members = self.listeners.get(channel)
            if members is not None:
                members.discard(listener)
                if not members:
                    del self.listeners[channel]

    def _dispatch(self, channel: str, event_id: str, data: str) -> None:
        for listener in list(self.listeners.get(channel, ())):
            listener.put((event_id, data))

    def _close_all(self) -> None:
        for members in list(self.listeners.values()):
            for listener in members:
                listener.put(_CLOSED)

    async def _run(self) -> None:
        try:
            if settings.REDIS_URL:
                await self._run_redis()
            else:
                await self._run_db()
        except asyncio.CancelledError:
            raise
        except Exception:
            logger.warning("live updates: listener stopped; open pages will reconnect", exc_info=1)
        finally:
            # The pages reconnect with Last-Event-ID and are sent what they missed.
            self._close_all()

    async def _run_redis(self) -> None:
        client = redis.asyncio.Redis.from_url(settings.REDIS_URL, socket_connect_timeout=2)
        pubsub = client.pubsub()
        try:
            await pubsub.psubscribe(PREFIX + "*")
            while True:
                message = await pubsub.get_message(timeout=None)
                if message is None:
                    continue
                if message["type"] == "psubscribe":
                    self.ready.set()
                elif message["type"] == "pmessage":
                    channel = message["channel"].decode()[len(PREFIX) :]
                    event_id, _, data = message["data"].decode().partition(" ")
                    self._dispatch(channel, event_id, data)
        finally:
            with contextlib.suppress(Exception):
                await pubsub.aclose()
                await client.aclose()

    async def _run_db(self) -> None:
        # With SQLite (the embedded default) writers hold the database lock in turn, so row
        # ids are committed in order and reading "after the last id seen" misses nothing.
        last = await db_call(
            lambda: LiveEvent.objects.order_by("-pk").values_list("pk", flat=True).first() or 0
        )
        self.ready.set()
        while True:
            await asyncio.sleep(DB_POLL_SECONDS)
            if not self.listeners:
                continue
            rows = await db_call(
                lambda after: list(
                    LiveEvent.objects.filter(pk__gt=after)
                    .order_by("pk")
                    .values_list("pk", "channel", "payload")[:1000]
                ),
                last,
            )
            for pk, channel, payload in rows:
                last = pk
                self._dispatch(channel, str(pk), json.dumps(payload))


_hub: Hub | None = None


def hub() -> Hub:
    global _hub
    if _hub is None or _hub.loop is not asyncio.get_running_loop():
        _hub = Hub()
    return _hub


# --- The stream --------------------------------------------------------------------------------


def _frame(event_id: str, data: str) -> str:
    return f"id: {event_id}\ndata: {data}\n\n"


def _head_redis() -> str:
    newest = redis_client().xrevrange(LOG_KEY, count=1)
    return newest[0][0].decode() if newest else "0-0"


def _head_db() -> str:
    return str(LiveEvent.objects.order_by("-pk").values_list("pk", flat=True).first() or 0)


async def head() -> str:
    """The id of the newest event (of any channel): where a new page starts from."""
    if settings.REDIS_URL:
        return await sync_to_async(_head_redis, thread_sensitive=False)()
    return await db_call(_head_db)


async def event_stream(
    channels: Iterable[str],
    *,
    last_event_id: str = "",
    decorate: Callable[[dict], dict] | None = None,
    duration: float | None = None,
    on_close: Callable[[], object] | None = None,
) -> AsyncIterator[str]:
    """Server-sent events on these channels: what was missed after ``last_event_id``, then
    live events and heartbeats until ``duration`` (STREAM_SECONDS); the browser reconnects.

    With ``duration=0`` (a synchronous server, e.g. runserver) the stream sends what is
    there and ends: the browser reconnects every RETRY_MS with Last-Event-ID, as a poll.
    """
    duration = STREAM_SECONDS if duration is None else duration
    deadline = time.monotonic() + duration
    listener = None
    try:
        if duration > 0:
            # Listen before the first byte: once the page sees the stream open, no event for
            # these channels can be missed.
            listener = _Listener(set(channels))
            await hub().add(listener)
        yield f"retry: {RETRY_MS}\n\n"
        sent = _order_key(last_event_id) if last_event_id else None
        if sent is None:
            # A first connection: start from the newest event. An id without data sets the
            # page's Last-Event-ID, so its reconnects are sent what they missed.
            start = await head()
            sent = _order_key(start)
            yield f"id: {start}\n\n"
        else:
            missed = await replay(set(channels), last_event_id)
            if missed is None:
                # Too much was missed (or trimmed away): the page reloads instead.
                start = await head()
                sent = _order_key(start)
                yield f"id: {start}\ndata: {json.dumps({'event': RESYNC})}\n\n"
            else:
                for event_id, data in missed:
                    sent = _order_key(event_id)
                    yield _frame(event_id, _decorated(data, decorate))
        while listener is not None:
            left = deadline - time.monotonic()
            if left <= 0:
                return
            try:
                event_id, data = await asyncio.wait_for(
                    listener.queue.get(), timeout=min(HEARTBEAT_SECONDS, left)
                )
            except TimeoutError:
                if deadline - time.monotonic() > 0:
                    yield ": keep-alive\n\n"
                continue
            if (event_id, data) == _CLOSED:
                return
            key = _order_key(event_id)
            if key is not None and key <= sent:
                continue  # already sent in the replay
            sent = key
            yield _frame(event_id, _decorated(data, decorate))
    finally:
        if listener is not None:
            hub().remove(listener)
        if on_close is not None:
            result = on_close()
            if asyncio.iscoroutine(result):
                await result


def _decorated(data: str, decorate: Callable[[dict], dict] | None) -> str:
    if decorate is None:
        return data
    return json.dumps(decorate(json.loads(data)))
