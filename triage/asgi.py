"""The ASGI application that production serves (gunicorn with uvicorn workers, see Procfile).

Django runs each ASGI request in a "thread-sensitive context": the request's synchronous
parts (sync middleware, sync views) get a thread of their own that lives as long as the
request. For a page that is fine; for a live stream that stays open for minutes it would be
a parked thread per open tab. Live streams therefore run without that context: their few
synchronous steps (the session, the user) share one thread in turn, and waiting for events
is a coroutine on the event loop (incidents/live.py).
"""

import os
import re

import django
from django.core.handlers.asgi import ASGIHandler

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "triage.settings")

LIVE_STREAM_PATHS = re.compile(r"^/(queues|incidents/[0-9]+)/events/$")


class LiveStreamASGIHandler(ASGIHandler):
    async def __call__(self, scope, receive, send):
        if scope["type"] == "http" and LIVE_STREAM_PATHS.match(scope.get("path", "")):
            await self.handle(scope, receive, send)
            return
        await super().__call__(scope, receive, send)


django.setup(set_prefix=False)  # as django.core.asgi.get_asgi_application() does
application = LiveStreamASGIHandler()
