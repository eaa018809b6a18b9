// The readiness check page (/readiness/check): the endpoint's own camera and microphone go
// to the bridge's test room and come back (loopback); for at least the configured time the
// page measures what comes back (getStats of the received media), then, still in the test
// room, posts its figures to POST /api/v1/endpoints/{id}/readiness-checks. The server judges
// what the bridge itself measured of this media (the page's figures are kept beside, never
// decisive), so the page leaves the room only once it has the verdict.

import { BridgeClient } from "./bridge-protocol.js";
import { formatNumber } from "./numbers.js";
import { LevelMeter, fillSelect, listDevices, mediaErrorText, openMedia } from "./room-devices.js";

const $ = (id) => document.getElementById(id);
const root = $("check");
const endpointId = root.dataset.endpointId;
const CHECK_MS = Number(root.dataset.checkSeconds) * 1000;
const MEDIA_TIMEOUT_MS = Number(root.dataset.mediaTimeoutSeconds) * 1000;
const SAMPLE_MS = 500;

/** The WebSocket address of the endpoint's test room. */
export function readinessBridgeUrl(id, loc = window.location) {
  const scheme = loc.protocol === "https:" ? "wss:" : "ws:";
  return `${scheme}//${loc.host}/api/v1/endpoints/${encodeURIComponent(id)}/readiness-bridge`;
}

function jsonData(name, fallback) {
  try {
    return JSON.parse(root.dataset[name] || "");
  } catch {
    return fallback;
  }
}

const num = formatNumber;

// -- measuring: samples of getStats, reduced to the figures the server judges ------------

/** One getStats sample of the received video and audio and the transport. */
export function sampleOf(report, at) {
  const s = { at, video: null, audio: null, rtt: null };
  for (const x of report.values()) {
    if (x.type === "inbound-rtp" && x.kind === "video" && (!s.video || x.framesDecoded > s.video.framesDecoded)) s.video = x;
    else if (x.type === "inbound-rtp" && x.kind === "audio" && (!s.audio || x.packetsReceived > s.audio.packetsReceived)) s.audio = x;
    else if (x.type === "candidate-pair" && x.nominated && x.state === "succeeded" && x.currentRoundTripTime != null) s.rtt = x.currentRoundTripTime * 1000;
  }
  return s;
}

/** The figures over a window of samples (first … last). */
export function figuresOver(samples) {
  const first = samples[0];
  const last = samples[samples.length - 1];
  const seconds = Math.max(0.001, (last.at - first.at) / 1000);
  const v0 = first.video ?? {};
  const v1 = last.video ?? {};
  const a0 = first.audio ?? {};
  const a1 = last.audio ?? {};
  const got = (v1.packetsReceived ?? 0) - (v0.packetsReceived ?? 0) + (a1.packetsReceived ?? 0) - (a0.packetsReceived ?? 0);
  const lost = Math.max(0, (v1.packetsLost ?? 0) - (v0.packetsLost ?? 0) + (a1.packetsLost ?? 0) - (a0.packetsLost ?? 0));
  const rtts = samples.map((s) => s.rtt).filter((x) => x != null);
  const jitters = samples.map((s) => s.video?.jitter).filter((x) => x != null);
  const bytes = (v1.bytesReceived ?? 0) - (v0.bytesReceived ?? 0) + (a1.bytesReceived ?? 0) - (a0.bytesReceived ?? 0);
  const energy = (a1.totalAudioEnergy ?? 0) - (a0.totalAudioEnergy ?? 0);
  const loudest = Math.max(0, ...samples.map((s) => s.audio?.audioLevel ?? 0));
  // getStats' level of a received track, or else the WebAudio meter on it (0..1, −60 dBFS up).
  const metered = Math.max(0, ...samples.map((s) => s.meter ?? 0));
  const mean = (xs) => (xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : 0);
  return {
    rtt_ms: round(mean(rtts), 1),
    loss_pct: got + lost > 0 ? round((100 * lost) / (got + lost), 2) : 100,
    jitter_ms: round(mean(jitters) * 1000, 1),
    bitrate_kbps: round((bytes * 8) / 1000 / seconds, 1),
    fps: round(((v1.framesDecoded ?? 0) - (v0.framesDecoded ?? 0)) / seconds, 1),
    width: v1.frameWidth ?? 0,
    height: v1.frameHeight ?? 0,
    audio_level_seen: energy > 0 || loudest > 0.001 || metered > 0.1,
  };
}

/** Fills the column `prefix` ("fig": the browser's, "bridge": the bridge's); null: "–". */
function showFigures(prefix, f) {
  const put = (name, text) => {
    $(`${prefix}-${name}`).textContent = f ? text : "–";
  };
  put("rtt", `${num(f?.rtt_ms)} ms`);
  put("loss", `${num(f?.loss_pct, 1)}%`);
  put("jitter", `${num(f?.jitter_ms, 1)} ms`);
  put("bitrate", `${num(f?.bitrate_kbps)} kbit/s`);
  put("fps", num(f?.fps, 1));
  put("resolution", `${f?.width}×${f?.height}`);
  put("audio", f?.audio_level_seen ? "Có tiếng" : "Chưa nghe thấy tiếng");
}

