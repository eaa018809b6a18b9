// The session room page: the pre-join screen, then the live session view.
//
// All the signaling and WebRTC work is in bridge-protocol.js; this module only turns the
// client's state and events into the page, and the user's clicks into client calls.

import { BridgeClient, bridgeUrl } from "./bridge-protocol.js";
import { LevelMeter, fillSelect, listDevices, mediaErrorText, openMedia } from "./room-devices.js";

const $ = (id) => document.getElementById(id);

const ENDED_TEXT = {
  removed: "Bạn đã được người chủ trì mời ra khỏi phiên.",
  left: "Bạn đã rời phiên.",
  closed: "Đã ngắt kết nối khỏi phiên.",
  replaced: "Phiên đã được mở ở một cửa sổ hoặc thiết bị khác; cửa sổ này đã ngắt kết nối.",
  "room-closed": "Phiên tiếp công dân đã kết thúc.",
};
const REFUSED_TEXT = {
  "not-live": "Phiên tiếp công dân chưa bắt đầu hoặc đã kết thúc.",
  "not-attendee": "Tài khoản của bạn không tham dự phiên tiếp công dân này.",
  "not-found": "Không có phiên tiếp công dân này.",
  removed: "Điểm cầu đã bị người chủ trì mời ra khỏi phiên.",
};
const FAILED_TEXT = {
  forbidden: "Bạn không có quyền thực hiện thao tác này.",
  "not-found": "Người tham dự này không còn trong phiên.",
  "bad-target": "Không thể thực hiện thao tác này với chính mình.",
  "not-joined": "Chưa vào phiên; đang thử lại.",
  internal: "Hệ thống gặp lỗi khi xử lý yêu cầu; hãy thử lại.",
  "bad-offer": "Không thiết lập được kết nối hình ảnh, âm thanh.",
};
const LEFT_TITLE = {
  left: "Bạn đã rời phiên",
  removed: "Bạn đã được mời ra khỏi phiên",
  "room-closed": "Phiên tiếp công dân đã kết thúc",
  refused: "Chưa vào được phiên",
};
const REJOINABLE = new Set(["left", "closed", "replaced", "refused"]);
const QUALITY_TEXT = { good: "Kết nối tốt", fair: "Kết nối trung bình", poor: "Kết nối kém" };
const LINK_TEXT = {
  new: "Đang kết nối…",
  connecting: "Đang kết nối…",
  connected: "Đã kết nối",
  disconnected: "Kết nối chập chờn…",
  failed: "Mất kết nối hình ảnh, đang thiết lập lại…",
  closed: "Đã ngắt kết nối",
};

// -- connection quality (from getStats figures) -------------------------------

/** "good", "fair" or "poor" from a slot's (or the bridge's) figures; null when unknown. */
export function quality(f) {
  if (!f || f.warming) return null;
  const loss = f.loss_pct ?? 0;
  const rtt = f.rtt_ms ?? 0;
  const jitter = f.jitter_ms ?? 0;
  const video = f.kind === "video";
  const fps = f.frame_rate;
  // A video frame spans several packets sent in a burst, so video jitter runs higher.
  const jitterLimit = video ? 50 : 30;
  if (loss > 5 || rtt > 400 || jitter > 2 * jitterLimit || (video && fps != null && fps < 5)) return "poor";
  if (loss > 1 || rtt > 200 || jitter > jitterLimit || (video && fps != null && fps < 12)) return "fair";
  return "good";
}

function figuresText(f) {
  const parts = [];
  if (f.rtt_ms != null) parts.push(`RTT ${f.rtt_ms} ms`);
  if (f.loss_pct != null) parts.push(`mất gói ${f.loss_pct}%`);
  if (f.jitter_ms != null) parts.push(`jitter ${f.jitter_ms} ms`);
  if (f.bitrate_kbps != null) parts.push(`${f.bitrate_kbps} kb/s`);
  if (f.frame_rate != null) parts.push(`${Math.round(f.frame_rate)} hình/giây`);
  return parts.join(" · ");
}

function showQuality(el, f) {
  const q = quality(f);
  el.hidden = q === null;
  if (q === null) return;
  el.className = `quality ${q}`;
  el.textContent = QUALITY_TEXT[q];
  el.title = figuresText(f);
}

