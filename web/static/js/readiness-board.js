// The reception officer's readiness board (/readiness): renders the board it is given and
// every new one pushed by GET /api/v1/readiness/stream (Server-Sent Events); countdowns run
// on the server's clock (the board carries it as `now`).

import { formatNumber } from "./numbers.js";

const $ = (id) => document.getElementById(id);
const STATES = { pending: "Chưa kiểm tra", passed: "Đạt", failed: "Không đạt", overdue: "Quá hạn" };
const WEEKDAYS = ["Chủ nhật", "Thứ Hai", "Thứ Ba", "Thứ Tư", "Thứ Năm", "Thứ Sáu", "Thứ Bảy"];
const TZ = "Asia/Ho_Chi_Minh";

let board = null;
let skew = 0; // server clock − browser clock, ms

function el(tag, attrs = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "class") e.className = v;
    else if (k.startsWith("data-")) e.setAttribute(k, v);
    else e[k] = v;
  }
  e.append(...children.filter((c) => c != null));
  return e;
}

/** "08:30 Thứ Tư 25/11/2026" in Vietnam's time. */
export function localTime(iso) {
  if (!iso) return "";
  const d = new Date(iso);
  const parts = Object.fromEntries(
    new Intl.DateTimeFormat("en-GB", {
      timeZone: TZ, hour: "2-digit", minute: "2-digit", day: "2-digit", month: "2-digit", year: "numeric", weekday: "short", hourCycle: "h23",
    }).formatToParts(d).map((p) => [p.type, p.value]),
  );
  const wd = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"].indexOf(parts.weekday);
  return `${parts.hour}:${parts.minute} ${WEEKDAYS[wd]} ${parts.day}/${parts.month}/${parts.year}`;
}

/** "còn 1 ngày 3 giờ 5 phút" / "quá hạn 2 giờ 10 phút". */
export function countdown(deadlineIso, nowMs) {
  const ms = new Date(deadlineIso).getTime() - nowMs;
  const m = Math.floor(Math.abs(ms) / 60000);
  const days = Math.floor(m / 1440);
  const hours = Math.floor((m % 1440) / 60);
  const text = [days ? `${days} ngày` : null, days || hours ? `${hours} giờ` : null, `${m % 60} phút`].filter(Boolean).join(" ");
  return ms >= 0 ? `còn ${text}` : `quá hạn ${text}`;
}

/** One set of figures on a line, with decimal commas; "–" for what was not measured. */
export function figuresLine(f) {
  const n = formatNumber;
  return `RTT ${n(f.rtt_ms)} ms · mất gói ${n(f.loss_pct, 1)}% · jitter ${n(f.jitter_ms, 1)} ms · ${n(f.bitrate_kbps)} kbit/s · ${n(f.fps)} khung/giây · ${f.width ?? 0}×${f.height ?? 0}${f.audio_level_seen ? " · có tiếng" : " · không có tiếng"}`;
}

/** The bridge's figures, the verdict's basis, and the browser's beside. A check stored
 * before the bridge measured (no `measured_by`) has only what the browser reported. */
export function figuresCell(f) {
  if (!f) return ["–"];
  const reported = (b) => el("div", { class: "muted reported" }, "Trình duyệt báo: ", b.error ? "không nhận lại được hình, tiếng" : figuresLine(b));
  if (f.measured_by !== "bridge") return [reported(f)];
  const basis = f.error ? "chưa nhận được hình ảnh và âm thanh" : figuresLine(f);
  return [el("div", { class: "basis" }, "Cầu truyền hình đo: ", basis), f.browser ? reported(f.browser) : null];
}

function endpointRow(e) {
  const contacts = e.focal_staff.length
    ? e.focal_staff.map((c) => el("div", {}, c.full_name, c.phone ? el("span", { class: "muted" }, ` · ${c.phone}`) : null))
    : [el("span", { class: "muted" }, "Chưa có cán bộ đầu mối")];
  const checked = e.checked_at
    ? el("div", {}, localTime(e.checked_at), e.checked_by_name ? el("div", { class: "muted" }, e.checked_by_name) : null)
    : el("span", { class: "muted" }, "Chưa kiểm tra");
  const why = e.state === "failed" && e.failure_reason ? el("div", { class: "failure" }, e.failure_reason) : null;
  const late = e.due_immediately ? el("div", { class: "badge due-now" }, "Lên lịch sau hạn: cần kiểm tra ngay") : null;
  const done = e.state === "passed" || e.state === "failed";
  return el(
    "tr",
    { class: `readiness-row state-${e.state}`, "data-endpoint-id": String(e.endpoint_id), "data-state": e.state },
    el("td", {}, el("strong", {}, e.endpoint_name), el("div", { class: "muted" }, `Điện thoại điểm cầu: ${e.contact_phone || "–"}`)),
    el("td", {}, el("span", { class: `badge readiness-${e.state}` }, STATES[e.state] ?? e.state), why),
    el("td", { class: "figures-cell" }, ...figuresCell(e.figures)),
    el("td", { class: "nowrap" }, checked),
    el("td", { class: "nowrap" }, localTime(e.deadline), late,
      done ? null : el("div", { class: "countdown", "data-deadline": e.deadline }, "")),
    el("td", {}, ...contacts),
  );
}

function sessionTable(s) {
  const head = el("tr", {}, ...["Điểm cầu", "Trạng thái", "Số đo", "Kiểm tra lúc", "Hạn kiểm tra", "Cán bộ đầu mối"].map((h) => el("th", {}, h)));
  const rows = s.endpoints.length ? s.endpoints.map(endpointRow) : [el("tr", {}, el("td", { colSpan: 6, class: "muted" }, "Phiên chưa có điểm cầu tham gia."))];
  return el(
    "section",
    { class: "card board-session", "data-session-id": String(s.id) },
    el("h2", {}, el("a", { href: `/sessions/${s.id}` }, s.title)),
    el("p", { class: "muted" }, `Bắt đầu ${localTime(s.starts_at)}`),
    el("table", { class: "board-table" }, el("thead", {}, head), el("tbody", {}, ...rows)),
  );
}

function render(data) {
  board = data;
  skew = new Date(data.now).getTime() - Date.now();
  const root = $("board");
  root.replaceChildren(
    ...(data.sessions.length ? data.sessions.map(sessionTable) : [el("p", { class: "muted" }, "Không có phiên tiếp công dân nào sắp tới.")]),
  );
  $("overdue-summary").textContent = data.overdue ? `${data.overdue} điểm cầu quá hạn kiểm tra` : "";
  $("overdue-summary").className = data.overdue ? "badge readiness-overdue" : "";
  tick();
}

function tick() {
  const now = Date.now() + skew;
  for (const c of document.querySelectorAll(".countdown")) {
    c.textContent = countdown(c.dataset.deadline, now);
    c.classList.toggle("late", c.textContent.startsWith("quá hạn"));
  }
}

function connect() {
  const source = new EventSource("/api/v1/readiness/stream");
  source.addEventListener("open", () => {
    $("stream-state").textContent = "Đang cập nhật trực tiếp";
    $("stream-state").className = "badge ok";
  });
  source.addEventListener("board", (ev) => render(JSON.parse(ev.data)));
  source.addEventListener("error", () => {
    // EventSource reconnects by itself.
    $("stream-state").textContent = "Mất kết nối, đang kết nối lại…";
    $("stream-state").className = "badge off";
  });
  return source;
}

render(JSON.parse($("board").dataset.board));
setInterval(tick, 1000);
window.tiepdanBoard = { source: connect(), board: () => board };
