"""The `tiepdan` command: serve, db upgrade, seed-demo, user add/passwd, recording verify,
bench recording."""

from __future__ import annotations

import argparse
import asyncio
import getpass
import os
import secrets
import sys
from collections.abc import Callable, Coroutine, Sequence
from typing import Any

from aiohttp import web

from sessions import accounts, seed
from sessions.access import Principal
from sessions.db import create_engine, session_factory, transaction, upgrade
from sessions.errors import DomainError
from sessions.models import Role, Unit
from web import logs
from web.auth import end_sessions
from web.config import Config, ConfigError


def _run(coro: Coroutine[Any, Any, int]) -> int:
    return asyncio.run(coro)


async def _with_db(config: Config, work: Callable[[Any], Coroutine[Any, Any, int]]) -> int:
    engine = create_engine(config.database)
    try:
        async with transaction(session_factory(engine)) as db:
            return await work(db)
    finally:
        await engine.dispose()


def cmd_serve(config: Config, args: argparse.Namespace) -> int:
    from bridge.eventloop import new_event_loop
    from web.app import create_app

    upgrade(config.database.url)
    app = create_app(config)
    print(
        f"tiepdan: phục vụ tại {config.public_base_url} (lắng nghe {config.host}:{config.port})",
        flush=True,
    )
    loop = new_event_loop(config.event_loop)
    web.run_app(app, host=config.host, port=config.port, print=None, access_log=None, loop=loop)
    return 0


def cmd_db_upgrade(config: Config, args: argparse.Namespace) -> int:
    upgrade(config.database.url, args.revision)
    print("tiepdan: cơ sở dữ liệu đã được cập nhật.")
    return 0


def _demo_password(config: Config) -> tuple[str, str]:
    if config.demo_password:
        return config.demo_password, "lấy từ biến môi trường TIEPDAN_DEMO_PASSWORD"
    path = config.var_dir / "demo-password.txt"
    if not path.exists():
        config.var_dir.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(secrets.token_urlsafe(12) + "\n")
    return path.read_text().strip(), f"đọc trong tệp {path.resolve()}"


def cmd_seed_demo(config: Config, args: argparse.Namespace) -> int:
    password, source = _demo_password(config)

    async def work(db: Any) -> int:
        result = await seed.seed_demo(db, password)
        if not result.seeded:
            print(f"tiepdan: {result.reason}.")
            return 0
        print(f"tiepdan: đã tạo tỉnh mẫu với các tài khoản: {', '.join(result.usernames)}")
        print(f"tiepdan: mật khẩu của các tài khoản mẫu: {source}")
        return 0

    upgrade(config.database.url)
    return _run(_with_db(config, work))


def _read_password(args: argparse.Namespace) -> str:
    if args.password_stdin:
        return sys.stdin.readline().rstrip("\n")
    first = getpass.getpass("Mật khẩu: ")
    if getpass.getpass("Nhập lại mật khẩu: ") != first:
        raise DomainError("Hai lần nhập mật khẩu không khớp.")
    return first


def cmd_user_add(config: Config, args: argparse.Namespace) -> int:
    password = _read_password(args)

    async def work(db: Any) -> int:
        from sqlalchemy import select

        root_principal = await seed.ensure_province(db, args.province_name)
        unit_id = args.unit_id
        if unit_id is None:
            root = await db.scalar(select(Unit).where(Unit.parent_id.is_(None)))
            unit_id = root.id
        data = accounts.AccountInput(
            username=args.username,
            full_name=args.full_name,
            unit_id=unit_id,
            endpoint_id=args.endpoint_id,
            roles=frozenset(Role(r) for r in args.role),
            password=password,
        )
        system = Principal(
            0,
            "system",
            "Hệ thống",
            root_principal.roles,
            root_principal.unit_id,
            root_principal.unit_path,
            None,
        )
        account = await accounts.create_account(db, system, data)
        print(f"tiepdan: đã tạo tài khoản {account.username} (#{account.id}).")
        return 0

    upgrade(config.database.url)
    return _run(_with_db(config, work))