/** The bridge's figures for what it receives from a participant, in the slot shape. */
function bridgeFigures(entry) {
  const inbound = entry?.inbound;
  const f = inbound?.camera ?? inbound?.microphone;
  if (!f) return null;
  const total = (f.packets_received ?? 0) + (f.packets_lost ?? 0);
  return {
    kind: inbound.camera ? "video" : "audio",
    loss_pct: total ? Math.round((1000 * (f.packets_lost ?? 0)) / total) / 10 : 0,
    jitter_ms: f.jitter_ms,
    bitrate_kbps: f.bitrate_kbps,
    frame_rate: inbound.camera ? f.frame_rate : null,
    rtt_ms: null,
  };
}

// -- the pre-join screen -----------------------------------------------------

class PreJoin {
  constructor(onJoin) {
    this.onJoin = onJoin;
    this.stream = null;
    this.meter = new LevelMeter($("prejoin-level"));
    this.cameraSelect = $("camera-select");
    this.microphoneSelect = $("microphone-select");
    this.cameraSelect.addEventListener("change", () => this.open());
    this.microphoneSelect.addEventListener("change", () => this.open());
    $("join-button").addEventListener("click", () => this.join());
  }

  async start() {
    await this.open();
    await this.refreshDevices();
    navigator.mediaDevices.addEventListener?.("devicechange", () => this.refreshDevices());
  }

  async open() {
    this.stream?.getTracks().forEach((t) => t.stop());
    const { stream, error } = await openMedia(this.cameraSelect.value, this.microphoneSelect.value);
    this.stream = stream;
    const message = $("prejoin-error");
    message.hidden = !error;
    message.textContent = error ? mediaErrorText(error) : "";
    $("preview").srcObject = stream;
    $("preview-empty").hidden = stream.getVideoTracks().length > 0;
    this.meter.attach(stream.getAudioTracks()[0]);
    $("join-button").disabled = false;
  }

  async refreshDevices() {
    const { cameras, microphones } = await listDevices();
    const current = (kind) => this.stream?.[kind]()[0]?.getSettings().deviceId;
    fillSelect(this.cameraSelect, cameras, current("getVideoTracks"), "Không có camera");
    fillSelect(this.microphoneSelect, microphones, current("getAudioTracks"), "Không có micro");
  }

  join() {
    this.meter.detach();
    $("join-button").disabled = true;
    this.onJoin(this.stream);
  }
}

// -- the session view ----------------------------------------------------------

class SessionView {
  constructor(client, stream) {
    this.client = client;
    this.stream = stream;
    this.tiles = new Map(); // slot name → <figure>
    this.audio = new Map(); // slot name → <audio>
    this.items = new Map(); // participant id → its list item and the parts that change
    this.ended = null;
    this.selfMeter = new LevelMeter($("self-level"));
    this._toastTimer = 0;
  }

  show() {
    $("prejoin").hidden = true;
    $("session").hidden = false;
    $("self-video").srcObject = this.stream;
    this.selfMeter.attach(this.stream.getAudioTracks()[0]);
    this.tiles.set("main", $("main-tile"));
    this.tiles.set("screen", $("screen-tile"));
    this._bindControls();
    this._listen();
    this._updateButtons();
  }

  _listen() {
    const c = this.client;
    const on = (type, fn) => c.addEventListener(type, (ev) => fn.call(this, ev.detail));
    on("tracks", this._onTracks);
    on("slots", this._renderSlots);
    on("participants", this._renderAll);
    on("floor", this._renderAll);
    on("mute", this._renderAll);
    on("pin", this._renderAll);
    on("speaker", this._renderAll);
    on("localmute", this._onLocalMute);
    on("recording", this._renderRecording);
    on("agenda", this._renderAgenda);
    on("stats", this._renderQuality);
    on("bridgestats", this._renderQuality);
    on("connection", this._renderLink);
    on("reconnecting", () => this._renderReconnecting(true));
    on("joined", () => this._renderReconnecting(false));
    on("screen", this._updateButtons);
    on("failed", this._onFailed);
    on("ended", this._onEnded);
  }

  // -- tiles and tracks --

