"""Notifications for operators: events, email and webhook delivery, the background sender.

Events are recorded into the store's outbox (:mod:`visitorapi.notify.events`);
one background process (:mod:`visitorapi.notify.runner`) runs the detectors
and delivers (:mod:`visitorapi.notify.sender`) by email
(:mod:`visitorapi.notify.email`) and signed webhook
(:mod:`visitorapi.notify.webhook`). docs/notifications.md explains why.
"""
