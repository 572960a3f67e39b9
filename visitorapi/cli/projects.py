"""``visitorapi projects ...``: create projects and manage their authorized domains.

Each domain may carry a note for the operator ("staging site, owner: Ana"),
set with ``domains add --note`` or ``domains note``.

Every change is recorded in the audit trail as ``cli:<os user>``; running
servers pick it up within a second, with no restart. The store is
``$VISITORAPI_STATE``.
"""
import contextlib
import json
import sys

from visitorapi.cli.output import print_table
from visitorapi.state import audit, db
from visitorapi.state import projects as store


def register(subparsers) -> None:
    """Add ``projects`` and its subcommands to the ``visitorapi`` parser."""
    parser = subparsers.add_parser(
        "projects", help="create projects and manage their authorized domains",
        description="Create projects and manage the domains allowed to call the API for them.")
    parser.set_defaults(run=_usage(parser))
    commands = parser.add_subparsers(dest="projects_command", metavar="SUBCOMMAND")

    create = commands.add_parser("create", help="create a project and print its pid",
                                 description="Create a project; prints its new pid on stdout.")
    create.add_argument("name", help="a label for the project, e.g. 'My shop'")
    create.add_argument("--domain", action="append", default=[], metavar="PATTERN",
                        help="an authorized domain pattern (repeatable): example.com, "
                             "https://example.com, example.com:8443, *.example.com, "
                             "http://localhost:8000")
    create.set_defaults(run=run_create)

    listing = commands.add_parser("list", help="list projects")
    listing.add_argument("--format", choices=("table", "json"), default="table")
    listing.set_defaults(run=run_list)

    show = commands.add_parser("show", help="show one project")
    show.add_argument("pid")
    show.add_argument("--format", choices=("text", "json"), default="text")
    show.set_defaults(run=run_show)

    domains = commands.add_parser("domains",
                                  help="add or remove an authorized domain pattern, or note it")
    domains.set_defaults(run=_usage(domains))
    domain_commands = domains.add_subparsers(dest="domains_command", metavar="SUBCOMMAND")
    domain_parsers = {}
    for name, run, text in (("add", run_domain_add, "authorize a domain pattern"),
                            ("remove", run_domain_remove, "stop authorizing a domain pattern"),
                            ("note", run_domain_note, "set or clear the note on a domain pattern")):
        sub = domain_commands.add_parser(name, help=text)
        sub.add_argument("pid")
        sub.add_argument("pattern")
        sub.set_defaults(run=run)
        domain_parsers[name] = sub
    domain_parsers["add"].add_argument(
        "--note", default="", metavar="TEXT",
        help=f"a note for operators, e.g. 'staging site, owner: Ana' (one line, at most "
             f"{store.MAX_NOTE_LENGTH} characters)")
    domain_parsers["note"].add_argument(
        "note", metavar="TEXT", help="the new note; '' clears it")

    for name, run, text in (("disable", run_disable, "refuse all requests for a project"),
                            ("enable", run_enable, "serve a disabled project again"),
                            ("review", run_review, "record that the domain list was reviewed today")):
        sub = commands.add_parser(name, help=text)
        sub.add_argument("pid")
        sub.set_defaults(run=run)

    delete = commands.add_parser("delete", help="delete a project (asks for confirmation)")
    delete.add_argument("pid")
    delete.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    delete.set_defaults(run=run_delete)


def _usage(parser):
    def run(args) -> int:
        parser.print_help(sys.stderr)
        return 2
    return run


def run_create(args) -> int:
    with _store() as conn:
        project = store.create(conn, args.name, args.domain, actor=audit.cli_actor())
    print(project.pid)
    if not project.domains:
        _warn(f"project {project.pid} has no authorized domains yet: every request gets 403 "
              f"until you run 'visitorapi projects domains add {project.pid} example.com'")
    return 0


