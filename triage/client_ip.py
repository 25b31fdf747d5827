"""The client's address, for sign-in lockouts and API throttles.

REMOTE_ADDR, unless DJANGO_TRUSTED_PROXY_HEADER names the header that the deployment's own
proxy sets (e.g. X-Forwarded-For): then its last address, the one that proxy saw. Without
that setting a forwarded header is ignored, since any client can send one.
"""

from django.conf import settings
from django.http import HttpRequest


def client_ip(request: HttpRequest) -> str | None:
    header = settings.TRUSTED_PROXY_HEADER
    if header:
        forwarded = request.META.get(header, "")
        addresses = [a.strip() for a in forwarded.split(",") if a.strip()]
        if addresses:
            return addresses[-1]
    return request.META.get("REMOTE_ADDR") or None
