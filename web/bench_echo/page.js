// `tiepdan bench echo`: one page's side of the benchmark, evaluated into the page by the
// bench (Playwright). The page publishes the fake camera (640×480) and microphone and plays
// back what it gets of its own media: through tiepdan's readiness test room (loopback), with
// the app's own BridgeClient, or through Janus's echotest plugin over Janus's plain HTTP API
// (create a session, attach the plugin, send the offer, long-poll for the answer).
// `sample()` reduces getStats to the figures the bench compares; rates are taken by the
// bench between two samples.
(() => {
  const bench = {
    error: null,
    pc: null,
    camera: null,
    cameraFps: null,
    video: null,
  };

  async function openCamera() {
    const stream = await navigator.mediaDevices.getUserMedia({
      audio: true,
      video: { width: { exact: 640 }, height: { exact: 480 } },
    });
    bench.camera = stream;
    bench.cameraFps = stream.getVideoTracks()[0].getSettings().frameRate ?? null;
    return stream;
  }

  function play(track) {
    if (!bench.video) {
      bench.video = document.createElement("video");
      bench.video.autoplay = bench.video.muted = bench.video.playsInline = true;
      document.body.appendChild(bench.video);
    }
    if (bench.video.srcObject?.getVideoTracks()[0] !== track) {
      bench.video.srcObject = new MediaStream([track]);
      bench.video.play().catch(() => {});
    }
  }

  // -- tiepdan: the readiness test room of the account's endpoint -----------------------

  async function startTiepdan(endpointId) {
    const { BridgeClient } = await import("/static/js/bridge-protocol.js");
    const stream = await openCamera();
    const scheme = location.protocol === "https:" ? "wss:" : "ws:";
    const url = `${scheme}//${location.host}/api/v1/endpoints/${endpointId}/readiness-bridge`;
    const client = new BridgeClient({ url });
    const attach = () => {
      bench.pc = client.pc;
      const main = client.slot("main");
      const track = main?.participant_id ? client.trackOf(main.mid) : null;
      if (track) play(track);
    };
    client.addEventListener("tracks", attach);
    client.addEventListener("slots", attach);
    client.addEventListener("ended", (ev) => {
      bench.error = `the bridge ended the connection: ${ev.detail.reason} ${ev.detail.message ?? ""}`;
    });
    client.start({ microphone: stream.getAudioTracks()[0], camera: stream.getVideoTracks()[0] });
    bench.client = client;
  }

  // -- Janus: the echotest plugin over the HTTP API -------------------------------------

  async function janus(path, body) {
    const resp = await fetch(`/janus${path}`, {
      method: body ? "POST" : "GET",
      headers: body ? { "Content-Type": "application/json" } : {},
      body: body ? JSON.stringify({ transaction: Math.random().toString(36).slice(2), ...body }) : undefined,
    });
    if (!resp.ok) throw new Error(`Janus ${path}: HTTP ${resp.status}`);
    const msg = await resp.json();
    if (msg.janus === "error") throw new Error(`Janus ${path}: ${msg.error?.reason}`);
    return msg;
  }

  function gathered(pc) {
    if (pc.iceGatheringState === "complete") return Promise.resolve();
    return new Promise((resolve) => {
      pc.addEventListener("icegatheringstatechange", () => {
        if (pc.iceGatheringState === "complete") resolve();
      });
    });
  }

  async function startJanus() {
    const stream = await openCamera();
    const session = (await janus("", { janus: "create" })).data.id;
    const handle = (await janus(`/${session}`, { janus: "attach", plugin: "janus.plugin.echotest" })).data.id;
    const pc = new RTCPeerConnection({ bundlePolicy: "max-bundle" });
    bench.pc = pc;
    pc.addEventListener("track", (ev) => {
      if (ev.track.kind === "video") play(ev.track);
    });
    for (const track of stream.getTracks()) pc.addTransceiver(track, { direction: "sendrecv" });
    for (const t of pc.getTransceivers()) {
      if (t.sender.track?.kind !== "video") continue;
      const vp8 = RTCRtpReceiver.getCapabilities("video").codecs.filter((c) => /VP8|rtx/i.test(c.mimeType));
      t.setCodecPreferences(vp8); // VP8, as tiepdan's bridge negotiates
    }
    await pc.setLocalDescription(await pc.createOffer());
    await gathered(pc); // one offer with every candidate: no trickle
    await janus(`/${session}/${handle}`, {
      janus: "message",
      body: { audio: true, video: true },
      jsep: { type: "offer", sdp: pc.localDescription.sdp },
    });
    // Long polls: the answer comes as an event; polling on keeps the session alive.
    let answered = false;
    const poll = async () => {
      while (pc.connectionState !== "closed") {
        let msg;
        try {
          msg = await janus(`/${session}?maxev=1&rid=${Date.now()}`);
        } catch (err) {
          if (!answered) bench.error = String(err.message ?? err);
          return;
        }
        if (msg.jsep?.type === "answer" && !answered) {
          answered = true;
          await pc.setRemoteDescription(msg.jsep);
        }
        if (msg.janus === "hangup") bench.error = `Janus hung up: ${msg.reason}`;
        const refused = msg.plugindata?.data?.error;
        if (refused) bench.error = `the echotest refused: ${refused}`;
      }
    };
    poll();
  }

  // -- figures --------------------------------------------------------------------------

  async function sample() {
    const out = { at: performance.now(), error: bench.error, camera_fps: bench.cameraFps, state: bench.pc?.connectionState ?? "new" };
    if (!bench.pc) return out;
    const report = await bench.pc.getStats();
    const byId = new Map([...report.values()].map((s) => [s.id, s]));
    let inbound = null;
    let outbound = null;
    let source = null;
    let estimate = null;
    for (const s of report.values()) {
      if (s.type === "transport" && s.selectedCandidatePairId) {
        estimate = byId.get(s.selectedCandidatePairId)?.availableOutgoingBitrate ?? null;
      }
      if (s.kind !== "video") continue;
      if (s.type === "inbound-rtp" && (!inbound || s.framesDecoded > inbound.framesDecoded)) inbound = s;
      else if (s.type === "outbound-rtp" && (!outbound || s.framesEncoded > outbound.framesEncoded)) outbound = s;
      else if (s.type === "media-source") source = s;
    }
    if (inbound) {
      out.inbound = {
        timestamp: inbound.timestamp,
        frames_decoded: inbound.framesDecoded ?? 0,
        frame_width: inbound.frameWidth ?? 0,
        frame_height: inbound.frameHeight ?? 0,
        bytes_received: inbound.bytesReceived ?? 0,
        packets_received: inbound.packetsReceived ?? 0,
        packets_lost: inbound.packetsLost ?? 0,
        codec: byId.get(inbound.codecId)?.mimeType ?? "",
      };
    }
    if (outbound) {
      const limited = outbound.qualityLimitationDurations ?? {};
      out.outbound = {
        timestamp: outbound.timestamp,
        frames_encoded: outbound.framesEncoded ?? 0,
        frame_width: outbound.frameWidth ?? 0,
        cpu_limited_s: limited.cpu ?? 0,
        bandwidth_limited_s: limited.bandwidth ?? 0,
        target_bitrate: outbound.targetBitrate ?? null,
        send_estimate: estimate,
        codec: byId.get(outbound.codecId)?.mimeType ?? "",
      };
    }
    if (source) out.source = { timestamp: source.timestamp, frames: source.frames ?? 0 };
    return out;
  }

  window.echoBench = { startTiepdan, startJanus, sample, state: bench };
})();
