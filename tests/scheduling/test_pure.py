"""Conflicts, check verdicts and the iCalendar text: pure functions."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta

from scheduling.checks import NO_MEDIA_SHORT, Figures, Measured, evaluate, judge, stored
from scheduling.config import Thresholds
from scheduling.conflicts import Booking, ClashKind, find_clashes, overlaps
from scheduling.ical import Event, escape_text, fold, render

T0 = datetime(2026, 11, 25, 1, 30, tzinfo=UTC)
H = timedelta(hours=1)


def booking(sid: int, chair: int, eps: set[int], start: datetime, hours: float = 2) -> Booking:
    return Booking(sid, f"Phiên {sid}", chair, frozenset(eps), start, start + hours * H)


def test_overlap_is_half_open() -> None:
    assert overlaps(T0, T0 + 2 * H, T0 + H, T0 + 3 * H)
    assert overlaps(T0, T0 + 3 * H, T0 + H, T0 + 2 * H)  # contained
    assert not overlaps(T0, T0 + 2 * H, T0 + 2 * H, T0 + 3 * H)  # adjacent
    assert not overlaps(T0 + 2 * H, T0 + 3 * H, T0, T0 + 2 * H)


def test_chair_booked_at_overlapping_time() -> None:
    plan = booking(2, chair=7, eps={1}, start=T0 + H)
    clashes = find_clashes(plan, [booking(1, chair=7, eps={9}, start=T0)])
    assert [(c.kind, c.other.session_id) for c in clashes] == [(ClashKind.CHAIR, 1)]


def test_endpoint_booked_at_overlapping_time() -> None:
    plan = booking(2, chair=7, eps={1, 3, 4}, start=T0 + H)
    clashes = find_clashes(plan, [booking(1, chair=8, eps={4, 3, 5}, start=T0)])
    assert [(c.kind, c.endpoint_id) for c in clashes] == [
        (ClashKind.ENDPOINT, 3),
        (ClashKind.ENDPOINT, 4),
    ]


def test_adjacent_sessions_and_the_session_itself_do_not_clash() -> None:
    plan = booking(2, chair=7, eps={1}, start=T0 + 2 * H)
    assert find_clashes(plan, [booking(1, chair=7, eps={1}, start=T0)]) == []
    assert find_clashes(plan, [plan]) == []
    assert find_clashes(plan, [booking(3, chair=8, eps={2}, start=T0 + 2 * H)]) == []


GOOD = Figures(
    rtt_ms=80,
    loss_pct=0.5,
    jitter_ms=12,
    bitrate_kbps=900,
    fps=25,
    width=1280,
    height=720,
    audio_level_seen=True,
)


def test_good_figures_pass() -> None:
    v = evaluate(GOOD, Thresholds())
    assert v.passed and v.reason == ""


def test_thresholds_are_strict_where_the_rule_says_under() -> None:
    t = Thresholds()
    edge = Figures(299.9, 2.9, 0, 0, 15, 640, 360, True)
    assert evaluate(edge, t).passed
    v = evaluate(Figures(300, 3.0, 0, 0, 14.9, 639, 360, False), t)
    assert not v.passed
    assert len(v.problems) == 5
    assert "300 ms" in v.reason and "dưới 300 ms" in v.reason
    assert "3,0%" in v.reason  # a decimal comma
    assert "639×360" in v.reason
    assert "micrô" in v.reason


def test_each_failure_says_what_to_fix() -> None:
    v = evaluate(Figures(80, 0.5, 12, 900, 8, 1280, 720, True), Thresholds())
    assert v.problems == (
        "Hình ảnh chỉ 8 khung hình/giây, cần ít nhất 15: hãy bật đủ đèn trong phòng, "
        "đóng bớt chương trình trên máy hoặc đổi camera.",
    )


MEASURED = Measured(
    video_packets=900,
    audio_packets=500,
    seconds=10.2,
    rtt_ms=42.0,
    upstream_loss_pct=1.0,
    downstream_loss_pct=1.0,
    jitter_ms=3.2,
    returned_jitter_ms=4.1,
    bitrate_kbps=1350.0,
    fps=29.5,
    width=1280,
    height=720,
    loudest_dbov=-22.0,
)


def test_the_bridges_measurement_passes_on_its_own_figures() -> None:
    t = Thresholds()
    assert judge(MEASURED, t).passed
    # The round trip loses what either way loses: 1 - 0.99 * 0.99.
    assert MEASURED.loss_pct == 1.99
    lossy = dataclasses.replace(MEASURED, downstream_loss_pct=2.1)
    assert [p[:22] for p in judge(lossy, t).problems] == ["Mất gói tin 3,1%, phải"]
    quiet = dataclasses.replace(MEASURED, loudest_dbov=-61.0)
    assert "micrô" in judge(quiet, t).reason
    assert not judge(dataclasses.replace(MEASURED, loudest_dbov=None), t).passed


def test_nothing_measured_fails_whatever_the_browser_said() -> None:
    t = Thresholds()
    for nothing in (None, dataclasses.replace(MEASURED, video_packets=0, audio_packets=0)):
        v = judge(nothing, t)
        assert not v.passed and v.reason.startswith(NO_MEDIA_SHORT)
    v = judge(None, t, "cầu từ chối.")
    assert "(trình duyệt báo: cầu từ chối)." in v.reason


def test_what_the_bridge_could_not_measure_is_said_plainly() -> None:
    t = Thresholds()
    no_rtt = judge(dataclasses.replace(MEASURED, rtt_ms=None), t)
    assert (
        no_rtt.problems[0].startswith("Chưa đo được độ trễ khứ hồi") and len(no_rtt.problems) == 1
    )
    sound_only = dataclasses.replace(MEASURED, video_packets=0, fps=0, width=0, height=0)
    [problem] = judge(sound_only, t).problems  # no "0 frames per second", "0×0" besides
    assert problem.startswith("Cầu truyền hình không nhận được hình ảnh từ camera")
    short = judge(dataclasses.replace(MEASURED, seconds=2.5), t)
    assert short.problems == (
        "Cầu truyền hình mới nhận được 2,5 giây hình ảnh, cần ít nhất 5 giây: "
        "hãy để trang kiểm tra chạy đến khi có kết quả.",
    )


def test_stored_keeps_the_old_keys_for_the_bridge_and_the_browser_beside() -> None:
    t = Thresholds()
    kept = stored(MEASURED, GOOD, t)
    assert {k: kept[k] for k in GOOD.as_dict()} == {
        "rtt_ms": 42.0,
        "loss_pct": 1.99,
        "jitter_ms": 3.2,
        "bitrate_kbps": 1350.0,
        "fps": 29.5,
        "width": 1280,
        "height": 720,
        "audio_level_seen": True,
        "error": "",
    }
    assert kept["measured_by"] == "bridge" and kept["browser"] == GOOD.as_dict()
    assert kept["bridge"]["upstream_loss_pct"] == 1.0
    assert stored(dataclasses.replace(MEASURED, rtt_ms=None), GOOD, t)["rtt_ms"] is None
    empty = stored(None, GOOD, t)
    assert empty["error"] == NO_MEDIA_SHORT and empty["bridge"] is None


def test_escape_text() -> None:
    assert escape_text("a,b;c\\d\ne") == "a\\,b\\;c\\\\d\\ne"


def test_fold_keeps_lines_under_75_octets_and_characters_whole() -> None:
    line = "SUMMARY:" + "Tiếp công dân định kỳ tại điểm cầu phường Hòa Bình, " * 4
    folded = fold(line)
    parts = folded.split("\r\n")
    assert len(parts) > 1
    assert all(len(p.encode("utf-8")) <= 75 for p in parts)
    assert all(p.startswith(" ") for p in parts[1:])
    assert "".join([parts[0], *(p[1:] for p in parts[1:])]) == line  # unfolds to the original


def test_render_is_crlf_with_utc_times() -> None:
    body = render(
        [Event("session-1@x", T0, T0 + 2 * H, "Tiếp công dân, tháng 11", "Chủ trì: Ông A")],
        T0,
        "Lịch",
    ).decode("utf-8")
    assert body.startswith("BEGIN:VCALENDAR\r\nVERSION:2.0\r\n")
    assert body.endswith("END:VCALENDAR\r\n")
    assert "\n" not in body.replace("\r\n", "")
    assert "DTSTART:20261125T013000Z\r\n" in body
    assert "DTEND:20261125T033000Z\r\n" in body
    assert "SUMMARY:Tiếp công dân\\, tháng 11\r\n" in body
