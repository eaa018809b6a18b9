"""The `tiepdan` command: serve, db upgrade, seed-demo, user add/passwd, recording verify,
bench recording, bridge, echo and replay."""

from __future__ import annotations

import argparse
import asyncio
import errno
import getpass
import os
import secrets
import sys
from collections.abc import Callable, Coroutine, Sequence
from typing import Any, TypeVar

from aiohttp import web

from sessions import accounts, seed
from sessions.access import Principal
from sessions.db import create_engine, session_factory, transaction, upgrade
from sessions.errors import DomainError
from sessions.models import Role, Unit
from web import logs
from web.auth import end_sessions
from web.config import Config, ConfigError

_T = TypeVar("_T")


def _run(coro: Coroutine[Any, Any, _T]) -> _T:
    return asyncio.run(coro)


async def _with_db(config: Config, work: Callable[[Any], Coroutine[Any, Any, int]]) -> int:
    engine = create_engine(config.database)
    try:
        async with transaction(session_factory(engine)) as db:
            return await work(db)
    finally:
        await engine.dispose()


def cmd_serve(config: Config, args: argparse.Namespace) -> int:
    from bridge import new_event_loop
    from web.app import create_app

    upgrade(config.database.url)
    app = create_app(config)
    serving = (
        f"tiepdan: phục vụ tại {config.public_base_url} (lắng nghe {config.host}:{config.port})"
    )
    loop = new_event_loop(config.event_loop)
    try:
        # run_app calls `print` once the socket is bound: say "serving" only then.
        web.run_app(
            app,
            host=config.host,
            port=config.port,
            print=lambda _: print(serving, flush=True),
            access_log=None,
            loop=loop,
        )
    except OSError as exc:
        if exc.errno not in (errno.EADDRINUSE, errno.EACCES, errno.EADDRNOTAVAIL):
            raise
        print(_bind_failure(config, exc.errno), file=sys.stderr)
        return 1
    return 0


def _bind_failure(config: Config, code: int | None) -> str:
    where = f"{config.host}:{config.port}"
    if code == errno.EADDRINUSE:
        why = f"cổng {config.port} đang được một chương trình khác dùng ({where})"
    elif code == errno.EACCES:
        why = f"không có quyền mở cổng {config.port} ({where})"
    else:
        why = f"địa chỉ {config.host} không có trên máy này ({where})"
    return (
        f"tiepdan: không mở được máy chủ: {why}; "
        "đổi biến môi trường TIEPDAN_PORT (hoặc TIEPDAN_HOST) rồi chạy lại."
    )


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
    code = _run(_with_db(config, work))
    if code == 0 and args.sample_archive:
        from web.sample_archive import seed_sample_archive

        sample = _run(seed_sample_archive(config))
        print(f"tiepdan: {sample.message}.")
        code = 1 if sample.failed else 0
    return code


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


def cmd_bench_replay(config: Config, args: argparse.Namespace) -> int:
    from web.bench_replay import run_replay_bench

    return run_replay_bench(args.json, quick=args.quick)


def cmd_bench_bridge(config: Config, args: argparse.Namespace) -> int:
    from bridge.bench import run_bench

    if args.endpoints < 1 or args.duration <= 0:
        raise ValueError("--endpoints phải từ 1 trở lên và --duration phải lớn hơn 0")
    result = run_bench(args.endpoints, args.duration, args.json)
    return 0 if result["valid"] else 1  # an invalid run (the load generator saturated): 1


def cmd_bench_echo(config: Config, args: argparse.Namespace) -> int:
    from web.bench_echo import Options, run_echo_bench

    opts = Options(args.browsers, args.duration, args.warmup, args.hog, args.json)
    try:
        result = run_echo_bench(opts)
    except KeyboardInterrupt:  # every process it started is stopped by then
        print("tiepdan: đã dừng phép đo theo yêu cầu (Ctrl-C).", file=sys.stderr)
        return 130
    return 0 if result["valid"] else 1  # a page got nothing, or the browsers starved: 1


class _Formatter(argparse.HelpFormatter):
    def add_usage(self, usage: Any, actions: Any, groups: Any, prefix: str | None = None) -> None:
        super().add_usage(usage, actions, groups, "Cách dùng: " if prefix is None else prefix)