function round(x, digits) {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}

// -- the page ---------------------------------------------------------------------------

class CheckPage {
  constructor() {
    this.stream = null;
    this.client = null;
    this.meter = new LevelMeter($("level"));
    this.returnedMeter = new LevelMeter(null); // the sound that came back, measured in WebAudio
    this.returnedPeak = 0;
    this.samples = [];
    this.phase = "idle"; // idle → connecting → measuring → saving → done
    this.figures = null;
    this.result = null;
    this.error = null;
    this._timers = [];
    $("camera-select").addEventListener("change", () => this.open());
    $("microphone-select").addEventListener("change", () => this.open());
    $("start-button").addEventListener("click", () => this.start());
  }

  async init() {
    await this.open();
    const { cameras, microphones } = await listDevices();
    const current = (kind) => this.stream?.[kind]()[0]?.getSettings().deviceId;
    fillSelect($("camera-select"), cameras, current("getVideoTracks"), "Không có camera");
    fillSelect($("microphone-select"), microphones, current("getAudioTracks"), "Không có micro");
    $("start-button").disabled = false;
  }

  async open() {
    this.stream?.getTracks().forEach((t) => t.stop());
    const { stream, error } = await openMedia($("camera-select").value, $("microphone-select").value);
    this.stream = stream;
    $("device-error").hidden = !error;
    $("device-error").textContent = error ? mediaErrorText(error) : "";
    $("preview").srcObject = stream;
    $("preview-empty").hidden = stream.getVideoTracks().length > 0;
    this.meter.attach(stream.getAudioTracks()[0]);
  }

  start() {
    this._reset();
    this._setPhase("connecting", "Đang kết nối tới cầu truyền hình…");
    $("start-button").disabled = true;
    $("camera-select").disabled = $("microphone-select").disabled = true;
    $("returned-empty").textContent = "Chưa nhận được hình";
    const client = new BridgeClient({ url: readinessBridgeUrl(endpointId), iceServers: jsonData("iceServers", []) });
    this.client = client;
    client.addEventListener("tracks", () => {
      this._attach();
      this._keepResolution();
    });
    client.addEventListener("slots", () => this._attach());
    client.addEventListener("ended", (ev) => {
      if (this.phase === "connecting" || this.phase === "measuring") {
        const d = ev.detail;
        this._fail(d.message || `cầu truyền hình đóng kết nối (${d.reason})`);
      }
    });
    client.start({
      microphone: this.stream.getAudioTracks()[0] ?? null,
      camera: this.stream.getVideoTracks()[0] ?? null,
    });
    this._timers.push(setTimeout(() => this._noMedia(), MEDIA_TIMEOUT_MS));
    this._timers.push(setInterval(() => this._sample(), SAMPLE_MS));
  }

  _reset() {
    this._timers.forEach((t) => clearTimeout(t) || clearInterval(t));
    this._timers = [];
    this.samples = [];
    this.figures = this.result = this.error = null;
    showFigures("bridge", null);
    $("verdict").hidden = true;
    $("progress-bar").style.width = "0%";
  }

  _attach() {
    const c = this.client;
    const main = c.slot("main");
    const audio = c.slot("audio0");
    const video = main?.participant_id ? c.trackOf(main.mid) : null;
    if (video && $("returned").srcObject?.getVideoTracks()[0] !== video) {
      $("returned").srcObject = new MediaStream([video]);
    }
    // The returned sound is played at volume 0: not heard (it would echo in the room), but
    // played, since Chrome measures a received track's audio level only while it plays out.
    const sound = audio?.participant_id ? c.trackOf(audio.mid) : null;
    const player = $("returned-audio");
    if (sound && player.srcObject?.getAudioTracks()[0] !== sound) {
      player.volume = 0;
      player.srcObject = new MediaStream([sound]);
      player.play().catch(() => {});
      this.returnedMeter.attach(sound);
    }
  }

  /** The check judges the camera's resolution: ask the encoder to keep it and give up frame
   * rate instead when the link is short (WebRTC otherwise starts small and scales up). */
  _keepResolution() {
    for (const sender of this.client?.pc?.getSenders() ?? []) {
      if (sender.track?.kind !== "video") continue;
      const params = sender.getParameters();
      params.degradationPreference = "maintain-resolution";
      sender.setParameters(params).catch(() => {});
    }
  }

