// The replay's one master clock and the media elements that follow it.
//
// The master is a clock of session time (seconds from the session's first recorded frame),
// not one of the media elements: tracks start at different moments (an endpoint joins late)
// and any of them may end or stall. Each follower is a <video> or <audio> element placed on
// the session timeline at `offset` seconds; it should show `master - offset`. Every tick the
// drift is measured: small drift is corrected by nudging the element's playbackRate, large
// drift (or a seek) by setting currentTime. While a follower that should be playing waits for
// data, the master holds, so that nothing runs ahead of what can be heard.

const TICK_MS = 100;
const SEEK_DRIFT_S = 0.5; // beyond this a follower is moved, not nudged
const CALM_DRIFT_S = 0.02; // within this a follower plays at the master's rate
const MAX_NUDGE = 0.1; // at most ±10 % of the rate while catching up a little
const CATCH_UP_DRIFT_S = 0.08; // beyond this (a track's output starting late): ±25 %
const MAX_CATCH_UP = 0.25;

export class MasterClock extends EventTarget {
  constructor(duration) {
    super();
    this.duration = duration;
    this.rate = 1;
    this.playing = false;
    this.holding = false;
    this._base = 0; // session time at `_since`
    this._since = performance.now();
  }

  now() {
    if (!this.playing || this.holding) return this._base;
    const t = this._base + ((performance.now() - this._since) / 1000) * this.rate;
    return Math.min(t, this.duration);
  }

  _rebase() {
    this._base = this.now();
    this._since = performance.now();
  }

  play() {
    this._rebase();
    this.playing = true;
    this.dispatchEvent(new Event('change'));
  }

  pause() {
    this._rebase();
    this.playing = false;
    this.dispatchEvent(new Event('change'));
  }

  hold(on) {
    if (on === this.holding) return;
    this._rebase();
    this.holding = on;
  }

  seek(t) {
    this._base = Math.max(0, Math.min(t, this.duration));
    this._since = performance.now();
    this.dispatchEvent(new Event('seek'));
  }

  setRate(rate) {
    this._rebase();
    this.rate = rate;
    this.dispatchEvent(new Event('change'));
  }
}

export class Follower {
  constructor(element, track) {
    this.element = element;
    this.track = track; // {offset_s, duration_s, ...}
    this.drift = 0;
  }

  // The element's position for master time `t`, or null when the track is not on then.
  wanted(t) {
    const local = t - this.track.offset_s;
    if (local < 0 || local >= this.track.duration_s) return null;
    return local;
  }

  waiting(t, clock) {
    const el = this.element;
    return clock.playing && this.wanted(t) !== null && !el.seeking && el.readyState < 3;
  }

  follow(t, clock) {
    const el = this.element;
    const want = this.wanted(t);
    if (want === null) {
      this.drift = 0;
      if (!el.paused) el.pause();
      return;
    }
    this.drift = el.currentTime - want;
    if (!clock.playing) {
      if (!el.paused) el.pause();
      if (Math.abs(this.drift) > 0.05 && !el.seeking) el.currentTime = want;
      return;
    }
    if (Math.abs(this.drift) > SEEK_DRIFT_S) {
      if (!el.seeking) el.currentTime = want + 0.05 * clock.rate; // where it will be once there
      el.playbackRate = clock.rate;
    } else if (Math.abs(this.drift) > CALM_DRIFT_S) {
      const most = Math.abs(this.drift) > CATCH_UP_DRIFT_S ? MAX_CATCH_UP : MAX_NUDGE;
      const nudge = Math.max(-most, Math.min(most, -this.drift * 2));
      el.playbackRate = clock.rate * (1 + nudge);
    } else {
      el.playbackRate = clock.rate;
    }
    if (el.paused) el.play().catch(() => {});
  }
}

// Keeps `followers` on `clock`; returns a function that stops it.
export function keepInSync(clock, followers, onTick) {
  const tick = () => {
    const t = clock.now();
    clock.hold(followers.some((f) => f.waiting(t, clock)));
    for (const f of followers) f.follow(clock.now(), clock);
    if (clock.playing && t >= clock.duration) clock.pause();
    onTick?.(clock.now());
  };
  const reseek = () => {
    const t = clock.now();
    for (const f of followers) {
      const want = f.wanted(t);
      if (want !== null) f.element.currentTime = want;
    }
    tick();
  };
  clock.addEventListener('seek', reseek);
  clock.addEventListener('change', tick);
  const timer = setInterval(tick, TICK_MS);
  return () => {
    clearInterval(timer);
    clock.removeEventListener('seek', reseek);
    clock.removeEventListener('change', tick);
  };
}