  _onTracks({ slots }) {
    for (const s of slots) {
      const track = this.client.trackOf(s.mid);
      if (s.kind === "audio") this._audioSink(s.slot).srcObject = new MediaStream([track]);
      else this._tile(s.slot).querySelector("video").srcObject = new MediaStream([track]);
    }
  }

  _tile(name) {
    let tile = this.tiles.get(name);
    if (!tile) {
      tile = $("main-tile").cloneNode(true);
      tile.id = `${name}-tile`;
      tile.className = "tile thumbnail";
      tile.dataset.slot = name;
      tile.hidden = true;
      $("thumbnails").append(tile);
      this.tiles.set(name, tile);
    }
    return tile;
  }

  _audioSink(name) {
    let el = this.audio.get(name);
    if (!el) {
      el = document.createElement("audio");
      el.autoplay = true;
      el.dataset.slot = name;
      $("audio-sinks").append(el);
      this.audio.set(name, el);
    }
    return el;
  }

  _renderSlots() {
    for (const s of this.client.slots.values()) {
      if (s.kind === "video") this._renderTile(this._tile(s.slot), s);
    }
    this._renderAll();
  }

  _renderTile(tile, s) {
    const p = this.client.participants.get(s.participant_id);
    const empty = !s.participant_id;
    tile.classList.toggle("empty", empty);
    tile.dataset.participant = s.participant_id ?? "";
    if (s.slot !== "main") tile.hidden = empty;
    setText(tile.querySelector(".tile-name"), p ? p.display_name : "");
    tile.querySelector(".tile-name").title = p ? p.display_name : "";
    if (s.slot === "main" || s.slot.startsWith("thumbnail")) {
      setText(tile.querySelector(".tile-flag"), this._flag(s.participant_id, p));
    }
    const video = tile.querySelector("video");
    if (!empty && video.paused) video.play().catch(() => {});
  }

  _flag(pid, p) {
    if (!pid) return "";
    const flags = [];
    if (pid === this.client.floor) flags.push("Đang được trao lời");
    else if (pid === this.client.dominantSpeaker) flags.push("Đang nói");
    if (p?.microphone_muted) flags.push("Micro tắt");
    if (p?.state === "away") flags.push("Mất kết nối");
    return flags.join(" · ");
  }

  // -- everything that depends on the participants --

  _renderAll() {
    for (const s of this.client.slots.values()) {
      if (s.kind === "video") this._renderTile(this._tile(s.slot), s);
    }
    this._renderParticipants();
    this._renderChair();
    this._updateButtons();
  }

  /** The list is updated in place, keyed by participant id: `slots` and `speaker` messages
   * come several times a second with four endpoints talking, and a list rebuilt on each one
   * moved the chair's buttons away from under the pointer (issue 10). Only what changed is
   * touched; an item's buttons stay the same elements for as long as it is listed. */
  _renderParticipants() {
    const c = this.client;
    const list = [...c.participants.values()].sort(byRole);
    setText($("participant-count"), `(${list.length})`);
    const ul = $("participants");
    const keep = new Set(list.map((p) => p.participant_id));
    for (const [pid, item] of this.items) {
      if (!keep.has(pid)) {
        item.li.remove();
        this.items.delete(pid);
      }
    }
    list.forEach((p, i) => {
      let item = this.items.get(p.participant_id);
      if (item && item.chairable !== this._chairable(p.participant_id)) {
        item.li.remove(); // the seat became known after the list was first drawn
        item = null;
      }
      if (!item) {
        item = this._participantItem(p.participant_id);
        this.items.set(p.participant_id, item);
      }
      this._updateItem(item, p);
      if (ul.children[i] !== item.li) ul.insertBefore(item.li, ul.children[i] ?? null);
    });
  }

  _chairable(pid) {
    return Boolean(this.client.mayChair) && pid !== this.client.participantId;
  }