def cmd_user_passwd(config: Config, args: argparse.Namespace) -> int:
    password = _read_password(args)

    async def work(db: Any) -> int:
        account = await accounts.by_username(db, args.username)
        if account is None:
            raise DomainError(f"Không có tài khoản {args.username!r}.")
        accounts.set_password(account, password)
        await end_sessions(db, account.id)
        print(f"tiepdan: đã đổi mật khẩu của {account.username}.")
        return 0

    return _run(_with_db(config, work))


def cmd_recording_verify(config: Config, args: argparse.Namespace) -> int:
    from web.recording_checks import verify_command

    return _run(verify_command(config, args.session))


def cmd_bench_recording(config: Config, args: argparse.Namespace) -> int:
    from web.recording_checks import bench_command

    return bench_command(args.json)


def cmd_bench_bridge(config: Config, args: argparse.Namespace) -> int:
    from bridge.bench import run_bench

    if args.endpoints < 1 or args.duration <= 0:
        raise ValueError("--endpoints must be at least 1 and --duration positive")
    run_bench(args.endpoints, args.duration, args.json)
    return 0


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="tiepdan", description="Hệ thống tiếp công dân trực tuyến")
    sub = p.add_subparsers(dest="command", required=True)
    sub.add_parser("serve", help="serve the web app and the bridge").set_defaults(func=cmd_serve)
    db = sub.add_parser("db", help="database").add_subparsers(dest="db_command", required=True)
    up = db.add_parser("upgrade", help="apply migrations")
    up.add_argument("revision", nargs="?", default="head")
    up.set_defaults(func=cmd_db_upgrade)
    sub.add_parser("seed-demo", help="seed the demo province into an empty database").set_defaults(
        func=cmd_seed_demo
    )
    user = sub.add_parser("user", help="accounts").add_subparsers(
        dest="user_command", required=True
    )
    add = user.add_parser("add", help="create an account")
    add.add_argument("username")
    add.add_argument("--full-name", required=True)
    add.add_argument("--role", action="append", required=True, choices=[r.value for r in Role])
    add.add_argument("--unit-id", type=int)
    add.add_argument("--endpoint-id", type=int)
    add.add_argument(
        "--province-name", default="Tỉnh", help="name of the province root if none exists"
    )
    add.add_argument("--password-stdin", action="store_true")
    add.set_defaults(func=cmd_user_add)
    pw = user.add_parser("passwd", help="set an account's password")
    pw.add_argument("username")
    pw.add_argument("--password-stdin", action="store_true")
    pw.set_defaults(func=cmd_user_passwd)
    rec = sub.add_parser("recording", help="recordings").add_subparsers(
        dest="recording_command", required=True
    )
    verify = rec.add_parser(
        "verify", help="re-read a session's recordings from the store against the manifests"
    )
    verify.add_argument("session", type=int, help="the reception session's id")
    verify.set_defaults(func=cmd_recording_verify)
    bench = sub.add_parser("bench", help="benchmarks").add_subparsers(
        dest="bench_command", required=True
    )
    bench_rec = bench.add_parser("recording", help="recorder CPU/memory, export, S3 upload")
    bench_rec.add_argument("--json", action="store_true", help="one JSON object on the last line")
    bench_rec.set_defaults(func=cmd_bench_recording)
    bench_br = bench.add_parser(
        "bridge", help="forwarding CPU, latency, loss vs a transcoding relay"
    )
    bench_br.add_argument(
        "--endpoints", type=int, default=30, help="endpoints besides the central one"
    )
    bench_br.add_argument("--duration", type=float, default=20.0, help="seconds of media")
    bench_br.add_argument("--json", action="store_true", help="one JSON object on the last line")
    bench_br.set_defaults(func=cmd_bench_bridge)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        config = Config.from_env()
    except ConfigError as exc:
        print(f"tiepdan: cấu hình sai: {exc}", file=sys.stderr)
        return 2
    logs.configure(config.log_level)
    try:
        result: int = args.func(config, args)
        return result
    except DomainError as exc:
        detail = "; ".join(f"{k}: {v}" for k, v in exc.fields.items())
        print(f"tiepdan: {exc.message}" + (f" ({detail})" if detail else ""), file=sys.stderr)
        return 1
    except ValueError as exc:
        print(f"tiepdan: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
