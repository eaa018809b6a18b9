// The bridge's signaling protocol and the WebRTC side of the browser client.
//
// No user interface here (STYLE 12, like galene's protocol.js vs galene.js): this module
// speaks bridge/PROTOCOL.md over one WebSocket, answers the bridge's offers, feeds the local
// tracks into the publish transceivers, maps the receive slots to tracks, reconnects on its
// own and measures what it receives. The page listens to the events it dispatches.
//
// Events (all CustomEvents; `detail` says what changed):
//   joined        {participantId, resumed}       the bridge admitted us (again)
//   participants  {participants}                  someone joined, left, came back or changed
//   slots         {slots}                         which participant feeds each receive slot
//   tracks        {slots}                         a new peer connection: new slot tracks
//   floor         {participantId, by}
//   mute          {participantId, source, muted, by}
//   localmute     {source, muted, by}             our own track was muted (maybe by the chair)
//   pin           {participantId, pinned, by}
//   speaker       {participantId}
//   recording     {active, by}
//   agenda        {item}
//   screen        {active}                        our own screen share started / stopped
//   stats         {slots, outbound, rtt_ms}       figures from getStats, once per interval
//   bridgestats   {participants}                  the bridge's own figures (the `stats` reply)
//   connection    {state}                         the peer connection's state
//   reconnecting  {attempt, delay}                the WebSocket dropped; retrying
//   reconnected   {}                              joined again after a drop
//   failed        {code, message}                 a request failed (error from the bridge)
//   ended         {reason, code, message}         no more retries: refused, removed, left,
//                                                 replaced, room-closed

const BACKOFF_MS = [500, 1000, 2000, 4000, 8000];
const SILENT_SOCKET_MS = 15000; // nothing heard for this long while joined: the socket is dead
const DISCONNECTED_RESTART_MS = 5000; // ICE 'disconnected' this long: ask for a new connection
// Errors after which a retry would be wrong: the bridge does not want this connection back.
const FINAL_ERRORS = new Set(["replaced", "room-closed", "removed"]);

/** The WebSocket address of a session's bridge, ws:// or wss:// like the page itself. */
export function bridgeUrl(sessionId, loc = window.location) {
  const scheme = loc.protocol === "https:" ? "wss:" : "ws:";
  return `${scheme}//${loc.host}/api/v1/sessions/${encodeURIComponent(sessionId)}/bridge`;
}

export class BridgeClient extends EventTarget {
  /**
   * @param {object} options
   * @param {string} options.url              WebSocket address (see bridgeUrl)
   * @param {RTCIceServer[]} [options.iceServers]
   * @param {number} [options.statsIntervalMs]  getStats period (default 1000)
   * @param {number} [options.bridgeStatsIntervalMs]  `stats` request period (default 5000)
   */
  constructor({ url, iceServers = [], statsIntervalMs = 1000, bridgeStatsIntervalMs = 5000 }) {
    super();
    this.url = url;
    this.iceServers = iceServers;
    this.statsIntervalMs = statsIntervalMs;
    this.bridgeStatsIntervalMs = bridgeStatsIntervalMs;
    this._reset();
    this.local = { microphone: null, camera: null, screen: null };
    this.ws = null;
    this.pc = null;
    this.ended = null;
    this.reconnecting = false;
    this._attempt = 0;
    this._retryTimer = null;
    this._timers = [];
    this._offers = Promise.resolve(); // offers are handled one after another
    this._lastHeard = 0;
    this._disconnectedTimer = null;
  }

  _reset() {
    this.joined = false;
    this.participantId = null;
    this.participants = new Map(); // participant_id → description
    this.slots = new Map(); // mid → {mid, slot, kind, participant_id, endpoint_id, source}
    this.publishMids = {}; // source → mid
    this.floor = null;
    this.pinned = [];
    this.dominantSpeaker = null;
    this.recording = false;
    this.agenda = null;
    this.figures = { slots: {}, outbound: {}, rtt_ms: null };
    this.bridgeFigures = {};
    this._previous = new Map(); // stats id → the previous sample, for rates
  }

  // -- public API --------------------------------------------------------------