def run_list(args) -> int:
    with _store() as conn:
        found = store.list_projects(conn)
    if args.format == "json":
        print(json.dumps([p.as_dict() | {"review_due": p.review_due()} for p in found], indent=2))
        return 0
    if not found:
        print("no projects yet; create one with: visitorapi projects create NAME --domain example.com")
        return 0
    rows = [("PID", "NAME", "STATUS", "REVIEWED", "DOMAINS")]
    for p in found:
        reviewed = p.domains_reviewed_at[:10] + (" (due)" if p.review_due() else "")
        rows.append((p.pid, p.name, "enabled" if p.enabled else "disabled", reviewed,
                     ", ".join(p.domains) or "-"))
    print_table(rows)
    return 0


def run_show(args) -> int:
    with _store() as conn:
        project = store.require(conn, args.pid)
    if args.format == "json":
        print(json.dumps(project.as_dict() | {"review_due": project.review_due()}, indent=2))
        return 0
    due = "  (review due: over 90 days ago)" if project.review_due() else ""
    print(f"pid:       {project.pid}\n"
          f"name:      {project.name}\n"
          f"status:    {'enabled' if project.enabled else 'disabled'}\n"
          f"created:   {project.created_at}\n"
          f"reviewed:  {project.domains_reviewed_at}{due}\n"
          f"domains:   {len(project.domains)}")
    width = max(map(len, project.domains), default=0)
    for pattern in project.domains:
        print(f"  {pattern.ljust(width)}  {project.note(pattern)}".rstrip())
    return 0


def run_domain_add(args) -> int:
    with _store() as conn:
        project = store.add_domain(conn, args.pid, args.pattern, note=args.note,
                                   actor=audit.cli_actor())
    print(f"project {project.pid} now authorizes: {', '.join(project.domains)}")
    return 0


def run_domain_note(args) -> int:
    with _store() as conn:
        project = store.set_domain_note(conn, args.pid, args.pattern, args.note,
                                        actor=audit.cli_actor())
    pattern = store.authorized_pattern(project, args.pattern)
    note = project.note(pattern)
    print(f"project {project.pid}: note on {pattern}: {note}" if note
          else f"project {project.pid}: {pattern} has no note")
    return 0


def run_domain_remove(args) -> int:
    with _store() as conn:
        project = store.remove_domain(conn, args.pid, args.pattern, actor=audit.cli_actor())
    if project.domains:
        print(f"project {project.pid} now authorizes: {', '.join(project.domains)}")
    else:
        print(f"project {project.pid} now authorizes no domain")
        _warn("every request for it gets 403 until a domain is added")
    return 0


def run_disable(args) -> int:
    return _set_enabled(args.pid, False)


def run_enable(args) -> int:
    return _set_enabled(args.pid, True)


def _set_enabled(pid, enabled) -> int:
    with _store() as conn:
        project = store.set_enabled(conn, pid, enabled, actor=audit.cli_actor())
    print(f"project {project.pid} is {'enabled' if project.enabled else 'disabled'}")
    return 0


def run_review(args) -> int:
    with _store() as conn:
        project = store.mark_reviewed(conn, args.pid, actor=audit.cli_actor())
    print(f"project {project.pid}: domains reviewed at {project.domains_reviewed_at} "
          f"({', '.join(project.domains) or 'none'})")
    return 0


def run_delete(args) -> int:
    with _store() as conn:
        project = store.require(conn, args.pid)
        if not args.yes and not _confirm(
                f"Delete project {project.pid} ({project.name}) and its {len(project.domains)} "
                "domain(s)? Websites using this pid will get 403. [y/N] "):
            _warn("not deleted (answer 'y', or pass --yes)")
            return 1
        store.delete(conn, project.pid, actor=audit.cli_actor())
    print(f"project {project.pid} deleted")
    return 0


def _confirm(question: str) -> bool:
    print(question, end="", file=sys.stderr, flush=True)
    answer = sys.stdin.readline()
    return answer.strip().lower() in ("y", "yes")


def _warn(message: str) -> None:
    print(f"visitorapi: warning: {message}", file=sys.stderr)


def _store():
    """The store at $VISITORAPI_STATE, closed when the ``with`` block ends."""
    return contextlib.closing(db.connect(create=True))
