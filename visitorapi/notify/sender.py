"""Deliver what the outbox holds: claim due rows, send each, record the outcome.

A failed attempt is retried with exponential backoff (``backoff`` seconds,
then twice that, and so on, at most :data:`MAX_BACKOFF_SECONDS` apart) until
``max_attempts`` attempts were made; then the delivery is 'failed' and stays
in the log with the last error. With the defaults (6 attempts, 30 s) a
delivery is given up about 15 minutes after its first try.

Runs only in the background process (:mod:`visitorapi.notify.runner`) or
``visitorapi notify test``; never in a request.
"""
import logging
import smtplib
import time
from dataclasses import dataclass

from visitorapi.notify import email, webhook
from visitorapi.notify.events import KINDS, NOTICE
from visitorapi.state import notifications

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 6
BACKOFF_SECONDS = 30.0
MAX_BACKOFF_SECONDS = 3600.0
_PERMANENT = "not retried: "   # how an error that no retry can fix starts


@dataclass(frozen=True)
class Outcome:
    """What one attempt did (``notify test`` prints these)."""
    delivery_id: int
    channel: str
    address: str
    error: str           # '' when delivered
    gave_up: bool


def retry_delay(attempts_made: int, backoff: float = BACKOFF_SECONDS) -> float:
    """Seconds before the next attempt after ``attempts_made`` failed ones (1, 2, ...)."""
    return min(backoff * 2 ** (attempts_made - 1), MAX_BACKOFF_SECONDS)


def email_text(delivery) -> str:
    """The body of a notification email: the event, and where to change what one gets."""
    lines = [delivery.title, ""]
    if delivery.pid:
        lines += [f"Project: {delivery.pid}", ""]
    lines += [delivery.details, "", "-- ",
              f"visitorapi, {_kind_label(delivery.kind)}.",
              "Choose what you are told, and how, on the dashboard's Notifications page."]
    return "\n".join(lines) + "\n"


def _kind_label(kind: str) -> str:
    if kind == NOTICE:
        return "a security notice sent to every user"
    return KINDS.get(kind, "a test notification").split(":")[0].lower()


class Sender:
    """Delivers due outbox rows.

    Args:
        smtp: :class:`visitorapi.notify.email.SmtpSettings`, or None when
            email is not configured (email deliveries then fail at once, with
            a message naming the setting).
        max_attempts, backoff: the retry policy (see the module docstring).
        clock: ``time.time``, or a test's clock.
    """

    def __init__(self, smtp=None, *, max_attempts: int = MAX_ATTEMPTS,
                 backoff: float = BACKOFF_SECONDS, clock=time.time):
        self.smtp = smtp
        self.max_attempts = max_attempts
        self.backoff = backoff
        self.clock = clock

    def deliver_due(self, conn, limit: int = 20, only=None) -> list:
        """Claim and try up to ``limit`` due deliveries; return their :class:`Outcome`."""
        outcomes = []
        for delivery in notifications.claim_due(conn, self.clock(), limit, only=only):
            error = self._attempt(delivery)
            attempts = delivery.attempts + 1
            permanent = error.startswith(_PERMANENT)
            gave_up = bool(error) and (permanent or attempts >= self.max_attempts)
            retry_at = None if gave_up or not error else (
                self.clock() + retry_delay(attempts, self.backoff))
            notifications.record_outcome(conn, delivery.id, error, self.clock(), retry_at=retry_at)
            if error:
                log.warning("notification %d by %s: attempt %d failed (%s)%s", delivery.id,
                            delivery.channel, attempts, error,
                            "; giving up" if gave_up else "; will retry",
                            extra={"event": "notify.failed"})
            outcomes.append(Outcome(delivery.id, delivery.channel, delivery.address, error,
                                    gave_up))
        return outcomes

    def _attempt(self, delivery) -> str:
        """Send one delivery; return '' or what went wrong (one line, no secret)."""
        try:
            if delivery.channel == "email":
                if self.smtp is None:
                    return _PERMANENT + "email is not configured: set VISITORAPI_SMTP_HOST " \
                                        "and VISITORAPI_SMTP_FROM (docs/notifications.md)"
                email.send(self.smtp, email.compose(
                    self.smtp, delivery.address, f"[visitorapi] {delivery.title}",
                    email_text(delivery)))
            else:
                webhook.post(delivery.address, delivery.secret, delivery.id,
                             webhook.body_for(delivery), self.clock())
        except smtplib.SMTPRecipientsRefused as exc:
            return _PERMANENT + f"the mail server refused the recipient ({_first(exc)})"
        except (OSError, smtplib.SMTPException) as exc:
            return _describe(exc)
        return ""


def _first(exc) -> str:
    for code, message in getattr(exc, "recipients", {}).values():
        text = message.decode(errors="replace") if isinstance(message, bytes) else message
        return f"{code} {text}"
    return str(exc)


def _describe(exc) -> str:
    """One line for the delivery log: the kind of failure and the peer's words."""
    text = str(exc) or exc.__class__.__name__
    if isinstance(exc, smtplib.SMTPResponseException):
        message = exc.smtp_error.decode(errors="replace") if isinstance(exc.smtp_error, bytes) \
            else str(exc.smtp_error)
        text = f"SMTP {exc.smtp_code} {message}"
    return " ".join(f"{exc.__class__.__name__}: {text}".split())[:300]
