"""Project pages: the list with today's counts, one project's settings, usage and denials.

All changes go through :mod:`visitorapi.state.projects` (the same
validation and audit trail as the CLI). Every domain shows its operator
note in an edit field beside it; notes, like names, are text and reach the
page only escaped (:mod:`visitorapi.dashboard.markup`). Owners see every project; members
see the projects granted to them, and a project a member creates is granted
to them. Deleting a project needs a recent re-authentication.
"""
import datetime

from visitorapi.dashboard.chart import usage_chart
from visitorapi.dashboard.http import redirect
from visitorapi.dashboard.layout import (csrf_field, error_text, page, post_button, reauth_link,
                                         table)
from visitorapi.dashboard.markup import Html, join, render
from visitorapi.domains import PatternError
from visitorapi.errors import OperatorError
from visitorapi.state import accounts, projects, usage
from visitorapi.http.errors import HTTPError
from visitorapi.web.pages import snippet

USAGE_DAYS = 30
TOP_DENIED = 20
# Form fields may be longer than the store accepts, so the store's precise
# message ("... is 250 characters long; the limit is 200") reaches the operator.
NOTE_FIELD_LENGTH = 2 * projects.MAX_NOTE_LENGTH


def project_names(conn) -> dict:
    """``{pid: name}`` for every project."""
    return {project.pid: project.name for project in projects.list_projects(conn)}


def visible_projects(ctx) -> list:
    """The projects this account may see, oldest first."""
    everything = projects.list_projects(ctx.conn)
    if ctx.account.is_owner:
        return everything
    granted = accounts.granted_pids(ctx.conn, ctx.account)
    return [project for project in everything if project.pid in granted]


def _project_or_404(ctx, pid: str):
    project = projects.get(ctx.conn, pid)
    if project is None or not accounts.can_see(ctx.conn, ctx.account, pid):
        raise HTTPError(404, "There is no such project, or it is not shared with you.")
    return project


def show_list(ctx, error: str = "", name: str = "", domains: str = "", status: int = 200):
    today = usage.totals_by_project(ctx.conn, days=1, now=ctx.now)
    rows = []
    for project in visible_projects(ctx):
        counts = today.get(project.pid)
        rows.append((
            render('<a href="{0}/projects/{1}">{2}</a>', ctx.prefix, project.pid, project.name),
            render("<code>{0}</code>", project.pid),
            "enabled" if project.enabled else "disabled",
            len(project.domains),
            counts.served if counts else 0,
            counts.denied if counts else 0))
    body = table(("Project", "pid", "Status", "Domains", "Requests today", "Denied today"), rows,
                 empty="No projects yet: create one below.")
    body += render(
        '<section><h2>New project</h2>{error}<form method="post" action="{prefix}/projects" '
        'class="stack">{csrf}<label>Name <input name="name" value="{name}" maxlength="200" '
        'required></label><label>Authorized domains, one per line (e.g. example.com, '
        'https://shop.example.com, *.example.com, localhost:8000)'
        '<textarea name="domains" rows="3">{domains}</textarea></label>'
        '<button type="submit">Create project</button></form></section>',
        error=error_text(error), prefix=ctx.prefix, csrf=csrf_field(ctx), name=name,
        domains=domains)
    return page(ctx, "Projects", body, status)


def create(ctx):
    name = ctx.request.field("name", max_length=400)
    domains = ctx.request.field("domains", required=False, max_length=20000)
    patterns = [line.strip() for line in domains.splitlines() if line.strip()]
    try:
        project = projects.create(ctx.conn, name, patterns, actor=ctx.actor())
    except (PatternError, OperatorError) as error:
        return show_list(ctx, _sentence(error), name, domains, 400)
    if not ctx.account.is_owner:
        accounts.set_grant(ctx.conn, ctx.account.email, project.pid, True, ctx.actor())
    return redirect(f"{ctx.prefix}/projects/{project.pid}?done=created")


