"""Page chrome and form pieces shared by every dashboard page.

One layout: a header with navigation (and a log-out button, which is a
POST form like every change of state), the page, and a footer with the IP
data attribution. Plain HTML; the look lives in ``static/dashboard.css``.
"""
import re

from visitorapi.dashboard.http import Response, html_response
from visitorapi.dashboard.markup import Html, escape, join, render

# Fixed notices shown after a redirect (?done=...): the text never comes from the request.
NOTICES = {
    "created": "Project created.",
    "domain-added": "Domain added.",
    "domain-removed": "Domain removed.",
    "domain-note": "Note saved.",
    "disabled": "Project disabled: the API now refuses it.",
    "enabled": "Project enabled.",
    "deleted": "Project deleted.",
    "reviewed": "Domains marked as reviewed.",
    "password": "Password changed. Every other session has been logged out.",
    "mfa-off": "Two-factor authentication is off.",
    "session-revoked": "Session logged out.",
    "reauthenticated": "Identity confirmed for the next few minutes.",
    "user-created": "Account created.",
    "user-updated": "Account updated.",
    "settings": "Settings saved.",
    "notice": "Security notice queued for every user.",
    "enroll": "Set up two-factor authentication to continue: an owner requires it.",
}

# A link in the attribution: a simple <a href="https://...">text</a> (the form DB-IP asks
# for), or a bare https URL. Anything else in the text is shown as text.
_LINK = re.compile(r"""<a\s+href=(["'])(https://[^"'<>\s]+)\1\s*>([^<>]*)</a>|(https://[^\s<>"']+)""")


def page(ctx, title: str, body: Html, status: int = 200, headers=()) -> Response:
    """A complete HTML page around ``body``."""
    notice = NOTICES.get(ctx.request.query("done"))
    return html_response(render(
        '<!doctype html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        '<title>{title} · visitorapi</title>'
        '<link rel="stylesheet" href="{prefix}/static/dashboard.css"></head>'
        '<body><header><a class="brand" href="{prefix}/">visitorapi</a>{nav}</header>'
        '<main><h1>{title}</h1>{notice}{body}</main>'
        '<footer>{attribution}</footer></body></html>\n',
        title=title, prefix=ctx.prefix, nav=_nav(ctx), body=body,
        notice=render('<p class="notice" role="status">{0}</p>', notice) if notice else Html(""),
        attribution=attribution_html(ctx.attribution())), status, headers)


def _nav(ctx) -> Html:
    if ctx.account is None or ctx.session is None or ctx.session.stage != "full":
        return Html("")
    links = [("/projects", "Projects"), ("/audit", "Audit log"),
             ("/notifications", "Notifications")]
    if ctx.account.is_owner:
        links.append(("/users", "Users"))
    links.append(("/security", "Security"))
    items = join(render('<a href="{href}">{label}</a>', href=ctx.prefix + path, label=label)
                 for path, label in links)
    return render('<nav>{items}<form method="post" action="{prefix}/logout" class="inline">'
                  '{csrf}<button type="submit" class="link">Log out {email}</button></form></nav>',
                  items=items, prefix=ctx.prefix, csrf=csrf_field(ctx), email=ctx.account.email)


def attribution_html(text: str) -> Html:
    """The database's attribution text, escaped, with its links rebuilt as links.

    The text comes from the database file's header, so it is not trusted
    markup: only a plain ``<a href="https://...">label</a>`` or a bare https
    URL becomes a link, rebuilt here with both parts escaped.
    """
    if not text:
        return Html("")
    parts, last = [], 0
    for match in _LINK.finditer(text):
        if match.group(4):
            url = _bare_url(match.group(4))
            end = match.start() + len(url)
        else:
            url, end = match.group(2), match.end()
        parts.append(escape(text[last:match.start()]))
        parts.append(render('<a href="{0}">{1}</a>', url, match.group(3) or url))
        last = end
    parts.append(escape(text[last:]))
    return join(parts)


def _bare_url(candidate: str) -> str:
    """A bare URL without the punctuation of the sentence around it.

    ``(https://db-ip.com), licensed`` links ``https://db-ip.com``: trailing
    ``.,;:!?`` and a closing parenthesis with no opening one in the URL belong
    to the text, as in GitHub's and most linkifiers' autolinks.
    """
    while candidate and (candidate[-1] in ".,;:!?" or
                         (candidate[-1] == ")" and candidate.count(")") > candidate.count("("))):
        candidate = candidate[:-1]
    return candidate


def csrf_field(ctx) -> Html:
    """The hidden synchronizer-token field every POST form carries."""
    return render('<input type="hidden" name="csrf" value="{0}">', ctx.session.csrf_token)


def error_text(message: str) -> Html:
    return render('<p class="error" role="alert">{0}</p>', message) if message else Html("")


def post_button(ctx, path: str, label: str, fields=(), css: str = "",
                controls: Html = Html("")) -> Html:
    """A one-button POST form (for actions such as disable, revoke, reviewed).

    Args:
        fields: ``(name, value)`` pairs sent as hidden inputs.
        controls: visible inputs placed before the button (markup built with
            :func:`render`), e.g. the text field of a domain's note.
    """
    hidden = join(render('<input type="hidden" name="{0}" value="{1}">', name, value)
                  for name, value in fields)
    return render('<form method="post" action="{action}" class="inline">{csrf}{hidden}{controls}'
                  '<button type="submit" class="{css}">{label}</button></form>',
                  action=ctx.prefix + path, csrf=csrf_field(ctx), hidden=hidden,
                  controls=controls, css=css, label=label)


def reauth_link(ctx, why: str) -> Html:
    """The way into a sensitive form: confirm identity, then come back here."""
    return render('<p><a class="button" href="{prefix}/reauth?next={next}">Confirm your identity'
                  '</a> {why}</p>', prefix=ctx.prefix, next=ctx.request.path, why=why)


def table(headers, rows, empty: str = "Nothing yet.") -> Html:
    """A simple table of pre-escaped cells (plain strings get escaped)."""
    if not rows:
        return render('<p class="muted">{0}</p>', empty)
    head = join(render("<th>{0}</th>", h) for h in headers)
    body = join(render("<tr>{0}</tr>", join(render("<td>{0}</td>", cell) for cell in row))
                for row in rows)
    return render('<div class="scroll"><table><thead><tr>{head}</tr></thead>'
                  '<tbody>{body}</tbody></table></div>', head=head, body=body)