  /** One list item's fixed structure; its buttons read the room's state when clicked. */
  _participantItem(pid) {
    const c = this.client;
    const li = document.createElement("li");
    li.dataset.participant = pid;
    const name = el("span", "p-name");
    const q = el("span", "quality");
    const badges = el("span", "p-badges");
    li.append(el("div", "p-line", name, q), badges);
    const item = { li, name, badges, badgeKey: "", actions: null, chairable: this._chairable(pid) };
    if (item.chairable) {
      const floor = button("Trao lời", "give-floor", () => c.giveFloor(c.floor === pid ? null : pid));
      const mute = button("Tắt micro", "mute-participant", () => c.muteParticipant(pid));
      const pin = button("Ghim", "pin", () => c.pin(pid, !c.pinned.includes(pid)));
      const remove = button("Mời ra", "remove", () => {
        const p = c.participants.get(pid);
        if (p && confirm(`Mời "${p.display_name}" ra khỏi phiên? Điểm cầu này sẽ không vào lại được.`)) c.removeParticipant(pid);
      });
      item.actions = { floor, mute, pin };
      li.append(el("div", "p-actions", floor, mute, pin, remove));
    }
    return item;
  }

  _updateItem(item, p) {
    const c = this.client;
    const pid = p.participant_id;
    setText(item.name, p.display_name + (pid === c.participantId ? " (bạn)" : ""));
    const away = p.state === "away";
    if (item.li.classList.contains("away") !== away) item.li.classList.toggle("away", away);
    const flags = [
      p.is_central && ["central", "Trung tâm"],
      p.may_chair && ["", "Điều hành"],
      pid === c.floor && ["floor", "Được trao lời"],
      p.microphone_muted && ["off", "Micro tắt"],
      p.camera_muted && ["off", "Camera tắt"],
      p.screen && ["", "Chia sẻ màn hình"],
      away && ["warn", "Mất kết nối"],
    ].filter(Boolean);
    const key = JSON.stringify(flags);
    if (key !== item.badgeKey) {
      item.badgeKey = key;
      item.badges.replaceChildren(...flags.map(([cls, text]) => el("span", `badge ${cls}`.trim(), text)));
    }
    showQuality(item.li.querySelector(".quality"), this._participantFigures(pid));
    const a = item.actions;
    if (!a) return;
    setText(a.floor, pid === c.floor ? "Thu hồi lời" : "Trao lời");
    if (a.mute.disabled !== Boolean(p.microphone_muted)) a.mute.disabled = Boolean(p.microphone_muted);
    const pinnable = !p.is_central && Boolean(c.me?.is_central);
    if (a.pin.hidden === pinnable) a.pin.hidden = !pinnable;
    setText(a.pin, c.pinned.includes(pid) ? "Bỏ ghim" : "Ghim");
  }

  /** What we know of one participant's link: our getStats of the slot showing it, else
   * the bridge's figures for what it receives from that participant, else ours outbound. */
  _participantFigures(pid) {
    const c = this.client;
    if (pid === c.participantId) {
      const out = c.figures.outbound.camera ?? c.figures.outbound.microphone;
      return out ? { kind: "audio", rtt_ms: out.rtt_ms, loss_pct: lossPct(out.fraction_lost), bitrate_kbps: out.bitrate_kbps } : null;
    }
    const shown = Object.values(c.figures.slots).filter((f) => f.participant_id === pid);
    return shown.find((f) => f.kind === "video") ?? shown[0] ?? bridgeFigures(c.bridgeFigures[pid]);
  }

  _renderChair() {
    const c = this.client;
    $("chair-panel").hidden = !c.mayChair;
    $("recording-button").textContent = c.recording ? "Dừng ghi hình" : "Bắt đầu ghi hình";
    $("recording-button").classList.toggle("danger", c.recording);
    $("floor-back-button").hidden = !c.floor;
    $("floor-self").hidden = !c.floor || c.floor !== c.participantId;
  }

  _renderRecording({ active }) {
    $("recording-indicator").hidden = !active;
    this._renderChair();
  }

  _renderAgenda({ item }) {
    $("agenda-text").textContent = item ? agendaText(item) : "Chưa bắt đầu vụ việc nào";
    const current = item?.item_id != null ? String(item.item_id) : null;
    for (const li of $("agenda-list").children) {
      const on = li.dataset.itemId === current;
      li.classList.toggle("current", on);
      if (on) li.setAttribute("aria-current", "step");
      else li.removeAttribute("aria-current");
    }
  }