  /** Connect and join, publishing `tracks` ({microphone, camera}: MediaStreamTrack|null). */
  start(tracks = {}) {
    this.local.microphone = tracks.microphone ?? null;
    this.local.camera = tracks.camera ?? null;
    this._every(this.statsIntervalMs, () => this._collectStats());
    this._every(this.bridgeStatsIntervalMs, () => this._askBridgeStats());
    this._every(1000, () => this._watchSocket());
    this._open();
  }

  /** Our own participant description, once joined. */
  get me() {
    return this.participants.get(this.participantId) ?? null;
  }

  get mayChair() {
    return Boolean(this.me?.may_chair);
  }

  /** The receive slot named `name` ("main", "screen", "thumbnail0", "audio1", …). */
  slot(name) {
    for (const s of this.slots.values()) if (s.slot === name) return s;
    return null;
  }

  /** The MediaStreamTrack a slot (by mid) receives on, on the current peer connection. */
  trackOf(mid) {
    const t = this.pc?.getTransceivers().find((x) => x.mid === mid);
    return t ? t.receiver.track : null;
  }

  /** Mute or unmute our own microphone or camera (the track sends silence / black). */
  setMuted(source, muted) {
    const track = this.local[source];
    if (track) track.enabled = !muted;
    this._send({ type: "mute", source, muted });
  }

  /** Replace the camera or microphone track (another device) without renegotiation. */
  async replaceLocalTrack(source, track) {
    this.local[source] = track;
    await this._sender(source)?.replaceTrack(track);
  }

  /** Start sharing `track` (from getDisplayMedia) as the screen source; null stops it. */
  async shareScreen(track) {
    const old = this.local.screen;
    this.local.screen = track;
    if (old && old !== track) old.stop();
    await this._sender("screen")?.replaceTrack(track);
    if (track) track.addEventListener("ended", () => this.shareScreen(null), { once: true });
    this._send({ type: "publish", source: "screen", active: Boolean(track) });
    this._emit("screen", { active: Boolean(track) });
  }

  // Chair commands: the bridge checks the sender's role and answers `error` `forbidden`.
  giveFloor(participantId) {
    this._send({ type: "floor", participant_id: participantId });
  }

  muteParticipant(participantId, source = "microphone") {
    this._send({ type: "mute", source, muted: true, participant_id: participantId });
  }

  pin(participantId, pinned) {
    this._send({ type: "pin", participant_id: participantId, pinned });
  }

  removeParticipant(participantId) {
    this._send({ type: "remove", participant_id: participantId });
  }

  setRecording(active) {
    this._send({ type: "recording", active });
  }

  agendaNext() {
    this._send({ type: "agenda", action: "next" });
  }

  /** Leave at once (no grace period) and stop everything. */
  leave() {
    this._send({ type: "leave" });
    this._end("left", "left", "");
  }

  /** Stop everything without telling the bridge (the place is held for the grace period). */
  close() {
    this._end("closed", "closed", "");
  }

  /** Test hook: drop the WebSocket as a network failure would; the client must recover. */
  dropSocket() {
    this.ws?.close();
  }

  // -- the WebSocket -----------------------------------------------------------

  _open() {
    const ws = new WebSocket(this.url);
    this.ws = ws;
    ws.addEventListener("open", () => {
      this._lastHeard = Date.now();
      this._send({ type: "join" });
    });
    ws.addEventListener("message", (ev) => this._receive(ws, ev.data));
    ws.addEventListener("close", () => this._socketClosed(ws));
  }

  _send(message) {
    if (this.ws?.readyState === WebSocket.OPEN) this.ws.send(JSON.stringify(message));
  }

  _receive(ws, data) {
    if (ws !== this.ws) return; // a late message of a replaced socket
    this._lastHeard = Date.now();
    let message;
    try {
      message = JSON.parse(data);
    } catch {
      console.warn("bridge: message is not JSON", data);
      return;
    }
    const handler = HANDLERS[message?.type];
    if (handler) handler.call(this, message);
    else console.debug("bridge: unknown message type", message?.type);
  }

  _socketClosed(ws) {
    if (ws !== this.ws || this.ended) return;
    this.ws = null;
    this.joined = false;
    const delay = BACKOFF_MS[Math.min(this._attempt, BACKOFF_MS.length - 1)];
    this._attempt += 1;
    this.reconnecting = true;
    this._emit("reconnecting", { attempt: this._attempt, delay });
    clearTimeout(this._retryTimer);
    // Jitter spreads the endpoints out when a bridge restart drops them all at once.
    this._retryTimer = setTimeout(() => this._open(), delay * (0.75 + Math.random() / 2));
  }

