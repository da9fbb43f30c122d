"""The DataHub service's webhooks (`origin.webhooks`): subscribers hear of measurements
published and GGOs issued -- the issuing body's subscriptions of every meter, an owner's of
their own meters only."""

from origin.datahub.db import deliveries, webhooks
from origin.webhooks import ATTEMPTS_MAX, BACKOFF_MAX_S, EVENTS_PER_POST, Webhooks

EVENTS = ("measurement.published", "ggo.issued")
HOOKS = Webhooks(webhooks, deliveries, EVENTS)
subscribe, listed, unsubscribe, listening, enqueue, deliver_due = (
    HOOKS.subscribe, HOOKS.listed, HOOKS.unsubscribe, HOOKS.listening, HOOKS.enqueue, HOOKS.deliver_due)  # fmt: skip

__all__ = ["ATTEMPTS_MAX", "BACKOFF_MAX_S", "EVENTS", "EVENTS_PER_POST", "deliver_due", "enqueue", "listed", "listening",
           "subscribe", "unsubscribe"]  # fmt: skip
