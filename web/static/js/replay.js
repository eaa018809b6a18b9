// The replay page: a session's recorded tracks played in sync on one master clock.
//
// The timeline (GET /api/v1/sessions/{id}/timeline) places each track by the wall clock of
// its first frame; the main picture follows the recorded floor changes, the other cameras
// are thumbnails, every microphone is heard. All media start from the one click on «Phát»
// (browsers refuse unmuted autoplay). Links open at a time (?t=SECONDS) or a case (?case=ID).

import { Follower, MasterClock, keepInSync } from './replay-sync.js';

const root = document.getElementById('replay');
const SPEEDS = [1, 1.25, 1.5, 2];
const STEP_S = 10;
const PALETTE = ['#1565c0', '#c62828', '#2e7d32', '#6a1b9a', '#ef6c00', '#00838f', '#5d4037'];

const $ = (id) => document.getElementById(id);

function clockText(seconds) {
  const s = Math.max(0, Math.floor(seconds));
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const two = (n) => String(n).padStart(2, '0');
  return h ? `${h}:${two(m)}:${two(s % 60)}` : `${two(m)}:${two(s % 60)}`;
}

function floorAt(floor, t) {
  let holder = null;
  for (const change of floor) {
    if (change.t_s > t) break;
    holder = change.endpoint_id ?? null;
  }
  return holder;
}

function chapterAt(chapters, t) {
  return chapters.find((c) => c.start_s <= t && (c.end_s == null || t < c.end_s)) ?? null;
}

function showError(text) {
  const box = $('replay-error');
  box.textContent = text;
  box.hidden = false;
}

async function loadTimeline() {
  const resp = await fetch(root.dataset.timeline, { headers: { Accept: 'application/json' } });
  const body = await resp.json().catch(() => ({}));
  if (!resp.ok) throw new Error(body.message || `Không tải được dòng thời gian (lỗi ${resp.status}).`);
  return body;
}

function colours(timeline) {
  const ids = [...new Set(timeline.tracks.map((t) => t.endpoint_id))];
  return new Map(ids.map((id, i) => [id, PALETTE[i % PALETTE.length]]));
}

function buildTiles(timeline) {
  const stage = $('stage');
  const tiles = new Map(); // endpoint id -> figure
  const followers = [];
  for (const track of timeline.tracks) {
    if (!track.media_url) continue; // restricted or not stored: said in the track list
    let element;
    if (track.kind === 'video') {
      const figure = document.createElement('figure');
      figure.className = 'tile';
      figure.dataset.endpoint = String(track.endpoint_id);
      element = document.createElement('video');
      element.muted = true; // the sound comes from the microphone tracks
      element.playsInline = true;
      const caption = document.createElement('figcaption');
      caption.textContent = track.endpoint_name;
      figure.append(element, caption);
      stage.append(figure);
      tiles.set(track.endpoint_id, figure);
    } else {
      element = document.createElement('audio');
      $('audio-box').append(element);
    }
    // No source until «Phát»: the first request, with `t`, is the audited replay start.
    element.preload = 'auto';
    element.dataset.recording = String(track.recording_id);
    followers.push(new Follower(element, track));
  }
  return { tiles, followers };
}

function buildBar(timeline, palette, clock) {
  const bar = $('floor-bar');
  const total = timeline.duration_s || 1;
  const changes = [{ t_s: 0, endpoint_id: null }, ...timeline.floor];
  changes.forEach((change, i) => {
    const end = i + 1 < changes.length ? changes[i + 1].t_s : total;
    if (end <= change.t_s) return;
    const seg = document.createElement('span');
    seg.className = 'floor-seg';
    seg.style.left = `${(100 * change.t_s) / total}%`;
    seg.style.width = `${(100 * (end - change.t_s)) / total}%`;
    if (change.endpoint_id != null) {
      seg.style.background = palette.get(change.endpoint_id) ?? '#777';
      seg.title = `${change.endpoint_name ?? ''}: ${clockText(change.t_s)}–${clockText(end)}`;
    } else {
      seg.classList.add('nobody');
      seg.title = `Không trao lời: ${clockText(change.t_s)}–${clockText(end)}`;
    }
    bar.append(seg);
  });
  for (const c of timeline.chapters) {
    const mark = document.createElement('span');
    mark.className = 'chapter-mark';
    mark.style.left = `${(100 * c.start_s) / total}%`;
    mark.title = c.case_code;
    bar.append(mark);
  }
  bar.addEventListener('click', (ev) => {
    const box = bar.getBoundingClientRect();
    clock.seek(((ev.clientX - box.left) / box.width) * total);
  });
  const legend = $('floor-legend');
  const named = new Map(timeline.tracks.map((t) => [t.endpoint_id, t.endpoint_name]));
  for (const [id, colour] of palette) {
    const item = document.createElement('li');
    const swatch = document.createElement('span');
    swatch.className = 'swatch';
    swatch.style.background = colour;
    item.append(swatch, named.get(id) ?? '');
    legend.append(item);
  }
}