def _sentence(error: Exception) -> str:
    text = str(error)
    return text[:1].upper() + text[1:] + ("" if text.endswith(".") else ".")


def show(ctx, pid: str, error: str = "", pattern: str = "", status: int = 200,
         note: str = "", note_on: str = ""):
    """One project's page; after a refused domain form, with the error and what was posted.

    Args:
        pattern, note: what the add-a-domain form posted (shown again).
        note_on: when the note form of this domain was posted instead,
            ``note`` is shown in that domain's row.
    """
    project = _project_or_404(ctx, pid)
    base = ctx.request.origin
    code = ("<script>\n" + snippet(base) + "\n\nVisitorAPI(\n  \"" + project.pid + "\",\n"
            "  function (data) { console.log(data.countryCode, data.city); },\n"
            "  function (status, result) { console.warn(status, result); }\n);\n</script>")
    sections = [render('<p>pid <code id="pid">{pid}</code> · {state} · created {created}</p>',
                       pid=project.pid, state="enabled" if project.enabled else "disabled",
                       created=_date(project.created_at))]
    if project.review_due(_utc(ctx.now)):
        sections.append(render(
            '<div class="reminder" role="status"><p>The authorized domains were last reviewed on '
            '{reviewed}, more than 90 days ago. Check that each one is still yours and still '
            'needed.</p>{button}</div>',
            reviewed=_date(project.domains_reviewed_at),
            button=post_button(ctx, f"/projects/{project.pid}/reviewed", "Reviewed")))
    sections.append(_domains_section(ctx, project, error, pattern, note, note_on))
    sections.append(render('<section><h2>Usage, last {days} days</h2>{chart}</section>',
                           days=USAGE_DAYS, chart=usage_chart(
                               usage.daily(ctx.conn, project.pid, USAGE_DAYS, now=ctx.now))))
    sections.append(_denied_section(ctx, project))
    sections.append(render('<section><h2>Snippet for your site</h2><p>Paste this into a page '
                           'served from an authorized domain:</p><pre id="snippet"><code>{0}'
                           '</code></pre></section>', code))
    sections.append(_manage_section(ctx, project))
    return page(ctx, project.name, join(sections), status)


def _domains_section(ctx, project, error: str, pattern: str, note: str, note_on: str) -> Html:
    rows = [(render("<code>{0}</code>", domain),
             _note_form(ctx, project, domain, note if domain == note_on else project.note(domain)),
             post_button(ctx, f"/projects/{project.pid}/domains/remove", "Remove",
                         fields=[("pattern", domain)]))
            for domain in project.domains]
    return render(
        '<section><h2>Authorized domains</h2>{table}{error}'
        '<form method="post" action="{prefix}/projects/{pid}/domains/add" class="row">{csrf}'
        '<label>Add a domain <input name="pattern" value="{pattern}" '
        'placeholder="example.com" required></label>'
        '<label>Note (optional) <input name="note" value="{note}" maxlength="{limit}" '
        'placeholder="staging site, owner: Ana"></label><button type="submit">Add</button></form>'
        '</section>',
        table=table(("Pattern", "Note", ""), rows, empty="No domains: the API refuses every site."),
        error=error_text(error), prefix=ctx.prefix, pid=project.pid, csrf=csrf_field(ctx),
        pattern=pattern, note="" if note_on else note, limit=projects.MAX_NOTE_LENGTH)


def _note_form(ctx, project, domain: str, note: str) -> Html:
    """The note beside a domain, in a field that saves it (empty clears it)."""
    field = render('<input name="note" value="{note}" maxlength="{limit}" '
                   'aria-label="Note on {domain}" placeholder="add a note">',
                   note=note, limit=projects.MAX_NOTE_LENGTH, domain=domain)
    return render('<div class="note">{0}</div>', post_button(
        ctx, f"/projects/{project.pid}/domains/note", "Save", fields=[("pattern", domain)],
        controls=field))