  _watchSocket() {
    const quiet = Date.now() - this._lastHeard;
    if (this.joined && this.ws?.readyState === WebSocket.OPEN && quiet > SILENT_SOCKET_MS) {
      console.info("bridge: nothing heard for %d ms, reconnecting", quiet);
      this.ws.close();
    }
  }

  _askBridgeStats() {
    if (this.joined) this._send({ type: "stats" });
  }

  _every(ms, fn) {
    this._timers.push(setInterval(fn, ms));
  }

  _end(reason, code, message) {
    if (this.ended) return;
    this.ended = reason;
    this.reconnecting = false;
    this.joined = false;
    clearTimeout(this._retryTimer);
    clearTimeout(this._disconnectedTimer);
    this._timers.forEach(clearInterval);
    const ws = this.ws;
    this.ws = null;
    ws?.close();
    this.pc?.close();
    this.local.screen?.stop();
    this._emit("ended", { reason, code, message });
  }

  _emit(type, detail = {}) {
    this.dispatchEvent(new CustomEvent(type, { detail }));
  }

  // -- bridge → client handlers ------------------------------------------------

  _onJoined(m) {
    const resumed = this.reconnecting;
    this.joined = true;
    this.participantId = m.participant_id;
    this.participants = new Map(m.participants.map((p) => [p.participant_id, p]));
    this.floor = m.floor;
    this.pinned = m.pinned ?? [];
    this.dominantSpeaker = m.dominant_speaker;
    this.recording = Boolean(m.recording);
    this.agenda = m.agenda ?? null;
    this._attempt = 0;
    this.reconnecting = false;
    this._emit("joined", { participantId: this.participantId, resumed: m.resumed });
    this._emit("participants", { participants: [...this.participants.values()] });
    this._emit("floor", { participantId: this.floor, by: null });
    this._emit("recording", { active: this.recording, by: null });
    this._emit("agenda", { item: this.agenda });
    if (resumed) this._emit("reconnected", {});
  }

  _onOffer(m) {
    this._offers = this._offers
      .then(() => this._answer(m))
      .catch((err) => {
        console.error("bridge: could not answer the offer", err);
        this._emit("failed", { code: "bad-offer", message: String(err) });
      });
  }

  _onSlots(m) {
    for (const s of m.slots) this.slots.set(s.mid, { ...this.slots.get(s.mid), ...s });
    this._emit("slots", { slots: [...this.slots.values()] });
  }

  _onParticipant(m) {
    const { type, action, reason, ...description } = m;
    if (action === "left") this.participants.delete(description.participant_id);
    else this.participants.set(description.participant_id, description);
    this._emit("participants", { participants: [...this.participants.values()], action, reason });
  }

  _onMute(m) {
    const p = this.participants.get(m.participant_id);
    if (p) p[`${m.source}_muted`] = m.muted;
    if (m.participant_id === this.participantId) {
      const track = this.local[m.source];
      if (track) track.enabled = !m.muted;
      this._emit("localmute", { source: m.source, muted: m.muted, by: m.by });
    }
    this._emit("mute", { participantId: m.participant_id, source: m.source, muted: m.muted, by: m.by });
  }

  _onFloor(m) {
    this.floor = m.participant_id;
    this._emit("floor", { participantId: m.participant_id, by: m.by });
  }

  _onPin(m) {
    const rest = this.pinned.filter((p) => p !== m.participant_id);
    this.pinned = m.pinned ? [...rest, m.participant_id] : rest;
    this._emit("pin", { participantId: m.participant_id, pinned: m.pinned, by: m.by });
  }

  _onSpeaker(m) {
    this.dominantSpeaker = m.participant_id;
    this._emit("speaker", { participantId: m.participant_id });
  }

  _onRecording(m) {
    this.recording = Boolean(m.active);
    this._emit("recording", { active: this.recording, by: m.by });
  }

  _onAgenda(m) {
    this.agenda = m.item ?? null;
    this._emit("agenda", { item: this.agenda });
  }

  _onRemoved(m) {
    this._end("removed", "removed", m.by ?? "");
  }

  _onLeft() {
    this._end("left", "left", "");
  }

