"""Account security: password, two-factor authentication, recovery codes, active sessions.

Changing the password, turning MFA off and making new recovery codes need
a recent re-authentication (:meth:`Context.require_reauth`). Turning MFA on
or off is a change of privilege, so the session id rotates; a new password
logs the account out everywhere and starts a fresh session here.
"""
import datetime

from visitorapi import passwords
from visitorapi.dashboard.http import redirect
from visitorapi.dashboard.layout import (csrf_field, error_text, page, post_button, reauth_link,
                                         table)
from visitorapi.dashboard.markup import Html, join, render
from visitorapi.dashboard.qr import qr_svg
from visitorapi.state import accounts, sessions
from visitorapi.http.errors import HTTPError


def when(unix_time: float) -> str:
    """A Unix time as ``YYYY-MM-DD HH:MM UTC``."""
    return datetime.datetime.fromtimestamp(unix_time, datetime.timezone.utc).strftime(
        "%Y-%m-%d %H:%M UTC")


def show(ctx, password_error: str = "", status: int = 200):
    reauthed = ctx.session.recently_reauthenticated(ctx.now)
    if reauthed:
        password_part = render(
            '{error}<form method="post" action="{prefix}/security/password" class="stack">{csrf}'
            '<label>New password (at least 12 characters) <input type="password" name="new" '
            'autocomplete="new-password" minlength="12" required></label>'
            '<label>New password again <input type="password" name="again" '
            'autocomplete="new-password" required></label>'
            '<button type="submit">Change password</button></form>',
            error=error_text(password_error), prefix=ctx.prefix, csrf=csrf_field(ctx))
    else:
        password_part = reauth_link(ctx, "to change your password.")
    return page(ctx, "Security", render(
        '<section><h2>Password</h2>{password}</section>'
        '<section><h2>Two-factor authentication</h2>{mfa}</section>'
        '<section><h2>Active sessions</h2>{sessions}</section>',
        password=password_part, mfa=_mfa_part(ctx, reauthed), sessions=_sessions_part(ctx)),
        status)


def _mfa_part(ctx, reauthed: bool) -> Html:
    if not ctx.account.mfa_enabled:
        return render('<p>Off. <a class="button" href="{0}/security/mfa">Set up two-factor '
                      'authentication</a></p>', ctx.prefix)
    left = accounts.recovery_codes_left(ctx.conn, ctx.account)
    status = render("<p>On. {0} unused recovery codes left.</p>", left)
    if not reauthed:
        return status + reauth_link(ctx, "to make new recovery codes or turn two-factor "
                                         "authentication off.")
    actions = post_button(ctx, "/security/recovery-codes", "Make new recovery codes")
    if not accounts.mfa_required(ctx.conn):
        actions += post_button(ctx, "/security/mfa/disable", "Turn two-factor authentication off",
                               css="danger")
    else:
        actions += Html('<p class="muted">An owner requires two-factor authentication, so it '
                        'cannot be turned off.</p>')
    return status + actions


def _sessions_part(ctx) -> Html:
    rows = []
    for session in sessions.for_account(ctx.conn, ctx.account.id, ctx.now):
        if session.id_hash == ctx.session.id_hash:
            action = Html("<strong>this session</strong>")
        else:
            action = post_button(ctx, "/security/sessions/revoke", "Log out",
                                 fields=[("session", session.id_hash)])
        rows.append((session.label, when(session.created_at), when(session.last_seen_at), action))
    return table(("Device", "Logged in", "Last active", ""), rows)


def change_password(ctx):
    ctx.require_reauth("/security")
    new = ctx.request.field("new", max_length=passwords.MAX_LENGTH + 1)
    if new != ctx.request.field("again", max_length=passwords.MAX_LENGTH + 1):
        return show(ctx, "The two new passwords differ.", 400)
    try:
        account = accounts.change_password(ctx.conn, ctx.account, new, ctx.actor())
    except passwords.PasswordRejected as error:
        return show(ctx, str(error).capitalize() + ".", 400)
    ctx.session = None  # change_password ended every session, this one included
    ctx.start_session(account, "full", reauthenticated=True)
    return redirect(f"{ctx.prefix}/security?done=password")


