"""gunicorn settings for the product's web server (the Procfile's `web:` line).

gunicorn manages the processes (start, graceful restart, a worker that dies is replaced);
each worker is uvicorn running the ASGI application, so an open live stream is a coroutine,
not a thread. The Procfile passes the address (`--bind`, from PORT); the rest is here.
"""

import os

worker_class = "uvicorn_worker.UvicornWorker"
# Two per core is a good start for I/O-bound Django; each holds any number of live streams.
workers = int(os.environ.get("WEB_CONCURRENCY", "2"))
# Live streams stay open for minutes: on a restart they are cut after this many seconds and
# the pages reconnect (with Last-Event-ID) to the new workers.
graceful_timeout = int(os.environ.get("WEB_GRACEFUL_TIMEOUT", "10"))
keepalive = 75  # behind a proxy that keeps connections open (nginx's default is 75 s)
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1")
# gunicorn's control socket has one path per user: two servers on a machine would share it.
control_socket_disable = True
accesslog = "-" if os.environ.get("WEB_ACCESS_LOG", "0") == "1" else None


def when_ready(server) -> None:
    """Say where the product is, as the address people open (SITE_URL follows PORT)."""
    from django.conf import settings

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "triage.settings")
    print(f"The product is running at {settings.SITE_URL}/", flush=True)
