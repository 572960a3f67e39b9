"""Logging in (password, then TOTP or a recovery code), logging out, and re-authentication.

Every failure answers with the same words whether or not the account
exists, is disabled, or has MFA, and counts against both the typed account
name and the client (:mod:`visitorapi.state.throttle`). Every attempt is
reserved (checked and counted in one transaction) before any password is
hashed, so concurrent guesses get no more tries than sequential ones; a
right answer gives its reservation back. Each successful step starts a
session with a new id (no fixation), and re-authentication rotates it too.
A completed sign-in from a browser new for the account is queued as a
security notification (:func:`visitorapi.notify.events.record_sign_in`).
"""
import math

from visitorapi.dashboard.http import redirect, safe_next
from visitorapi.dashboard.layout import csrf_field, error_text, page
from visitorapi.dashboard.markup import Html, render
from visitorapi.notify.events import record_sign_in
from visitorapi.state import accounts, sessions, throttle
from visitorapi.http.errors import HTTPError

WRONG_LOGIN = "The email or password is incorrect."
WRONG_CODE = "That code is not valid. Codes from your app work once; wait for the next one."


def _reserve(ctx, keys) -> None:
    """Reserve one attempt under ``keys``, or raise a 429 (with Retry-After) while they must wait."""
    wait = throttle.reserve(ctx.conn, keys, ctx.now)
    if wait > 0:
        seconds = max(1, math.ceil(wait))
        raise HTTPError(429, f"Too many failed attempts. Wait {seconds} seconds and try again.",
                        headers=[("Retry-After", str(seconds))])


def _client_key(ctx) -> str:
    return throttle.client_key(ctx.conn, ctx.client_ip(), ctx.now)


def _login_form(ctx, error: str = "", email: str = "", status: int = 200, headers=()):
    body = render(
        '{error}<form method="post" action="{prefix}/login" class="stack">{csrf}'
        '<label>Email <input type="email" name="email" value="{email}" autocomplete="username" '
        'required autofocus></label>'
        '<label>Password <input type="password" name="password" autocomplete="current-password" '
        'required></label><button type="submit">Log in</button></form>',
        error=error_text(error), prefix=ctx.prefix, csrf=csrf_field(ctx), email=email)
    return page(ctx, "Log in", body, status, headers)


def show_login(ctx):
    return _login_form(ctx)


def submit_login(ctx):
    email = ctx.request.field("email", max_length=320).strip()
    password = ctx.request.field("password", max_length=1024)
    _prune(ctx)
    keys = (throttle.account_key(email), _client_key(ctx))
    try:
        _reserve(ctx, keys)
    except HTTPError as error:
        return _login_form(ctx, error.message, email, error.status, error.headers)
    account = accounts.check_password(ctx.conn, email, password)
    if account is None:
        return _login_form(ctx, WRONG_LOGIN, email, 200)
    if account.mfa_enabled:
        throttle.refund(ctx.conn, keys)  # the account's counter clears only after the code
        ctx.start_session(account, "mfa", reauthenticated=False)
        return redirect(f"{ctx.prefix}/login/code")
    _succeeded(ctx, keys)
    ctx.start_session(account, "full", reauthenticated=True)
    record_sign_in(ctx.conn, account, ctx.device_label(), ctx.now)
    return redirect(f"{ctx.prefix}/projects")


def _succeeded(ctx, keys) -> None:
    """A complete login: clear the account's counter, give the client its attempt back."""
    throttle.refund(ctx.conn, keys[1:])
    throttle.record_success(ctx.conn, keys[0])


def _prune(ctx) -> None:
    """Housekeeping at each login attempt: drop expired sessions and quiet throttle keys."""
    sessions.prune(ctx.conn, ctx.now)
    throttle.prune(ctx.conn, ctx.now)


def _code_form(ctx, action: str, title: str, intro: Html, error: str = "", status: int = 200,
               password: bool = False, next_path: str = "", headers=()):
    password_field = Html('<label>Password <input type="password" name="password" '
                          'autocomplete="current-password" required autofocus></label>')
    code_field = render('<label>Code from your authenticator app, or a recovery code '
                        '<input name="code" inputmode="numeric" autocomplete="one-time-code" '
                        'required {autofocus}></label>', autofocus=Html("" if password else
                                                                       "autofocus"))
    needs_code = ctx.account.mfa_enabled
    body = render('{intro}{error}<form method="post" action="{action}" class="stack">{csrf}'
                  '{next}{password}{code}<button type="submit">Continue</button></form>',
                  intro=intro, error=error_text(error), action=ctx.prefix + action,
                  csrf=csrf_field(ctx),
                  next=render('<input type="hidden" name="next" value="{0}">', next_path)
                  if next_path else Html(""),
                  password=password_field if password else Html(""),
                  code=code_field if needs_code else Html(""))
    return page(ctx, title, body, status, headers)


def show_code(ctx):
    return _code_form(ctx, "/login/code", "Two-factor authentication",
                      Html("<p>Enter the 6-digit code your authenticator app shows now.</p>"))


def submit_code(ctx):
    keys = (throttle.account_key(ctx.account.email), _client_key(ctx))
    intro = Html("<p>Enter the 6-digit code your authenticator app shows now.</p>")
    code = ctx.request.field("code", max_length=40)
    try:
        _reserve(ctx, keys)
    except HTTPError as error:
        return _code_form(ctx, "/login/code", "Two-factor authentication", intro, error.message,
                          error.status, headers=error.headers)
    if not accounts.verify_second_factor(ctx.conn, ctx.account, code, ctx.now):
        return _code_form(ctx, "/login/code", "Two-factor authentication", intro, WRONG_CODE)
    _succeeded(ctx, keys)
    ctx.rotate_session(stage="full", created_at=ctx.now, reauth_at=ctx.now)
    record_sign_in(ctx.conn, ctx.account, ctx.device_label(), ctx.now)
    return redirect(f"{ctx.prefix}/projects")


def logout(ctx):
    ctx.end_session()
    return redirect(f"{ctx.prefix}/login")


_REAUTH_INTRO = Html("<p>Confirm it is you before changing security settings, deleting a project "
                     "or managing users. This lasts a few minutes.</p>")


def show_reauth(ctx):
    next_path = safe_next(ctx.request.query("next"), ctx.prefix)
    return _code_form(ctx, "/reauth", "Confirm your identity", _REAUTH_INTRO, password=True,
                      next_path=next_path)


def submit_reauth(ctx):
    next_path = safe_next(ctx.request.field("next", required=False), ctx.prefix)
    keys = (throttle.account_key(ctx.account.email), _client_key(ctx))

    def again(message, status=200, headers=()):
        return _code_form(ctx, "/reauth", "Confirm your identity", _REAUTH_INTRO, message, status,
                          password=True, next_path=next_path, headers=headers)

    password = ctx.request.field("password", max_length=1024)
    code = ctx.request.field("code", max_length=40) if ctx.account.mfa_enabled else ""
    try:
        _reserve(ctx, keys)
    except HTTPError as error:
        return again(error.message, error.status, error.headers)
    if accounts.check_password(ctx.conn, ctx.account.email, password) is None:
        return again("The password is incorrect.")
    if ctx.account.mfa_enabled and not accounts.verify_second_factor(ctx.conn, ctx.account, code,
                                                                     ctx.now):
        return again(WRONG_CODE)
    _succeeded(ctx, keys)
    ctx.rotate_session(reauth_at=ctx.now)
    separator = "&" if "?" in next_path else "?"
    return redirect(f"{next_path}{separator}done=reauthenticated")