def show_enroll(ctx, error: str = "", status: int = 200):
    if ctx.account.mfa_enabled:
        return redirect(f"{ctx.prefix}/security")
    secret = accounts.begin_enrollment(ctx.conn, ctx.account)
    uri = accounts.provisioning_uri(ctx.account, secret)
    grouped = " ".join(secret[i:i + 4] for i in range(0, len(secret), 4))
    return page(ctx, "Set up two-factor authentication", render(
        '<ol class="steps"><li>Scan this code with an authenticator app (or enter the key by hand):'
        '<div class="qr">{qr}</div>'
        '<p>Key: <code id="totp-secret">{grouped}</code></p>'
        '<details><summary>otpauth URI</summary><p><code class="wrap" id="totp-uri">{uri}</code>'
        '</p></details></li>'
        '<li>Enter the 6-digit code the app shows, to confirm it works:{error}'
        '<form method="post" action="{prefix}/security/mfa" class="stack">{csrf}'
        '<label>Code <input name="code" inputmode="numeric" autocomplete="one-time-code" '
        'pattern="[0-9 ]{{6,7}}" required autofocus></label>'
        '<button type="submit">Turn on</button></form></li></ol>',
        qr=qr_svg(uri, label="QR code for your authenticator app"), grouped=grouped, uri=uri,
        error=error_text(error), prefix=ctx.prefix, csrf=csrf_field(ctx)), status)


def confirm_enroll(ctx):
    if ctx.account.mfa_enabled:
        return redirect(f"{ctx.prefix}/security")
    codes = accounts.confirm_enrollment(ctx.conn, ctx.account,
                                        ctx.request.field("code", max_length=20), ctx.now,
                                        ctx.actor())
    if codes is None:
        return show_enroll(ctx, "That code does not match. Check the app's clock and try the "
                                "current code.", 400)
    ctx.rotate_session(reauth_at=ctx.now)  # a change of privilege: new session id
    ctx.account = accounts.get(ctx.conn, ctx.account.id)
    return _recovery_page(ctx, "Two-factor authentication is on", codes)


def _recovery_page(ctx, title: str, codes) -> object:
    return page(ctx, title, render(
        '<p>Save these recovery codes somewhere safe. Each works once, in place of a code from '
        'your app, if you lose it. They are shown only now.</p>'
        '<ul class="codes" id="recovery-codes">{codes}</ul>'
        '<p><a class="button" href="{prefix}/projects">Continue</a></p>',
        codes=join(render("<li><code>{0}</code></li>", code) for code in codes),
        prefix=ctx.prefix))


def new_recovery_codes(ctx):
    ctx.require_reauth("/security")
    if not ctx.account.mfa_enabled:
        raise HTTPError(400, "Two-factor authentication is off, so there are no recovery codes.")
    codes = accounts.regenerate_recovery_codes(ctx.conn, ctx.account, ctx.actor())
    return _recovery_page(ctx, "New recovery codes", codes)


def disable_mfa(ctx):
    ctx.require_reauth("/security")
    if accounts.mfa_required(ctx.conn):
        raise HTTPError(403, "An owner requires two-factor authentication for every account.")
    accounts.disable_mfa(ctx.conn, ctx.account.email, ctx.actor())
    ctx.rotate_session()  # a change of privilege: new session id
    return redirect(f"{ctx.prefix}/security?done=mfa-off")


def revoke_session(ctx):
    target = ctx.request.field("session", max_length=64)
    if target == ctx.session.id_hash:
        raise HTTPError(400, "To end this session, log out.")
    if not sessions.delete(ctx.conn, target, account_id=ctx.account.id):
        raise HTTPError(404, "That session has already ended.")
    return redirect(f"{ctx.prefix}/security?done=session-revoked")
