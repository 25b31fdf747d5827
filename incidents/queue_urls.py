"""Responder pages; included by incidents/urls.py under the "incidents" namespace."""

from django.urls import path, re_path

from . import access_log_views, live_views, queue_views

queue_urlpatterns = [
    path("queues/", queue_views.queues, name="queues"),
    path("queues/events/", live_views.queue_events, name="queue_events"),
    path("queues/items/<int:item_id>/", queue_views.queue_item, name="queue_item"),
    re_path(
        r"^queues/items/(?P<item_id>[0-9]+)/(?P<action>claim|acknowledge|lead|note|handoff|resolve)/$",
        queue_views.queue_item_act,
        name="queue_item_act",
    ),
    path("access-log/", access_log_views.access_log, name="access_log"),
]
