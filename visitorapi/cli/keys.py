"""``visitorapi keys``: replace the secrets visitorapi keeps, for incident response.

visitorapi holds one long-lived secret of its own in the store: the key
under which the login throttle names client networks
(:mod:`visitorapi.state.throttle`). It rotates by itself once a day;
``keys rotate`` does it now. The rate limiter's key lives only in each
worker's memory and is replaced by a restart; the other secrets (TLS key,
``VISITORAPI_METRICS_TOKEN``, passwords, TOTP) belong to the operator and
users, and ``keys rotate`` lists how to replace each.
"""
import time

from visitorapi.config import state_path
from visitorapi.state import audit, db, throttle
from visitorapi.state.db import transaction

OTHER_SECRETS = (
    "TLS private key: issue a new certificate and key, then restart (visitorapi serve "
    "--certfile/--keyfile or your proxy)",
    "VISITORAPI_METRICS_TOKEN: set a new value (openssl rand -hex 32) and restart",
    "rate-limit key: in worker memory only; a restart replaces it",
    "dashboard sessions: visitorapi users revoke-sessions --all",
    "TOTP secrets (if the store was copied): visitorapi users reset-mfa EMAIL for each account",
    "passwords (if the store was copied): each user sets a new one under Security",
)


def register(subparsers) -> None:
    keys = subparsers.add_parser(
        "keys", help="rotate the secrets visitorapi keeps",
        description="Replace the secrets visitorapi keeps (incident response); see "
                    "docs/incident-response.md.")
    commands = keys.add_subparsers(dest="keys_command", metavar="SUBCOMMAND", required=True)
    rotate = commands.add_parser(
        "rotate", help="replace the login throttle's key now and list the other secrets",
        description="Replace the store's login-throttle key (client counters start again) and "
                    "print how to replace the secrets visitorapi does not hold.")
    rotate.set_defaults(run=run_rotate)


def run_rotate(args) -> int:
    conn = db.connect(state_path())
    try:
        dropped = throttle.rotate_key(conn, time.time())
        with transaction(conn):
            audit.append(conn, actor=audit.cli_actor(), action="keys.rotated",
                         after={"key": "login throttle", "client_counters_dropped": dropped})
    finally:
        conn.close()
    print(f"login throttle key replaced; {dropped} client counter"
          f"{'s' if dropped != 1 else ''} dropped")
    print("secrets visitorapi does not hold, to replace by hand:")
    for line in OTHER_SECRETS:
        print(f"  - {line}")
    return 0
