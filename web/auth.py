"""Signing in and out: login sessions, throttling, CSRF, and who the caller is."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import urlsplit

from aiohttp import web
from sqlalchemy import delete, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from sessions import accounts
from sessions.access import Principal
from sessions.audit import AuditContext, record
from sessions.db import transaction
from sessions.models import Account, LoginSession, LoginThrottle, utcnow
from web import inbound
from web.config import Config
from web.keys import CLOCK, CONFIG, CSRF, DB, PRINCIPAL, REQUEST_ID

COOKIE = "tiepdan_session"
PRELOGIN_COOKIE = "tiepdan_prelogin"  # double-submit token for the login form
UNSAFE = frozenset({"POST", "PUT", "PATCH", "DELETE"})


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def client_ip(request: web.Request) -> str:
    if request.app[CONFIG].trust_proxy:
        forwarded = inbound.header(request, "X-Forwarded-For")
        if forwarded:
            return forwarded.split(",")[0].strip()[:64]
    return (request.remote or "")[:64]


def request_scheme(request: web.Request) -> str:
    """The scheme the browser used: behind a trusted proxy (TIEPDAN_TRUST_PROXY, as for the
    client address) the proxy's X-Forwarded-Proto, else this connection's own."""
    if request.app[CONFIG].trust_proxy:
        proto = (inbound.header(request, "X-Forwarded-Proto") or "").split(",")[0].strip().lower()
        if proto in _DEFAULT_PORTS:
            return proto
    return request.scheme


_DEFAULT_PORTS = {"http": 80, "https": 443}
Origin = tuple[str, str, int]  # scheme, host, port (RFC 6454)


def origin_of(url: str) -> Origin | None:
    """The (scheme, host, port) of an http(s) URL or Origin header, the port made explicit;
    None for anything else ("null", another scheme, a bad port)."""
    parts = urlsplit(url.strip())
    scheme = parts.scheme.lower()
    if scheme not in _DEFAULT_PORTS or not parts.hostname:
        return None
    try:
        port = parts.port
    except ValueError:
        return None
    return scheme, parts.hostname.lower(), port or _DEFAULT_PORTS[scheme]


def same_origin(request: web.Request) -> bool:
    """Whether the request's Origin is this app: the public base URL's origin, or the one the
    browser addressed (Host, with the scheme it used). Scheme, host and port all count: an
    https page is not the http app, nor another port. No Origin: not a browser (scripts sign
    in themselves, so there is no cookie of someone else's to ride on)."""
    origin = inbound.header(request, "Origin")
    if origin is None:
        # Not a browser, unless an Origin was sent that is not even text.
        return not inbound.has(request, "Origin")
    seen = origin_of(origin)
    own = {
        origin_of(request.app[CONFIG].public_base_url),
        origin_of(f"{request_scheme(request)}://{inbound.header(request, 'Host') or ''}"),
    }
    return seen is not None and seen in own


def audit_context(request: web.Request) -> AuditContext:
    principal: Principal | None = request.get(PRINCIPAL)
    return AuditContext(principal, client_ip(request), request.get(REQUEST_ID, ""))


@dataclass(frozen=True, slots=True)
class LoginOutcome:
    account: Account | None
    token: str = ""
    csrf_token: str = ""
    locked: bool = False
    # Failures the name may still have before it locks: counted in its own "user:" bucket,
    # which every name has, real or made up, so the number says nothing of the account.
    remaining: int | None = None


async def _throttle_rows(db: AsyncSession, keys: list[str]) -> list[LoginThrottle]:
    """The buckets' rows, made when missing. Two failed logins of a new name at the same
    moment must not both insert its row (the second would be a duplicate key, a 409 for a
    login), so they are put with "insert or leave as is", then read."""
    insert = pg_insert if db.get_bind().dialect.name == "postgresql" else sqlite_insert
    await db.execute(
        insert(LoginThrottle)
        .values([{"key": k, "failures": 0, "window_started_at": utcnow()} for k in keys])
        .on_conflict_do_nothing(index_elements=["key"])
    )
    rows = []
    for key in keys:
        row = await db.get(LoginThrottle, key, populate_existing=True)
        assert row is not None
        rows.append(row)
    return rows


def _locked(rows: list[LoginThrottle], now: datetime) -> bool:
    return any(r.locked_until is not None and r.locked_until > now for r in rows)


# Failed logins are counted in three buckets (rows of `login_throttle`):
# - "user:NAME", every name tried, real or made up, so that how a name locks says nothing of
#   whether it exists; locked, that name cannot sign in;
# - "ip:ADDR", failures against real accounts from one address: guessing across accounts;
#   locked, nobody signs in from that address;
# - "guess:ADDR", every failure from the address, made-up names included; locked, each failed
#   attempt is answered "too many", but a correct password still signs in: one person typing
#   made-up names cannot lock a commune's office out, and learns nothing from the answers.
# Many officers of one commune may sit behind one NAT address: the address buckets lock only
# after this many times the per-account limit, so one person's typos do not lock them all.
IP_FACTOR = 5
_PER_ADDRESS = ("ip:", "guess:")


def _fail(rows: list[LoginThrottle], now: datetime, cfg: Config) -> None:
    window = timedelta(minutes=cfg.login_lock_minutes)
    for r in rows:
        limit = cfg.login_max_failures * (IP_FACTOR if r.key.startswith(_PER_ADDRESS) else 1)
        if r.window_started_at is None or now - r.window_started_at > window or not r.failures:
            r.failures, r.window_started_at = 0, now
        r.failures += 1
        if r.failures >= limit:
            r.locked_until = now + window


def _password_matches(account: Account | None, password: str) -> bool:
    """One password hash verified on every path (an unknown name against a dummy hash, an
    inactive account against its own), so the time taken tells nothing about the account."""
    if account is None:
        accounts.burn_time(password)
        return False
    return accounts.verify_password(account.password_hash, password)


async def login(request: web.Request, username: str, password: str) -> LoginOutcome:
    """Check the password; on success create a login session. Commits the audit trail in
    every case, so failures are recorded even though the caller answers with an error."""
    cfg, now = request.app[CONFIG], request.app[CLOCK]()
    ip, ctx = client_ip(request), audit_context(request)
    username = username.strip().lower()[:64]
    async with transaction(request.app[DB]) as db:
        name, address, guesses = await _throttle_rows(
            db, [f"user:{username}", f"ip:{ip}", f"guess:{ip}"]
        )
        if _locked([name, address], now):
            accounts.burn_time(password)  # as long as any other answer
            await record(db, ctx, "login.throttled", "account", username, actor_username=username)
            return LoginOutcome(None, locked=True)
        account = await accounts.by_username(db, username)
        matched = _password_matches(account, password)
        if account is None or not account.active or not matched:
            _fail([name, guesses] if account is None else [name, address, guesses], now, cfg)
            await record(
                db,
                ctx,
                "login.failed",
                "account",
                username,
                actor_username=username,
                detail={
                    "reason": "inactive"
                    if account is not None and not account.active
                    else "bad_credentials"
                },
            )
            remaining = max(cfg.login_max_failures - name.failures, 0)
            return LoginOutcome(
                None, locked=_locked([name, address, guesses], now), remaining=remaining
            )
        # Only the account's count: a valid login must not wipe the address's record of
        # guesses at other accounts.
        name.failures, name.locked_until = 0, None
        token, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
        db.add(
            LoginSession(
                token_hash=token_hash(token),
                account_id=account.id,
                csrf_token=csrf,
                created_at=now,
                last_seen_at=now,
                expires_at=now + timedelta(hours=cfg.session_hours),
                ip=ip,
                user_agent=inbound.user_agent(request),
            )
        )
        principal = await accounts.principal_for(db, account)
        await record(
            db,
            AuditContext(principal, ip, ctx.request_id),
            "login",
            "account",
            account.id,
            unit_id=account.unit_id,
        )
    return LoginOutcome(account, token, csrf)


def failure_message(outcome: LoginOutcome, cfg: Config) -> str:
    """What a failed sign-in is told: the same words for a made-up name as for a real one."""
    if outcome.locked:
        return f"Đăng nhập sai quá nhiều lần. Vui lòng thử lại sau {cfg.login_lock_minutes} phút."
    text = "Tên đăng nhập hoặc mật khẩu không đúng."
    if outcome.remaining is not None:
        text += (
            f" Còn {outcome.remaining} lần thử; sai thêm {outcome.remaining} lần nữa thì tên "
            f"đăng nhập này bị khóa {cfg.login_lock_minutes} phút."
        )
    return text


def set_session_cookie(response: web.StreamResponse, request: web.Request, token: str) -> None:
    cfg = request.app[CONFIG]
    response.set_cookie(
        COOKIE,
        token,
        httponly=True,
        samesite="Lax",
        secure=cfg.cookie_secure,
        path="/",
        max_age=cfg.session_hours * 3600,
    )


async def logout(request: web.Request) -> None:
    token = inbound.cookie(request, COOKIE)
    if not token:
        return
    async with transaction(request.app[DB]) as db:
        await db.execute(delete(LoginSession).where(LoginSession.token_hash == token_hash(token)))
        if request.get(PRINCIPAL) is not None:
            await record(
                db, audit_context(request), "logout", "account", request[PRINCIPAL].account_id
            )


async def load_principal(request: web.Request) -> None:
    """Set request[PRINCIPAL] and request[CSRF] from the session cookie, if it is valid."""
    token = inbound.cookie(request, COOKIE)
    if not token:
        return
    now = request.app[CLOCK]()
    async with transaction(request.app[DB]) as db:
        row = await db.get(LoginSession, token_hash(token))
        if row is None or row.expires_at <= now:
            return
        account = await db.get(Account, row.account_id)
        if account is None or not account.active:
            # A locked account ends every session it had (a password change deletes them).
            await db.delete(row)
            return
        if now - row.last_seen_at > timedelta(minutes=1):
            row.last_seen_at = now
        request[PRINCIPAL] = await accounts.principal_for(db, account)
        request[CSRF] = row.csrf_token


def csrf_ok(request: web.Request, supplied: str | None) -> bool:
    expected: str | None = request.get(CSRF)
    if not (expected and supplied and supplied.isascii()):
        return False  # compare_digest refuses non-ASCII text with a TypeError
    return hmac.compare_digest(expected, supplied)


def new_prelogin_token() -> str:
    return secrets.token_urlsafe(24)


async def end_sessions(db: AsyncSession, account_id: int) -> None:
    await db.execute(delete(LoginSession).where(LoginSession.account_id == account_id))


async def active_sessions(db: AsyncSession, account_id: int) -> list[LoginSession]:
    return list(await db.scalars(select(LoginSession).where(LoginSession.account_id == account_id)))
