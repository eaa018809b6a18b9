// The composite export section of the case and session pages: "Xuất video tổng hợp" posts to
// the API (with the page's CSRF token) and each unfinished job's progress is polled from
// GET /api/v1/exports/{id} until it is done or failed. Rows are drawn from the API's JSON.

import { formatMegabytes, formatNumber } from './numbers.js';

const POLL_MS = 1000;
const rows = document.getElementById('export-rows');
const errorBox = document.getElementById('export-error');
const polling = new Set();

function csrfToken() {
  return document.querySelector('input[name=csrf_token]')?.value ?? '';
}

function cell(tr, ...children) {
  const td = document.createElement('td');
  td.append(...children);
  tr.append(td);
  return td;
}

function clock(iso) {
  // The API gives times already in the province's zone: "YYYY-MM-DDTHH:MM:SS.ffffff+07:00".
  return iso ? iso.slice(11, 19) : '';
}

function scope(job) {
  if (job.case_id && job.range_from) {
    return `Hồ sơ #${job.case_id}, ${clock(job.range_from)}–${clock(job.range_to)}`;
  }
  return `Toàn phiên #${job.session_id}`;
}

function result(job) {
  const span = document.createElement('span');
  if (job.state === 'done') {
    const link = document.createElement('a');
    link.href = job.download_url;
    link.textContent = 'Tải MP4';
    const size = formatMegabytes(job.size_bytes);
    const seconds = formatNumber((job.duration_ms ?? 0) / 1000, 1);
    const hash = document.createElement('code');
    hash.className = 'hash';
    hash.textContent = job.sha256;
    span.append(link, ` · ${seconds} giây, ${size} · SHA-256 `, hash);
  } else if (job.state === 'failed') {
    span.className = 'error';
    span.textContent = job.error ?? 'Lỗi';
  }
  return span;
}

function draw(job) {
  const tr = document.createElement('tr');
  tr.dataset.export = String(job.id);
  tr.dataset.state = job.state;
  cell(tr, `#${job.id}`);
  cell(tr, scope(job));
  const bar = document.createElement('progress');
  bar.max = 1;
  bar.value = job.progress;
  bar.setAttribute('aria-label', `Tiến độ xuất #${job.id}`);
  const pct = Math.round(job.progress * 100);
  cell(tr, bar, ` ${pct} % · ${job.state_label}`);
  cell(tr, result(job));
  document.getElementById('export-empty')?.remove();
  const old = rows.querySelector(`tr[data-export="${job.id}"]`);
  if (old) old.replaceWith(tr);
  else rows.prepend(tr);
  if (job.state === 'queued' || job.state === 'running') watch(job);
}

function watch(job) {
  if (polling.has(job.id)) return;
  polling.add(job.id);
  const tick = async () => {
    try {
      const resp = await fetch(job.url, { headers: { Accept: 'application/json' } });
      if (resp.ok) {
        const next = await resp.json();
        polling.delete(job.id);
        draw(next);
        return;
      }
    } catch (err) {
      // The server is restarting or the network dropped: try again at the next tick.
    }
    setTimeout(tick, POLL_MS);
  };
  setTimeout(() => { polling.delete(job.id); tick(); }, POLL_MS);
}

async function start(button) {
  errorBox.hidden = true;
  button.disabled = true;
  const body = button.dataset.caseId ? { case_id: Number(button.dataset.caseId) } : {};
  try {
    const resp = await fetch(button.dataset.exportUrl, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', 'X-CSRF-Token': csrfToken() },
      body: JSON.stringify(body),
    });
    const data = await resp.json();
    if (resp.status === 202) draw(data);
    else throw new Error(data.message ?? data.error?.message ?? `Lỗi ${resp.status}`);
  } catch (err) {
    errorBox.textContent = `Không xuất được video: ${err.message}`;
    errorBox.hidden = false;
  } finally {
    button.disabled = false;
  }
}

if (rows) {
  const initial = JSON.parse(document.getElementById('export-data').textContent);
  initial.reverse().forEach(draw);
  document.querySelectorAll('[data-export-url]').forEach((button) => {
    button.addEventListener('click', () => start(button));
  });
}