  _onStats(m) {
    this.bridgeFigures = m.participants ?? {};
    this._emit("bridgestats", { participants: this.bridgeFigures });
  }

  _onError(m) {
    if (m.refused) {
      this._end("refused", m.code, m.message);
    } else if (FINAL_ERRORS.has(m.code)) {
      this._end(m.code, m.code, m.message);
    } else {
      console.warn("bridge: %s refused: %s (%s)", m.request, m.code, m.message);
      this._emit("failed", { code: m.code, message: m.message, request: m.request });
    }
  }

  // -- the peer connection -----------------------------------------------------

  async _answer(offer) {
    if (this.ended) return;
    const pc = this._newPeer();
    await pc.setRemoteDescription({ type: "offer", sdp: offer.sdp });
    this.publishMids = offer.publish ?? {};
    const sources = Object.fromEntries(
      Object.entries(this.publishMids).map(([source, mid]) => [mid, source]),
    );
    for (const t of pc.getTransceivers()) {
      const source = sources[t.mid];
      if (source) {
        // Attach what we have; the screen m-line may stay empty until the user shares,
        // and replaceTrack later needs no renegotiation.
        await t.sender.replaceTrack(this.local[source] ?? null);
        t.direction = "sendonly";
      } else {
        t.direction = "recvonly";
      }
    }
    const answer = await pc.createAnswer();
    await pc.setLocalDescription(answer);
    this._send({ type: "answer", sdp: pc.localDescription.sdp });
    this._replacePeer(pc);
    // The bridge announces a new connection's assignments before its offer (and not at all
    // after a restart that kept them): keep what is known per mid.
    const known = this.slots;
    this.slots = new Map(offer.slots.map((s) => [s.mid, { ...EMPTY_SLOT, ...known.get(s.mid), ...s }]));
    this._emit("tracks", { slots: [...this.slots.values()] });
    this._emit("slots", { slots: [...this.slots.values()] });
    this._resendMuteState();
  }

  _newPeer() {
    const pc = new RTCPeerConnection({ iceServers: this.iceServers, bundlePolicy: "max-bundle" });
    pc.addEventListener("icecandidate", (ev) => {
      if (pc !== this.pc) return; // the answer was sent (and this.pc set) before any candidate
      const c = ev.candidate;
      const candidate = c ? { candidate: c.candidate, sdpMid: c.sdpMid, sdpMLineIndex: c.sdpMLineIndex } : null;
      this._send({ type: "ice", candidate });
    });
    pc.addEventListener("connectionstatechange", () => this._peerState(pc));
    return pc;
  }

  _replacePeer(pc) {
    const old = this.pc;
    this.pc = pc;
    this._previous.clear();
    if (old && old !== pc) old.close();
  }

  _peerState(pc) {
    if (pc !== this.pc) return;
    const state = pc.connectionState;
    this._emit("connection", { state });
    clearTimeout(this._disconnectedTimer);
    if (state === "failed") this._restart();
    else if (state === "disconnected") {
      this._disconnectedTimer = setTimeout(() => {
        if (pc === this.pc && pc.connectionState === "disconnected") this._restart();
      }, DISCONNECTED_RESTART_MS);
    }
  }

  _restart() {
    // A new peer connection from the bridge; the WebSocket still lives. Without a socket the
    // reconnection's join brings a new offer anyway.
    if (this.joined) this._send({ type: "restart" });
  }

  _resendMuteState() {
    // A disabled track is our own choice; say so again, the bridge keeps it per participant.
    for (const source of ["microphone", "camera"]) {
      const track = this.local[source];
      const known = this.me?.[`${source}_muted`];
      if (track && !track.enabled && !known) this._send({ type: "mute", source, muted: true });
    }
  }

  _sender(source) {
    const mid = this.publishMids[source];
    const t = this.pc?.getTransceivers().find((x) => x.mid === mid);
    return t ? t.sender : null;
  }

  // -- figures -----------------------------------------------------------------

  async _collectStats() {
    const pc = this.pc;
    if (!pc || pc.connectionState === "closed") return;
    let report;
    try {
      report = await pc.getStats();
    } catch {
      return;
    }
    if (pc !== this.pc) return;
    this.figures = figuresOf(report, this._slotsByTrack(pc), this.publishMids, this._previous);
    this._emit("stats", this.figures);
  }