  /** Figures change every second: update the indicators in place, so that the list's
   * buttons are not rebuilt under the user's pointer (or keyboard focus). */
  _renderQuality() {
    for (const tile of this.tiles.values()) {
      const f = this.client.figures.slots[tile.dataset.slot];
      showQuality(tile.querySelector(".quality"), tile.dataset.participant ? f : null);
    }
    for (const li of $("participants").children) {
      showQuality(li.querySelector(".quality"), this._participantFigures(li.dataset.participant));
    }
  }

  _renderLink({ state }) {
    $("link-state").textContent = LINK_TEXT[state] ?? state;
    $("link-state").dataset.state = state;
  }

  _renderReconnecting(on) {
    $("reconnect-banner").hidden = !on;
    if (!on) {
      if ($("link-state").dataset.state === "lost") this._renderLink({ state: "connecting" });
      return;
    }
    $("link-state").textContent = "Mất kết nối";
    $("link-state").dataset.state = "lost";
  }

  // -- the user's own controls --

  _bindControls() {
    const c = this.client;
    $("mic-button").addEventListener("click", () => this._toggle("microphone"));
    $("camera-button").addEventListener("click", () => this._toggle("camera"));
    $("screen-button").addEventListener("click", () => this._toggleScreen());
    $("leave-button").addEventListener("click", () => c.leave());
    $("recording-button").addEventListener("click", () => c.setRecording(!c.recording));
    $("agenda-next-button").addEventListener("click", () => c.agendaNext());
    $("floor-back-button").addEventListener("click", () => c.giveFloor(null));
  }

  _toggle(source) {
    const track = this.client.local[source];
    if (!track) return this._toast(source === "camera" ? "Không có camera." : "Không có micro.");
    this.client.setMuted(source, track.enabled);
    this._updateButtons();
  }

  async _toggleScreen() {
    if (this.client.local.screen) return this.client.shareScreen(null);
    try {
      const display = await navigator.mediaDevices.getDisplayMedia({ video: { frameRate: { ideal: 10 } } });
      await this.client.shareScreen(display.getVideoTracks()[0]);
    } catch (err) {
      if (err?.name !== "NotAllowedError") this._toast("Không chia sẻ được màn hình.");
    }
  }

  _onLocalMute({ source, muted, by }) {
    if (muted && by && by !== this.client.participantId) {
      this._toast(source === "microphone" ? "Người chủ trì đã tắt micro của bạn." : "Người chủ trì đã tắt camera của bạn.");
    }
    this._updateButtons();
  }

  _updateButtons() {
    const { microphone, camera, screen } = this.client.local;
    setPressed($("mic-button"), microphone && !microphone.enabled, "Bật micro", "Tắt micro");
    setPressed($("camera-button"), camera && !camera.enabled, "Bật camera", "Tắt camera");
    setPressed($("screen-button"), Boolean(screen), "Dừng chia sẻ", "Chia sẻ màn hình");
    $("screen-button").disabled = !navigator.mediaDevices.getDisplayMedia;
    const screenSlot = this.client.slot("screen");
    $("screen-tile").hidden = !screenSlot?.participant_id;
  }

  _onFailed({ code, message }) {
    this._toast(FAILED_TEXT[code] ?? `Yêu cầu không thực hiện được (${code}: ${message}).`);
  }

  /** The session view gives way to a calm page saying what happened, with "Vào lại phiên"
   * when coming back is possible (not after being removed, nor once the session ended). */
  _onEnded({ reason, code, message }) {
    this.ended = reason;
    const text = reason === "refused" ? message || REFUSED_TEXT[code] || "Không vào được phiên." : ENDED_TEXT[reason] ?? "Đã ngắt kết nối khỏi phiên.";
    this.selfMeter.detach();
    this.stream.getTracks().forEach((t) => t.stop());
    for (const b of document.querySelectorAll(".controls button, .chair-panel button, .p-actions button")) b.disabled = true;
    for (const v of document.querySelectorAll("#session video, #session audio")) v.srcObject = null;
    this.items.clear();
    $("participants").replaceChildren(); // oneself is no longer in the room
    $("session").hidden = true;
    $("left-title").textContent = LEFT_TITLE[reason] ?? "Đã ngắt kết nối khỏi phiên";
    $("left-text").textContent = reason === "left" ? "Micro và camera của bạn đã tắt. Bạn có thể vào lại khi phiên còn diễn ra." : text;
    $("rejoin-button").hidden = !REJOINABLE.has(reason);
    $("left").hidden = false;
  }

