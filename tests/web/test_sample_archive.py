"""`tiepdan seed-demo --sample-archive`: an ended session whose recording went through the
recorder's writer and the store worker (six stored tracks ffprobe reads at their length, a
manifest, each file attached to the two cases heard), added once, and refused with a reason
on a database without the demo province."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import selectinload

from sessions.db import create_engine, session_factory
from sessions.minutes import store as minutes_store
from sessions.models import (
    Minutes,
    MinutesState,
    ReceptionSession,
    RecordingAttachment,
    RecordingManifest,
    RecordingRecord,
    RecordingState,
    SessionState,
)
from tests.conftest import seed
from tests.recording.recmedia import probed_duration
from web.config import Config
from web.sample_archive import RECORDED_S, SECOND_CASE_AT_S, seed_sample_archive

pytestmark = pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)


async def test_the_sample_archive_is_a_stored_recording_of_two_cases(config: Config) -> None:
    assert (await seed_sample_archive(config)).failed  # no demo province yet: nothing to add to
    await seed(config.database.url)
    made = await seed_sample_archive(config)
    assert made.created and made.session_id is not None, made
    again = await seed_sample_archive(config)
    assert not again.created and not again.failed, again

    engine = create_engine(config.database)
    try:
        async with session_factory(engine)() as db:
            s = await db.get(ReceptionSession, made.session_id)
            assert s is not None and s.state is SessionState.ENDED
            rows = list(await db.scalars(select(RecordingRecord)))
            manifests = await db.scalar(select(func.count()).select_from(RecordingManifest))
            attached = list(await db.scalars(select(RecordingAttachment)))
            minutes = list(
                await db.scalars(
                    select(Minutes)
                    .options(selectinload(Minutes.directions))
                    .where(Minutes.session_id == s.id)
                )
            )
    finally:
        await engine.dispose()
    assert len(rows) == 6 and all(r.state is RecordingState.STORED for r in rows)
    # Final minutes of each case heard and of the session, each locked with a hash that holds.
    assert len(minutes) == 3 and all(m.state is MinutesState.LOCKED for m in minutes)
    assert all(minutes_store.verifies(m) for m in minutes)
    assert {(r.endpoint_id, r.track_source) for r in rows} == {
        (e, src) for e in {r.endpoint_id for r in rows} for src in ("camera", "microphone")
    }
    assert manifests == 1 and all(r.manifest_id is not None for r in rows)
    root = Path(config.storage_url.removeprefix("file://"))
    for r in rows:
        assert abs(probed_duration(root / r.storage_key) - RECORDED_S) < 0.5, r.storage_key
    by_case: dict[int, set[tuple[int, int]]] = {}
    for a in attached:
        by_case.setdefault(a.case_id, set()).add((a.offset_ms, a.length_ms))
    assert len(by_case) == 2, by_case
    second = round(SECOND_CASE_AT_S * 1000)
    assert sorted(by_case.values(), key=min) == [
        {(5000, second - 5000)},
        {(second, round(RECORDED_S * 1000) - second)},
    ]