  async _sample() {
    const pc = this.client?.pc;
    if (!pc || (this.phase !== "connecting" && this.phase !== "measuring")) return;
    let report;
    try {
      report = await pc.getStats();
    } catch {
      return;
    }
    const s = sampleOf(report, performance.now());
    s.meter = this.returnedMeter.level;
    if (this.phase === "connecting") {
      if ((s.video?.framesDecoded ?? 0) > 0 && $("returned").videoWidth > 0) {
        $("returned-empty").hidden = true;
        this.samples = [s];
        this._setPhase("measuring", "Đang đo chất lượng hình ảnh và âm thanh nhận lại…");
      }
      return;
    }
    this.samples.push(s);
    const elapsed = s.at - this.samples[0].at;
    $("progress-bar").style.width = `${Math.min(100, (100 * elapsed) / CHECK_MS)}%`;
    if (this.samples.length >= 2) this._show(figuresOver(this.samples));
    if (elapsed >= CHECK_MS) this._finish();
  }

  _show(f) {
    this.figures = f;
    showFigures("fig", f);
  }

  /** The bridge's figures, as the server stored them with the verdict. */
  _showBridge(stored) {
    const measured = stored?.measured_by === "bridge" && !stored.error;
    showFigures("bridge", measured ? stored : null);
    if (stored?.error) $("bridge-rtt").textContent = "Không nhận được hình, tiếng";
  }

  _noMedia() {
    if (this.phase !== "connecting") return;
    const seconds = Math.round(MEDIA_TIMEOUT_MS / 1000);
    this._fail(`sau ${seconds} giây vẫn không nhận lại được hình ảnh nào`);
  }

  _fail(reason) {
    this.error = reason;
    const nothing = { rtt_ms: 0, loss_pct: 100, jitter_ms: 0, bitrate_kbps: 0, fps: 0, width: 0, height: 0, audio_level_seen: false };
    this._save({ ...nothing, error: reason });
  }

  _finish() {
    this._save(figuresOver(this.samples));
  }

  async _save(figures) {
    this._timers.forEach((t) => clearTimeout(t) || clearInterval(t));
    this._timers = [];
    this._setPhase("saving", "Đang lưu kết quả kiểm tra…");
    // Still in the test room: the server reads what the bridge measured of this media now.
    const csrf = document.querySelector("input[name=csrf_token]")?.value ?? "";
    try {
      const resp = await fetch(`/api/v1/endpoints/${endpointId}/readiness-checks`, {
        method: "POST",
        headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf },
        body: JSON.stringify(figures),
      });
      const body = await resp.json();
      if (!resp.ok) throw new Error(body?.error?.message ?? body?.message ?? resp.statusText);
      this.result = body;
      this._showBridge(body.figures);
      this._verdict(body);
    } catch (err) {
      this._verdictText("error", "Không lưu được kết quả kiểm tra", String(err.message ?? err));
    }
    this.client?.leave();
    $("returned").srcObject = null;
    $("returned-empty").textContent = "Đã kết thúc kiểm tra";
    $("returned-empty").hidden = false;
    this._setPhase("done", "Kiểm tra xong. Có thể kiểm tra lại bất cứ lúc nào.");
    $("start-button").disabled = false;
    $("start-button").textContent = "Kiểm tra lại";
    $("camera-select").disabled = $("microphone-select").disabled = false;
  }

  _verdict(body) {
    // The result now stands on each session it counts for.
    for (const id of body.session_ids) {
      const badge = document.querySelector(`tr[data-session-id="${id}"] .due-state`);
      if (badge) {
        badge.className = `badge due-state readiness-${body.state}`;
        badge.textContent = body.passed ? "Đạt" : "Không đạt";
      }
    }
    const sessions = body.session_ids.length;
    const counted = sessions ? ` Kết quả đã được ghi cho ${sessions} phiên sắp tới.` : "";
    if (body.passed) {
      this._verdictText("passed", "Đạt: điểm cầu sẵn sàng cho phiên tiếp công dân", `Kết nối đạt yêu cầu.${counted}`);
    } else {
      this._verdictText("failed", "Không đạt: cần khắc phục trước khi kiểm tra lại", `${body.failure_reason}${counted}`);
    }
  }

  _verdictText(kind, title, text) {
    const box = $("verdict");
    box.className = `verdict ${kind}`;
    $("verdict-title").textContent = title;
    $("verdict-text").textContent = text;
    box.hidden = false;
  }

  _setPhase(phase, text) {
    this.phase = phase;
    $("phase").textContent = text;
  }

  state() {
    const last = this.samples[this.samples.length - 1];
    const audio = last?.audio;
    return {
      phase: this.phase,
      figures: this.figures,
      result: this.result,
      error: this.error,
      samples: this.samples.length,
      audio: audio ? { packets: audio.packetsReceived, level: audio.audioLevel, energy: audio.totalAudioEnergy, meter: last.meter, local: this.meter.level } : null,
    };
  }
}

const page = new CheckPage();
window.tiepdanCheck = page;
page.init();