def _denied_section(ctx, project) -> Html:
    denied = usage.top_denied_origins(ctx.conn, project.pid, limit=TOP_DENIED)
    rows = [(render("<code>{0}</code>", origin.origin), origin.requests,
             origin.first_seen.replace("T", " ").replace("Z", " UTC"),
             origin.last_seen.replace("T", " ").replace("Z", " UTC")) for origin in denied]
    return render('<section><h2>Unauthorized access patterns</h2><p class="muted">Websites that '
                  'called the API with this pid and were refused.</p>{0}</section>',
                  table(("Origin", "Requests", "First seen", "Last seen"), rows,
                        empty="None: no other site has used this pid."))


def _manage_section(ctx, project) -> Html:
    toggle = post_button(ctx, f"/projects/{project.pid}/{'disable' if project.enabled else 'enable'}",
                         "Disable" if project.enabled else "Enable")
    if ctx.session.recently_reauthenticated(ctx.now):
        delete = post_button(ctx, f"/projects/{project.pid}/delete", "Delete this project",
                             css="danger")
    else:
        delete = reauth_link(ctx, "to delete this project.")
    return render('<section><h2>Manage</h2><p>{toggle}</p>{delete}</section>', toggle=toggle,
                  delete=delete)


def add_domain(ctx, pid: str):
    project = _project_or_404(ctx, pid)
    pattern = ctx.request.field("pattern", max_length=300)
    note = ctx.request.field("note", required=False, max_length=NOTE_FIELD_LENGTH)
    try:
        projects.add_domain(ctx.conn, project.pid, pattern.strip(), note=note, actor=ctx.actor())
    except (PatternError, OperatorError) as error:
        return show(ctx, pid, _sentence(error), pattern, 400, note=note)
    return redirect(f"{ctx.prefix}/projects/{pid}?done=domain-added")


def set_domain_note(ctx, pid: str):
    project = _project_or_404(ctx, pid)
    pattern = ctx.request.field("pattern", max_length=300)
    note = ctx.request.field("note", max_length=NOTE_FIELD_LENGTH)
    try:
        projects.set_domain_note(ctx.conn, project.pid, pattern, note, actor=ctx.actor())
    except OperatorError as error:
        return show(ctx, pid, _sentence(error), status=400, note=note, note_on=pattern)
    return redirect(f"{ctx.prefix}/projects/{pid}?done=domain-note")


def remove_domain(ctx, pid: str):
    project = _project_or_404(ctx, pid)
    try:
        projects.remove_domain(ctx.conn, project.pid, ctx.request.field("pattern", max_length=300),
                               actor=ctx.actor())
    except (PatternError, OperatorError) as error:
        return show(ctx, pid, _sentence(error), "", 400)
    return redirect(f"{ctx.prefix}/projects/{pid}?done=domain-removed")


def set_enabled(ctx, pid: str, enabled: bool):
    project = _project_or_404(ctx, pid)
    projects.set_enabled(ctx.conn, project.pid, enabled, actor=ctx.actor())
    return redirect(f"{ctx.prefix}/projects/{pid}?done={'enabled' if enabled else 'disabled'}")


def disable(ctx, pid: str):
    return set_enabled(ctx, pid, False)


def enable(ctx, pid: str):
    return set_enabled(ctx, pid, True)


def delete(ctx, pid: str):
    project = _project_or_404(ctx, pid)
    ctx.require_reauth(f"/projects/{project.pid}")
    projects.delete(ctx.conn, project.pid, actor=ctx.actor())
    return redirect(f"{ctx.prefix}/projects?done=deleted")


def reviewed(ctx, pid: str):
    project = _project_or_404(ctx, pid)
    projects.mark_reviewed(ctx.conn, project.pid, actor=ctx.actor())
    return redirect(f"{ctx.prefix}/projects/{pid}?done=reviewed")


def _utc(unix_time: float) -> datetime.datetime:
    return datetime.datetime.fromtimestamp(unix_time, datetime.timezone.utc)


def _date(text: str) -> str:
    return text[:10]
