"""The audit log page: the newest settings changes first.

Owners see the whole trail; members see the entries of the projects
granted to them. Values are shown as compact JSON, escaped like any text.
"""
import json

from visitorapi.dashboard.layout import page, table
from visitorapi.dashboard.markup import render
from visitorapi.state import accounts, audit

LIMIT = 500


def _value(value) -> str:
    return "" if value is None else json.dumps(value, sort_keys=True, ensure_ascii=False)


def show(ctx):
    entries = audit.entries(ctx.conn, limit=LIMIT)
    if not ctx.account.is_owner:
        granted = accounts.granted_pids(ctx.conn, ctx.account)
        entries = [entry for entry in entries if entry.pid in granted]
    rows = [(entry.at.replace("T", " ").replace("Z", ""), entry.actor, entry.action,
             render('<a href="{0}/projects/{1}">{1}</a>', ctx.prefix, entry.pid) if entry.pid else "",
             _value(entry.before), _value(entry.after))
            for entry in reversed(entries)]
    intro = render('<p class="muted">Every settings change, newest first (at most {0}). Entries '
                   'are never edited or deleted. Times are UTC.</p>', LIMIT)
    return page(ctx, "Audit log", intro + table(
        ("Time", "Actor", "Action", "Project", "Before", "After"), rows))
