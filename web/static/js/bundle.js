// The case page's hand-over bundle: while a bundle is being made, its row follows the job
// (GET /api/v1/bundles/{id}) and shows the download link once it is done.

const POLL_MS = 1000;

async function follow(row) {
  const id = row.dataset.bundle;
  for (;;) {
    const resp = await fetch(`/api/v1/bundles/${id}`, { headers: { Accept: 'application/json' } });
    if (!resp.ok) return;
    const job = await resp.json();
    row.dataset.state = job.state;
    row.querySelector('.bundle-state').textContent = job.state_label + (job.error ? `: ${job.error}` : '');
    if (job.state === 'done') {
      const link = document.createElement('a');
      link.href = job.download_url;
      link.textContent = 'Tải gói ZIP';
      const cell = row.querySelector('.bundle-result');
      cell.replaceChildren(link, ` · ${job.files} tệp · SHA-256 `, Object.assign(document.createElement('code'), { className: 'hash', textContent: job.sha256 }));
      return;
    }
    if (job.state === 'failed') return;
    await new Promise((resolve) => setTimeout(resolve, POLL_MS));
  }
}

for (const row of document.querySelectorAll('#bundle-rows tr[data-bundle]')) {
  if (row.dataset.state === 'queued' || row.dataset.state === 'running') follow(row);
}