function buildChapters(timeline, clock) {
  const list = $('chapters');
  for (const c of timeline.chapters) {
    const item = document.createElement('li');
    item.dataset.case = String(c.case_id);
    const button = document.createElement('button');
    button.type = 'button';
    button.className = 'link';
    button.textContent = `${clockText(c.start_s)} · ${c.case_code}`;
    button.setAttribute('aria-label', `Chuyển đến vụ việc ${c.case_code}`);
    button.addEventListener('click', () => clock.seek(c.start_s));
    const title = document.createElement('span');
    title.textContent = c.title ? ` ${c.title}` : '';
    item.append(button, title);
    list.append(item);
  }
  if (!timeline.chapters.length) {
    const item = document.createElement('li');
    item.className = 'muted';
    item.textContent = 'Phiên không có vụ việc nào được ghi nhận trong bản ghi.';
    list.append(item);
  }
}

function startAt(timeline) {
  const params = new URLSearchParams(window.location.search);
  const byCase = params.get('case');
  if (byCase) {
    const chapter = timeline.chapters.find((c) => String(c.case_id) === byCase);
    if (chapter) return chapter.start_s;
  }
  const t = Number.parseFloat(params.get('t') ?? '');
  if (Number.isFinite(t) && t >= 0) return Math.min(t, timeline.duration_s);
  // By default, where the first recorded media begins (the time line starts at the
  // session's first event, often before anything was recorded).
  const offsets = timeline.tracks.filter((tr) => tr.media_url).map((tr) => tr.offset_s);
  return offsets.length ? Math.min(...offsets) : 0;
}

async function main() {
  let timeline;
  try {
    timeline = await loadTimeline();
  } catch (err) {
    showError(err.message);
    return;
  }
  const clock = new MasterClock(timeline.duration_s);
  const palette = colours(timeline);
  const { tiles, followers } = buildTiles(timeline);
  if (!followers.length) {
    showError('Phiên không có bản ghi nào bạn được phép xem lại.');
    return;
  }
  const fallback = timeline.central_endpoint_id ?? [...tiles.keys()][0];
  buildBar(timeline, palette, clock);
  buildChapters(timeline, clock);
  const seek = $('seek');
  seek.max = String(timeline.duration_s);
  $('duration').textContent = clockText(timeline.duration_s);
  const play = $('play');
  let started = false;
  let mainEndpoint = null;

  const render = (t) => {
    const holder = floorAt(timeline.floor, t);
    const main = tiles.has(holder) ? holder : fallback;
    if (main !== mainEndpoint) {
      for (const [id, tile] of tiles) tile.classList.toggle('main', id === main);
      mainEndpoint = main;
      const tile = tiles.get(main);
      $('main-name').textContent = tile ? tile.querySelector('figcaption').textContent : '';
    }
    const chapter = chapterAt(timeline.chapters, t);
    for (const item of $('chapters').children) {
      item.classList.toggle('current', chapter !== null && item.dataset.case === String(chapter.case_id));
    }
    $('current-case').textContent = chapter ? `${chapter.case_code} – ${chapter.title ?? ''}` : '—';
    if (document.activeElement !== seek) seek.value = String(t);
    $('position').textContent = clockText(t);
    $('playhead').style.left = `${(100 * t) / (timeline.duration_s || 1)}%`;
    play.textContent = clock.playing ? 'Tạm dừng' : 'Phát';
    root.classList.toggle('buffering', clock.holding);
  };

  keepInSync(clock, followers, render);
  clock.seek(startAt(timeline));

  const toggle = () => {
    if (clock.playing) {
      clock.pause();
      return;
    }
    if (!started) {
      started = true;
      $('start-hint').hidden = true;
      // Inside the click: every element gets its source (the server audits the start and
      // where in the session it is) and may now play with its sound.
      const from = Math.round(clock.now() * 10) / 10;
      for (const f of followers) {
        f.element.src = `${f.track.media_url}?t=${from}`;
        const want = f.wanted(clock.now());
        if (want === null) continue; // later, from the sync tick (the click counts for it)
        f.element.currentTime = want;
        f.element.play().catch(() => {});
      }
    }
    if (clock.now() >= timeline.duration_s) clock.seek(0);
    clock.play();
  };
  play.addEventListener('click', toggle);
  seek.addEventListener('input', () => clock.seek(Number.parseFloat(seek.value)));
  const speed = $('speed');
  for (const s of SPEEDS) {
    const option = document.createElement('option');
    option.value = String(s);
    option.textContent = `${String(s).replace('.', ',')}×`;
    speed.append(option);
  }
  speed.addEventListener('change', () => clock.setRate(Number.parseFloat(speed.value)));
  document.addEventListener('keydown', (ev) => {
    const tag = ev.target?.tagName;
    if (tag === 'INPUT' || tag === 'SELECT' || tag === 'TEXTAREA' || ev.altKey || ev.ctrlKey) return;
    if (ev.key === ' ') {
      ev.preventDefault();
      if (tag !== 'BUTTON') toggle();
    } else if (ev.key === 'ArrowLeft') {
      ev.preventDefault();
      clock.seek(clock.now() - STEP_S);
    } else if (ev.key === 'ArrowRight') {
      ev.preventDefault();
      clock.seek(clock.now() + STEP_S);
    }
  });

  window.tiepdanReplay = {
    clock,
    now: () => clock.now(),
    mainEndpoint: () => mainEndpoint,
    followers: () =>
      followers.map((f) => ({
        recording_id: f.track.recording_id,
        endpoint_id: f.track.endpoint_id,
        kind: f.track.kind,
        currentTime: f.element.currentTime,
        wanted: f.wanted(clock.now()),
        paused: f.element.paused,
        readyState: f.element.readyState,
        drift: f.drift,
      })),
  };
}

if (root) main();