  _toast(text) {
    const t = $("toast");
    t.textContent = text;
    t.hidden = false;
    clearTimeout(this._toastTimer);
    this._toastTimer = setTimeout(() => (t.hidden = true), 5000);
  }
}

// -- small DOM helpers ----------------------------------------------------------

function el(tag, className, ...children) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  node.append(...children);
  return node;
}

function button(text, action, onClick, disabled = false) {
  const b = el("button", "small", text);
  b.type = "button";
  b.dataset.action = action;
  b.disabled = disabled;
  b.addEventListener("click", onClick);
  return b;
}

/** Set a node's text only when it differs, so that an unchanged node is left alone. */
function setText(node, text) {
  if (node.textContent !== text) node.textContent = text;
}

function setPressed(b, pressed, onText, offText) {
  b.setAttribute("aria-pressed", String(Boolean(pressed)));
  setText(b, pressed ? onText : offText);
  b.classList.toggle("off", Boolean(pressed));
}

function byRole(a, b) {
  return Number(b.is_central) - Number(a.is_central) || a.display_name.localeCompare(b.display_name, "vi");
}

function lossPct(fraction) {
  return fraction == null ? null : Math.round(fraction * 1000) / 10;
}

function agendaText(item) {
  const code = item.case_code ?? item.code ?? "";
  const title = item.case_title ?? item.title ?? "";
  const names = Array.isArray(item.citizens) ? item.citizens.join(", ") : item.citizen ?? "";
  const head = [code, title].filter(Boolean).join(" – ");
  const pos = item.position != null ? `${item.position}. ` : "";
  return `${pos}${head}${names ? ` · Công dân: ${names}` : ""}`;
}

// -- start-up and the test hook ----------------------------------------------------

function testHook(client, view) {
  const slotsByName = () =>
    Object.fromEntries([...client.slots.values()].map((s) => [s.slot, { mid: s.mid, kind: s.kind, participant_id: s.participant_id, source: s.source }]));
  const framesDecoded = () =>
    Object.fromEntries(Object.entries(client.figures.slots).filter(([, f]) => f.kind === "video").map(([name, f]) => [name, f.frames_decoded ?? 0]));
  const videoOf = (name) => {
    const v = view.tiles.get(name)?.querySelector("video");
    return v ? { width: v.videoWidth, height: v.videoHeight, time: v.currentTime, paused: v.paused } : null;
  };
  return {
    client, // for debugging from the console
    joined: () => client.joined,
    participantId: () => client.participantId,
    mayChair: () => client.mayChair,
    participants: () => [...client.participants.values()].map((p) => ({ ...p })),
    slots: slotsByName,
    framesDecoded,
    figures: () => structuredClone(client.figures),
    recording: () => client.recording,
    reconnecting: () => client.reconnecting,
    floor: () => client.floor,
    agenda: () => client.agenda,
    ended: () => client.ended,
    video: videoOf,
    killSocket: () => client.dropSocket(),
    state: () => ({
      joined: client.joined,
      participantId: client.participantId,
      mayChair: client.mayChair,
      participants: [...client.participants.values()].map((p) => ({ ...p })),
      slots: slotsByName(),
      framesDecoded: framesDecoded(),
      recording: client.recording,
      reconnecting: client.reconnecting,
      floor: client.floor,
      ended: client.ended,
      connection: client.pc?.connectionState ?? null,
      mainVideo: videoOf("main"),
    }),
  };
}

function iceServers(root) {
  try {
    return JSON.parse(root.dataset.iceServers || "[]");
  } catch {
    return [];
  }
}

function main() {
  const root = $("room");
  const preJoin = new PreJoin((stream) => {
    const client = new BridgeClient({ url: bridgeUrl(root.dataset.sessionId), iceServers: iceServers(root) });
    const view = new SessionView(client, stream);
    view.show();
    window.tiepdanRoom = testHook(client, view);
    client.start({ microphone: stream.getAudioTracks()[0] ?? null, camera: stream.getVideoTracks()[0] ?? null });
  });
  window.tiepdanRoom = { joined: () => false, state: () => ({ joined: false, prejoin: true }) };
  preJoin.start();
}

main();