class _Parser(argparse.ArgumentParser):
    """argparse with its own words in Vietnamese: the operator reads them."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("formatter_class", _Formatter)
        kwargs["add_help"] = False
        super().__init__(*args, **kwargs)
        self._positionals.title = "đối số"
        self._optionals.title = "tùy chọn"
        self.add_argument("-h", "--help", action="help", help="in hướng dẫn này rồi thoát")

    def error(self, message: str) -> Any:
        self.print_usage(sys.stderr)
        self.exit(2, f"{self.prog}: lỗi: {message}\n")


def _commands(p: argparse.ArgumentParser, dest: str) -> Any:
    return p.add_subparsers(dest=dest, required=True, title="lệnh", metavar="LỆNH")


def parser() -> argparse.ArgumentParser:
    p = _Parser(prog="tiepdan", description="Hệ thống tiếp công dân trực tuyến")
    sub = _commands(p, "command")
    sub.add_parser(
        "serve",
        help="chạy ứng dụng web và cầu truyền hình",
        description="Chạy ứng dụng web và cầu truyền hình; địa chỉ, cổng và mọi thiết lập "
        "đọc từ các biến môi trường TIEPDAN_ (xem README).",
    ).set_defaults(func=cmd_serve)
    db = _commands(sub.add_parser("db", help="cơ sở dữ liệu"), "db_command")
    up = db.add_parser("upgrade", help="cập nhật cấu trúc cơ sở dữ liệu (migration)")
    up.add_argument("revision", nargs="?", default="head", help="phiên bản đích (mặc định: head)")
    up.set_defaults(func=cmd_db_upgrade)
    demo = sub.add_parser("seed-demo", help="tạo tỉnh mẫu trong cơ sở dữ liệu còn trống")
    demo.add_argument(
        "--sample-archive",
        action="store_true",
        help="thêm một phiên đã kết thúc có bản ghi hình ngắn (ba điểm cầu, hai vụ việc), "
        "để xem lại ngay",
    )
    demo.set_defaults(func=cmd_seed_demo)
    user = _commands(sub.add_parser("user", help="tài khoản"), "user_command")
    add = user.add_parser("add", help="tạo tài khoản")
    add.add_argument("username", help="tên đăng nhập")
    add.add_argument("--full-name", required=True, help="họ và tên")
    add.add_argument(
        "--role",
        action="append",
        required=True,
        choices=[r.value for r in Role],
        help="vai trò (nhắc lại để cấp nhiều vai trò)",
    )
    add.add_argument("--unit-id", type=int, help="mã số đơn vị (mặc định: đơn vị gốc của tỉnh)")
    add.add_argument("--endpoint-id", type=int, help="mã số điểm cầu (cán bộ đầu mối)")
    add.add_argument(
        "--province-name",
        default="Tỉnh",
        help="tên tỉnh, dùng khi cơ sở dữ liệu chưa có đơn vị gốc (mặc định: Tỉnh)",
    )
    add.add_argument(
        "--password-stdin", action="store_true", help="đọc mật khẩu từ dòng đầu của stdin"
    )
    add.set_defaults(func=cmd_user_add)
    pw = user.add_parser("passwd", help="đặt mật khẩu mới cho tài khoản")
    pw.add_argument("username", help="tên đăng nhập")
    pw.add_argument(
        "--password-stdin", action="store_true", help="đọc mật khẩu từ dòng đầu của stdin"
    )
    pw.set_defaults(func=cmd_user_passwd)
    rec = _commands(sub.add_parser("recording", help="bản ghi hình"), "recording_command")
    verify = rec.add_parser(
        "verify", help="đọc lại các bản ghi của một phiên trong kho, đối chiếu với bản kê (SHA-256)"
    )
    verify.add_argument("session", type=int, help="mã số phiên tiếp công dân")
    verify.set_defaults(func=cmd_recording_verify)
    bench = _commands(sub.add_parser("bench", help="đo hiệu năng"), "bench_command")
    bench_rec = bench.add_parser(
        "recording", help="CPU, bộ nhớ của việc ghi hình; xuất video; tải lên S3"
    )
    bench_rec.add_argument("--json", action="store_true", help="dòng cuối là một đối tượng JSON")
    bench_rec.set_defaults(func=cmd_bench_recording)
    bench_br = bench.add_parser(
        "bridge", help="CPU, độ trễ, mất gói khi chuyển tiếp, so với chuyển mã"
    )
    bench_br.add_argument(
        "--endpoints", type=int, default=30, help="số điểm cầu ngoài điểm cầu trung tâm"
    )
    bench_br.add_argument("--duration", type=float, default=20.0, help="số giây truyền hình")
    bench_br.add_argument("--json", action="store_true", help="dòng cuối là một đối tượng JSON")
    bench_br.set_defaults(func=cmd_bench_bridge)
    bench_echo = bench.add_parser(
        "echo",
        help="cầu truyền hình bên cạnh Janus: CPU mỗi luồng phản hồi, khung hình nhận lại",
        description="Mở N trang Chromium (camera, micro giả) gửi hình, tiếng và nhận lại chính "
        "mình, lần lượt qua phòng kiểm tra kết nối của tiepdan và qua plugin echotest của Janus; "
        "so CPU của mỗi máy chủ trên mỗi luồng ở cùng chất lượng nhận được.",
    )
    bench_echo.add_argument("--browsers", type=int, default=6, help="số trang trình duyệt")
    bench_echo.add_argument("--duration", type=float, default=20.0, help="số giây đo")
    bench_echo.add_argument(
        "--warmup", type=float, default=10.0, help="số giây khởi động trước khi đo"
    )
    bench_echo.add_argument(
        "--hog", action="store_true", help="chạy thêm một vòng lặp chiếm trọn một lõi CPU"
    )
    bench_echo.add_argument("--json", action="store_true", help="dòng cuối là một đối tượng JSON")
    bench_echo.set_defaults(func=cmd_bench_echo)
    bench_rp = bench.add_parser(
        "replay",
        help="xem lại: thời gian tới khung hình đầu, dung lượng tải khi tua, xuất gói hồ sơ",
        description="Dựng kho lưu trữ hai giờ (điểm cầu trung tâm và bốn điểm cầu, dữ liệu "
        "tạo sẵn) rồi đo qua ứng dụng trên loopback.",
    )
    bench_rp.add_argument("--json", action="store_true", help="dòng cuối là một đối tượng JSON")
    bench_rp.add_argument(
        "--quick", action="store_true", help="kho lưu trữ hai phút (kiểm tra nhanh cách đo)"
    )
    bench_rp.set_defaults(func=cmd_bench_replay)
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
