"""``visitorapi notify``: run the background sender, send a test, publish a security notice.

- ``notify run``: the detectors and the sender, until SIGTERM or SIGINT (the
  shipped gunicorn configuration starts this as a child of its master);
- ``notify test [--user EMAIL]``: send a test notification now through every
  channel of one account (or every active account) and print each outcome;
- ``notify publish --title T --body B``: a security notice to every active
  account by email and webhook (promise 9.1), sent by the running sender.
"""
import argparse
import contextlib
import signal
import threading
import time

from visitorapi.errors import OperatorError
from visitorapi.state import accounts, db, notifications
from visitorapi.state.audit import cli_actor


def register(subparsers) -> None:
    """Add ``notify`` to the ``visitorapi`` parser."""
    parser = subparsers.add_parser(
        "notify", help="notifications for operators: run the sender, test, publish a notice",
        description="Email and webhook notifications for dashboard users "
                    "(docs/notifications.md).")
    commands = parser.add_subparsers(dest="notify_command", metavar="COMMAND", required=True)
    run_ = commands.add_parser(
        "run", help="run the detectors and deliver notifications until stopped",
        description="Watch the store for events and deliver the outbox, every "
                    "VISITORAPI_NOTIFY_INTERVAL seconds, until SIGTERM or SIGINT. The shipped "
                    "gunicorn configuration starts one; run it yourself when "
                    "VISITORAPI_NOTIFY=off.")
    run_.add_argument("--parent", type=int, metavar="PID", help=argparse.SUPPRESS)
    run_.set_defaults(run=run_sender)
    test = commands.add_parser(
        "test", help="send a test notification through every configured channel now",
        description="Send a test notification to each account's email and webhooks (or one "
                    "account's) and print what happened to each. Exit status 1 if any failed.")
    test.add_argument("--user", metavar="EMAIL", help="only this dashboard account")
    test.set_defaults(run=run_test)
    publish = commands.add_parser(
        "publish", help="publish a security notice to every user",
        description="Queue a security notice for every active dashboard account, by email "
                    "and webhook, whatever they chose; the running sender delivers it. The "
                    "notice is recorded in the audit trail.")
    publish.add_argument("--title", required=True, help="one line; the email's subject")
    publish.add_argument("--body", required=True, help="the notice (plain text)")
    publish.set_defaults(run=run_publish)


def _settings():
    from visitorapi.config import load_settings
    return load_settings()


def run_sender(args) -> int:
    from visitorapi import logs
    from visitorapi.notify.runner import Runner
    settings = _settings()
    logs.configure(settings.log_format, settings.log_level)
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    Runner(settings).run(stop, parent_pid=args.parent)
    return 0


def run_test(args) -> int:
    from visitorapi.notify.events import TEST, Event
    from visitorapi.notify.sender import Sender
    settings = _settings()
    sender = Sender(settings.smtp, max_attempts=1)
    with contextlib.closing(db.connect(settings.state_path, create=True)) as conn:
        if args.user:
            targets = [accounts.require(conn, args.user)]
        else:
            targets = [a for a in accounts.list_accounts(conn) if not a.disabled]
        if not targets:
            raise OperatorError("there are no active dashboard accounts to send to; add one with "
                                "'visitorapi users create'")
        event = Event(TEST, "Test notification",
                      "This is a test from 'visitorapi notify test'. If you read it, this "
                      "channel works.")
        ids = []
        for account in targets:
            ids += notifications.enqueue_test(conn, event, account.id, time.time())
        outcomes = sender.deliver_due(conn, limit=len(ids), only=ids)
    failed = 0
    for outcome in outcomes:
        state = "delivered" if not outcome.error else f"FAILED: {outcome.error}"
        failed += bool(outcome.error)
        print(f"{outcome.channel:8} {outcome.address}: {state}")
    return 1 if failed else 0


def run_publish(args) -> int:
    from visitorapi.notify.events import publish_notice
    settings = _settings()
    with contextlib.closing(db.connect(settings.state_path, create=True)) as conn:
        try:
            if not args.body.strip():
                raise ValueError("--body is empty; write the notice itself")
            count = publish_notice(conn, args.title, args.body, cli_actor(), time.time())
        except ValueError as exc:
            raise OperatorError(str(exc)) from None
    print(f"security notice queued for {count} deliveries; the running sender "
          "('visitorapi notify run', started by the shipped gunicorn configuration) sends it")
    return 0