  _slotsByTrack(pc) {
    const byTrack = new Map();
    const byMid = new Map();
    for (const t of pc.getTransceivers()) {
      const s = this.slots.get(t.mid);
      if (!s) continue;
      byTrack.set(t.receiver.track.id, s);
      byMid.set(t.mid, s);
    }
    return { byTrack, byMid };
  }
}

const EMPTY_SLOT = { participant_id: null, endpoint_id: null, source: null };

const HANDLERS = {
  joined: BridgeClient.prototype._onJoined,
  offer: BridgeClient.prototype._onOffer,
  slots: BridgeClient.prototype._onSlots,
  participant: BridgeClient.prototype._onParticipant,
  mute: BridgeClient.prototype._onMute,
  floor: BridgeClient.prototype._onFloor,
  pin: BridgeClient.prototype._onPin,
  speaker: BridgeClient.prototype._onSpeaker,
  recording: BridgeClient.prototype._onRecording,
  agenda: BridgeClient.prototype._onAgenda,
  removed: BridgeClient.prototype._onRemoved,
  left: BridgeClient.prototype._onLeft,
  stats: BridgeClient.prototype._onStats,
  error: BridgeClient.prototype._onError,
};

// -- getStats → figures (pure; kept apart so it can be read on its own) -----------

/** Per-slot receive figures, our outbound figures and the transport's round-trip time.
 * `previous` keeps the last sample per stats id to turn counters into rates. */
export function figuresOf(report, { byTrack, byMid }, publishMids, previous) {
  const stats = [...report.values()];
  const pair = stats.find((s) => s.type === "candidate-pair" && s.nominated && s.state === "succeeded");
  const rtt = pair?.currentRoundTripTime != null ? round(pair.currentRoundTripTime * 1000) : null;
  const slots = {};
  for (const s of stats.filter((x) => x.type === "inbound-rtp")) {
    const slot = byMid.get(s.mid) ?? byTrack.get(s.trackIdentifier);
    if (slot) slots[slot.slot] = inboundFigures(s, slot, rtt, previous);
  }
  const sources = Object.fromEntries(Object.entries(publishMids).map(([k, v]) => [v, k]));
  const outbound = {};
  for (const s of stats.filter((x) => x.type === "outbound-rtp")) {
    const source = sources[s.mid] ?? s.kind;
    const remote = report.get(s.remoteId);
    outbound[source] = {
      bitrate_kbps: rate(previous, s, "bytesSent", 8 / 1000),
      frame_rate: s.framesPerSecond ?? null,
      rtt_ms: remote?.roundTripTime != null ? round(remote.roundTripTime * 1000) : rtt,
      fraction_lost: remote?.fractionLost ?? null,
    };
    previous.set(s.id, s);
  }
  return { slots, outbound, rtt_ms: rtt };
}

function inboundFigures(s, slot, rtt, previous) {
  const before = previous.get(s.id);
  const received = s.packetsReceived - (before?.packetsReceived ?? 0);
  const lost = Math.max(0, (s.packetsLost ?? 0) - (before?.packetsLost ?? 0));
  const figures = {
    slot: slot.slot,
    mid: slot.mid,
    kind: slot.kind,
    participant_id: slot.participant_id,
    rtt_ms: rtt,
    loss_pct: received + lost > 0 ? round((100 * lost) / (received + lost), 1) : 0,
    jitter_ms: s.jitter != null ? round(s.jitter * 1000, 1) : null,
    bitrate_kbps: rate(previous, s, "bytesReceived", 8 / 1000),
    frame_rate: s.framesPerSecond ?? null,
    frames_decoded: s.framesDecoded ?? null,
    packets_received: s.packetsReceived,
    packets_lost: s.packetsLost ?? 0,
    // The first sample of a stream has no interval to judge by (rates unknown, a new
    // decoder still waiting for its key frame): the page should not call it poor yet.
    warming: !before,
  };
  previous.set(s.id, s);
  return figures;
}

function rate(previous, s, field, scale) {
  const before = previous.get(s.id);
  if (!before || s.timestamp <= before.timestamp) return null;
  const seconds = (s.timestamp - before.timestamp) / 1000;
  return round(((s[field] - before[field]) * scale) / seconds);
}

function round(x, digits = 0) {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}
