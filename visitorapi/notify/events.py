"""What an operator can be told: the event kinds, the Event, and how one is recorded.

An :class:`Event` holds settings and counts only: a kind, the project (or
none), a title and plain-text details. It never carries anything about a
visitor: no address, no user agent, no visitor's page. The one outside name
it may hold is a refused website's origin, which the store already keeps
(``usage_denied_origins``) and which describes a site, not a person.

Recording an event (:func:`record`) writes the outbox rows for everyone who
chose that kind, in the caller's transaction; sending happens later, in the
sender (:mod:`visitorapi.notify.sender`), never on a request.
"""
import re
from dataclasses import dataclass

from visitorapi.state import audit, notifications
from visitorapi.state.db import transaction

# kind -> what the dashboard's settings call it. "notice" (a security notice an
# operator publishes, promise 9.1) reaches every active account by email
# whatever it chose, so it is not offered as a choice.
KINDS = {
    "refused": "Refused origins: a new website refused, or many refusals in an hour",
    "usage": "Usage far above the project's own recent baseline",
    "ipdb": "The IP database (owners only): stale, or an update failed or was refused",
    "security": "Security: a sign-in from a new browser; users created, disabled or given a "
                "new role; MFA turned off or reset; recovery codes used up; projects disabled "
                "or deleted",
}
NOTICE = "notice"
TEST = "test"
MAX_TITLE = 200
MAX_DETAILS = 4000
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")


@dataclass(frozen=True)
class Event:
    """One thing to tell operators.

    Attributes:
        kind: a key of :data:`KINDS`, :data:`NOTICE` or :data:`TEST`.
        title: one line (becomes the email subject).
        details: plain text, a few lines.
        pid: the project concerned; only accounts that can see it are told.
    """
    kind: str
    title: str
    details: str
    pid: str | None = None

    def __post_init__(self):
        if self.kind not in KINDS and self.kind not in (NOTICE, TEST):
            raise ValueError(f"unknown event kind {self.kind!r}")
        title = " ".join(self.title.split())
        if not title:
            raise ValueError("an event needs a title")
        object.__setattr__(self, "title", title[:MAX_TITLE])
        object.__setattr__(self, "details", _CONTROL.sub("", self.details)[:MAX_DETAILS])

    def as_dict(self) -> dict:
        """The webhook body's ``event`` object."""
        return {"kind": self.kind, "project": self.pid, "title": self.title,
                "details": self.details}


def record(conn, event: Event, now: float, **audience) -> int:
    """Queue ``event`` for its audience inside the caller's transaction; return the deliveries.

    Args:
        audience: passed to :func:`visitorapi.state.notifications.enqueue`.
    """
    return notifications.enqueue(conn, event, now, **audience)


def publish_notice(conn, title: str, body: str, actor: str, now: float) -> int:
    """Publish a security notice to every active account (promise 9.1); return the deliveries.

    The notice goes to the audit trail in the same transaction, so who
    published what, and when, is on record.
    """
    event = Event(NOTICE, title, body)
    with transaction(conn):
        audit.append(conn, actor=actor, action="notice.published",
                     after={"title": event.title})
        return record(conn, event, now, everyone=True)


def record_sign_in(conn, account, browser: str, now: float) -> int:
    """A full sign-in to the dashboard: tell the account when ``browser`` is new for it.

    ``browser`` is the coarse "Firefox on Linux" label of the operator's own
    browser (the sessions list shows the same). The first sign-in ever is
    not news; only the account itself is told, if it chose security events.
    """
    with transaction(conn):
        new, first_ever = notifications.remember_browser(conn, account.id, browser)
        if not new or first_ever:
            return 0
        return record(conn, Event(
            "security", f"New sign-in to {account.email} from {browser}",
            f"Someone signed in to the dashboard as {account.email} from a browser not seen "
            f"for this account before ({browser}). If it was not you, change your password "
            "on the Security page, log out the other sessions and tell an owner."),
            now, account=account.email)
