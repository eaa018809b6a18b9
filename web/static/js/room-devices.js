// Local media for the room page: picking a camera and a microphone, and a level meter.
// No signaling here; session-room.js hands the chosen tracks to the bridge client.

// 960×540 is sharp enough for the main picture and light enough for a district link.
export const VIDEO_CONSTRAINTS = { width: { ideal: 960 }, height: { ideal: 540 }, frameRate: { ideal: 24, max: 30 } };
export const AUDIO_CONSTRAINTS = { echoCancellation: true, noiseSuppression: true, autoGainControl: true };

/** Vietnamese text for a getUserMedia failure. */
export function mediaErrorText(err) {
  const byName = {
    NotAllowedError: "Trình duyệt không cho phép dùng camera hoặc micro. Hãy cấp quyền rồi tải lại trang.",
    NotFoundError: "Không tìm thấy camera hoặc micro trên máy này.",
    NotReadableError: "Camera hoặc micro đang được một chương trình khác sử dụng.",
    OverconstrainedError: "Thiết bị đã chọn không còn hoạt động; hãy chọn thiết bị khác.",
  };
  return byName[err?.name] ?? `Không mở được camera hoặc micro (${err?.name ?? err}).`;
}

/** Open the chosen devices (ids may be empty: the browser's default). Falls back to sound
 * only, then to nothing, so that a broken camera does not keep a district out of the session. */
export async function openMedia(cameraId, microphoneId) {
  const video = { ...VIDEO_CONSTRAINTS, ...(cameraId ? { deviceId: { exact: cameraId } } : {}) };
  const audio = { ...AUDIO_CONSTRAINTS, ...(microphoneId ? { deviceId: { exact: microphoneId } } : {}) };
  try {
    return { stream: await navigator.mediaDevices.getUserMedia({ video, audio }), error: null };
  } catch (err) {
    try {
      const stream = await navigator.mediaDevices.getUserMedia({ audio });
      return { stream, error: err };
    } catch {
      return { stream: new MediaStream(), error: err };
    }
  }
}

/** The cameras and microphones, labelled (labels need a granted permission first). */
export async function listDevices() {
  const devices = await navigator.mediaDevices.enumerateDevices();
  const named = (kind, fallback) =>
    devices
      .filter((d) => d.kind === kind && d.deviceId)
      .map((d, i) => ({ id: d.deviceId, label: d.label || `${fallback} ${i + 1}` }));
  return { cameras: named("videoinput", "Camera"), microphones: named("audioinput", "Micro") };
}

/** Fill a <select> with devices, keeping `selected` chosen when it is still there. */
export function fillSelect(select, devices, selected, emptyText) {
  select.replaceChildren(
    ...devices.map((d) => new Option(d.label, d.id, false, d.id === selected)),
  );
  if (devices.length === 0) select.append(new Option(emptyText, "", true, true));
  select.disabled = devices.length === 0;
}

/** A microphone level meter: WebAudio AnalyserNode → RMS in dBFS → a bar's width. */
export class LevelMeter {
  constructor(bar) {
    this.bar = bar;
    this.ctx = null;
    this.source = null;
    this.analyser = null;
    this.level = 0; // 0..1
    this._frame = 0;
    this._samples = null;
  }

  attach(track) {
    this.detach();
    if (!track) return;
    this.ctx ??= new AudioContext();
    this.ctx.resume().catch(() => {});
    this.source = this.ctx.createMediaStreamSource(new MediaStream([track]));
    this.analyser = this.ctx.createAnalyser();
    this.analyser.fftSize = 1024;
    this._samples = new Float32Array(this.analyser.fftSize);
    this.source.connect(this.analyser);
    this._tick();
  }

  detach() {
    cancelAnimationFrame(this._frame);
    this.source?.disconnect();
    this.source = this.analyser = null;
    this._show(0);
  }

  _tick() {
    if (!this.analyser) return;
    this.analyser.getFloatTimeDomainData(this._samples);
    let sum = 0;
    for (const x of this._samples) sum += x * x;
    const rms = Math.sqrt(sum / this._samples.length);
    const dbfs = 20 * Math.log10(rms || 1e-8);
    // −60 dBFS (quiet room) … 0 dBFS (clipping), with a fast attack and a slow release.
    const target = Math.min(1, Math.max(0, (dbfs + 60) / 60));
    this.level = target > this.level ? target : this.level * 0.9 + target * 0.1;
    this._show(this.level);
    this._frame = requestAnimationFrame(() => this._tick());
  }

  _show(level) {
    if (!this.bar) return;
    this.bar.style.width = `${Math.round(level * 100)}%`;
    this.bar.dataset.level = String(Math.round(level * 100));
  }
}
