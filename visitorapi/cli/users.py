"""``visitorapi users``: dashboard accounts from the command line.

This is how the first owner is made (the dashboard has no sign-up page),
and the way back in when an operator loses their authenticator
(``reset-mfa``). Changes are audited with the actor ``cli:<login name>``.
"""
import getpass
import sys

from visitorapi.errors import OperatorError
from visitorapi.state import accounts, db
from visitorapi.state.audit import cli_actor


def register(subparsers) -> None:
    users = subparsers.add_parser("users", help="dashboard accounts",
                                  description="Manage the accounts that log in to the dashboard.")
    commands = users.add_subparsers(dest="users_command", metavar="SUBCOMMAND", required=True)

    create = commands.add_parser(
        "create", help="create an account",
        description="Create a dashboard account. The first account defaults to owner, later ones "
                    "to member. Prompts for the password twice unless --password-stdin.")
    create.add_argument("email")
    create.add_argument("--role", choices=accounts.ROLES,
                        help="owner: manages users and every project; member: only granted projects")
    create.add_argument("--password-stdin", action="store_true",
                        help="read the password from the first line of standard input (scripts)")
    create.set_defaults(run=run_create)

    listing = commands.add_parser("list", help="list accounts")
    listing.set_defaults(run=run_list)

    for name, text, handler in (("disable", "disable an account and end its sessions", run_disable),
                                ("enable", "enable a disabled account", run_enable),
                                ("reset-mfa", "switch MFA off for an account that lost its "
                                              "authenticator (it enrolls again at next login)",
                                 run_reset_mfa)):
        command = commands.add_parser(name, help=text, description=text[0].upper() + text[1:] + ".")
        command.add_argument("email")
        command.set_defaults(run=handler)

    require = commands.add_parser(
        "require-mfa", help="require two-factor authentication for every account (or stop)",
        description="yes: accounts without MFA must enroll at their next page view; no: optional.")
    require.add_argument("answer", choices=("yes", "no"))
    require.set_defaults(run=run_require_mfa)


def read_password(from_stdin: bool) -> str:
    """The new password: one line of stdin, or typed twice at a prompt that does not echo."""
    if from_stdin:
        line = sys.stdin.readline()
        if not line:
            raise OperatorError("--password-stdin: standard input is empty")
        return line.rstrip("\r\n")
    first = getpass.getpass("Password (at least 12 characters): ")
    if getpass.getpass("Password again: ") != first:
        raise OperatorError("the two passwords differ; nothing was changed")
    return first


def run_create(args) -> int:
    conn = db.connect(create=True)
    try:
        role = args.role or ("owner" if not accounts.list_accounts(conn) else "member")
        email = accounts.normalize_email(args.email)
        if accounts.find(conn, email):
            raise accounts.AccountError(f"an account {email!r} already exists")
        account = accounts.create(conn, email, read_password(args.password_stdin), role,
                                  cli_actor())
    finally:
        conn.close()
    print(f"created {account.role} {account.email}; log in at /dashboard/ "
          "and set up two-factor authentication")
    return 0


def run_list(args) -> int:
    conn = db.connect(create=True)
    try:
        rows = [(a.email, a.role, "disabled" if a.disabled else "active",
                 "on" if a.mfa_enabled else "off", a.created_at)
                for a in accounts.list_accounts(conn)]
        required = accounts.mfa_required(conn)
    finally:
        conn.close()
    header = ("EMAIL", "ROLE", "STATUS", "MFA", "CREATED")
    widths = [max(len(str(row[i])) for row in [header, *rows]) for i in range(len(header))]
    for row in [header, *rows]:
        print("  ".join(str(cell).ljust(width) for cell, width in zip(row, widths)).rstrip())
    print(f"MFA required for every account: {'yes' if required else 'no'}")
    return 0


def _change(args, change, done: str) -> int:
    conn = db.connect(create=True)
    try:
        account = change(conn, args.email)
    finally:
        conn.close()
    print(f"{account.email}: {done}")
    return 0


def run_disable(args) -> int:
    return _change(args, lambda conn, email: accounts.set_disabled(conn, email, True, cli_actor()),
                   "disabled; its sessions have ended")


def run_enable(args) -> int:
    return _change(args, lambda conn, email: accounts.set_disabled(conn, email, False, cli_actor()),
                   "enabled")


def run_reset_mfa(args) -> int:
    return _change(args, lambda conn, email: accounts.disable_mfa(conn, email, cli_actor(),
                                                                   action="mfa.reset",
                                                                   end_sessions=True),
                   "MFA is off and its recovery codes are void; it enrolls again at next login")


def run_require_mfa(args) -> int:
    conn = db.connect(create=True)
    try:
        accounts.set_mfa_required(conn, args.answer == "yes", cli_actor())
    finally:
        conn.close()
    print("MFA is now " + ("required for every account" if args.answer == "yes" else "optional"))
    return 0
