// Numbers as Vietnamese writes them: "9,2 giây", "1.048.576 byte" (decimal comma, dots between
// thousands). The twin of web/pages/numbers.py (the pages' `num` filter): every number a
// script shows goes through formatNumber.

export function formatNumber(x, digits = 0) {
  if (x == null || !Number.isFinite(Number(x))) return '–';
  const [whole, fraction] = Math.abs(Number(x)).toFixed(digits).split('.');
  const grouped = whole.replace(/\B(?=(\d{3})+(?!\d))/g, '.');
  const sign = Number(x) < 0 && Number(`${whole}.${fraction ?? 0}`) !== 0 ? '-' : '';
  return sign + grouped + (fraction ? `,${fraction}` : '');
}

export function formatMegabytes(bytes) {
  return `${formatNumber((bytes ?? 0) / 1048576, 1)} MB`;
}
