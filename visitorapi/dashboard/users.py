"""Owners manage users: create, disable or enable, change role, grant projects, reset MFA,
and require MFA for every account.

Every change needs a recent re-authentication (password plus TOTP); the
page itself shows the forms only then. Changes go to the audit trail
through :mod:`visitorapi.state.accounts`.
"""
from visitorapi import passwords
from visitorapi.dashboard.http import redirect
from visitorapi.dashboard.layout import csrf_field, error_text, page, post_button, reauth_link, table
from visitorapi.dashboard.markup import Html, join, render
from visitorapi.dashboard.projects import project_names
from visitorapi.state import accounts
from visitorapi.http.errors import HTTPError

BACK = "/users"


def show(ctx, error: str = "", status: int = 200):
    reauthed = ctx.session.recently_reauthenticated(ctx.now)
    names = project_names(ctx.conn)
    rows = []
    for account in accounts.list_accounts(ctx.conn):
        granted = sorted(accounts.granted_pids(ctx.conn, account) & set(names))
        access = "every project" if account.is_owner else join(
            (render('<span class="tag">{0}</span>', names[pid]) for pid in granted), " ") or "none"
        state = "disabled" if account.disabled else "active"
        mfa = "on" if account.mfa_enabled else "off"
        actions = _actions(ctx, account, names, granted) if reauthed else Html("")
        rows.append((account.email, account.role, state, mfa, access, actions))
    body = error_text(error) + table(("Email", "Role", "Status", "MFA", "Projects", ""), rows)
    if reauthed:
        body += _create_form(ctx) + _require_mfa_form(ctx)
    else:
        body += reauth_link(ctx, "to add users or change them.")
        body += render("<p>Two-factor authentication required for every account: <strong>{0}"
                       "</strong></p>", "yes" if accounts.mfa_required(ctx.conn) else "no")
    return page(ctx, "Users", body, status)


def _actions(ctx, account, names, granted) -> Html:
    if account.id == ctx.account.id:
        return Html('<span class="muted">you</span>')
    fields = [("email", account.email)]
    parts = [post_button(ctx, "/users/update", "Enable" if account.disabled else "Disable",
                         fields + [("change", "enable" if account.disabled else "disable")]),
             post_button(ctx, "/users/update", "Make member" if account.is_owner else "Make owner",
                         fields + [("change", "member" if account.is_owner else "owner")])]
    if account.mfa_enabled:
        parts.append(post_button(ctx, "/users/update", "Reset MFA", fields + [("change", "reset-mfa")]))
    if not account.is_owner and names:
        options = join(render('<option value="{0}">{1}</option>', pid, name)
                       for pid, name in sorted(names.items(), key=lambda item: item[1]))
        parts.append(render(
            '<form method="post" action="{prefix}/users/grant" class="inline">{csrf}'
            '<input type="hidden" name="email" value="{email}">'
            '<select name="pid" aria-label="Project">{options}</select>'
            '<button type="submit" name="grant" value="1">Grant</button>'
            '<button type="submit" name="grant" value="0">Revoke</button></form>',
            prefix=ctx.prefix, csrf=csrf_field(ctx), email=account.email, options=options))
    return join(parts, " ")


def _create_form(ctx) -> Html:
    return render(
        '<section><h2>Add a user</h2><form method="post" action="{prefix}/users/create" '
        'class="stack">{csrf}<label>Email <input type="email" name="email" required></label>'
        '<label>Role <select name="role"><option value="member">member (granted projects '
        'only)</option><option value="owner">owner (everything)</option></select></label>'
        '<label>First password (at least 12 characters; tell it to them privately) '
        '<input type="password" name="password" autocomplete="new-password" minlength="12" '
        'required></label><button type="submit">Add user</button></form></section>',
        prefix=ctx.prefix, csrf=csrf_field(ctx))


def _require_mfa_form(ctx) -> Html:
    required = accounts.mfa_required(ctx.conn)
    return render(
        '<section><h2>Two-factor authentication for everyone</h2><p>{state}</p>{button}</section>',
        state="Required: accounts without it must set it up at their next page view."
        if required else "Not required.",
        button=post_button(ctx, "/users/require-mfa",
                           "Stop requiring it" if required else "Require it for every account",
                           [("required", "0" if required else "1")]))


def create(ctx):
    ctx.require_reauth(BACK)
    try:
        accounts.create(ctx.conn, ctx.request.field("email", max_length=320),
                        ctx.request.field("password", max_length=passwords.MAX_LENGTH + 1),
                        ctx.request.field("role", max_length=10), ctx.actor())
    except (accounts.AccountError, passwords.PasswordRejected) as error:
        return show(ctx, str(error).capitalize() + ".", 400)
    return redirect(f"{ctx.prefix}/users?done=user-created")


def update(ctx):
    ctx.require_reauth(BACK)
    email = ctx.request.field("email", max_length=320)
    change = ctx.request.field("change", max_length=20)
    if accounts.find(ctx.conn, email) == ctx.account:
        raise HTTPError(400, "Change your own account on the Security page.")
    actor = ctx.actor()
    try:
        if change in ("disable", "enable"):
            accounts.set_disabled(ctx.conn, email, change == "disable", actor)
        elif change in accounts.ROLES:
            accounts.set_role(ctx.conn, email, change, actor)
        elif change == "reset-mfa":
            accounts.disable_mfa(ctx.conn, email, actor, action="mfa.reset",
                                 end_sessions=True)
        else:
            raise HTTPError(400, f"unknown change {change!r}")
    except accounts.AccountError as error:
        return show(ctx, str(error).capitalize() + ".", 400)
    return redirect(f"{ctx.prefix}/users?done=user-updated")


def grant(ctx):
    ctx.require_reauth(BACK)
    pid = ctx.request.field("pid", max_length=64)
    if pid not in project_names(ctx.conn):
        raise HTTPError(404, "There is no such project.")
    try:
        accounts.set_grant(ctx.conn, ctx.request.field("email", max_length=320), pid,
                           ctx.request.field("grant", max_length=1) == "1", ctx.actor())
    except accounts.AccountError as error:
        return show(ctx, str(error).capitalize() + ".", 400)
    return redirect(f"{ctx.prefix}/users?done=user-updated")


def require_mfa(ctx):
    ctx.require_reauth(BACK)
    accounts.set_mfa_required(ctx.conn, ctx.request.field("required", max_length=1) == "1",
                              ctx.actor())
    return redirect(f"{ctx.prefix}/users?done=settings")
