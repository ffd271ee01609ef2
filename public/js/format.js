export const STATUS_LABELS = {
  stopped: 'Stopped',
  initializing: 'Initializing',
  qr_ready: 'QR ready',
  authenticated: 'Authenticated',
  ready: 'Ready',
  disconnected: 'Disconnected',
  failed: 'Failed',
};
export const STATUSES = Object.keys(STATUS_LABELS);

export function statusLabel(status) {
  return STATUS_LABELS[status] ?? String(status);
}

/** "just now", "12 s ago", "5 min ago", "3 h ago", "2 d ago". */
export function relativeTime(iso, now = Date.now()) {
  const t = Date.parse(iso);
  if (Number.isNaN(t)) return '–';
  const s = Math.round((now - t) / 1000);
  if (s < 3) return 'just now';
  if (s < 60) return `${s} s ago`;
  if (s < 3600) return `${Math.floor(s / 60)} min ago`;
  if (s < 86_400) return `${Math.floor(s / 3600)} h ago`;
  return `${Math.floor(s / 86_400)} d ago`;
}

export function absoluteTime(iso) {
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? String(iso) : d.toLocaleString();
}

const pad = (n, w = 2) => String(n).padStart(w, '0');

/** 14:03:22.104 (local time), for log lines. */
export function clockTime(iso) {
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return String(iso);
  return `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}.${pad(d.getMilliseconds(), 3)}`;
}

/** 3 d 4 h, 2 h 5 min, 4 min 12 s, 9 s. */
export function duration(seconds) {
  const s = Math.max(0, Math.floor(seconds));
  const d = Math.floor(s / 86_400);
  const hr = Math.floor((s % 86_400) / 3600);
  const m = Math.floor((s % 3600) / 60);
  const sec = s % 60;
  if (d) return `${d} d ${hr} h`;
  if (hr) return `${hr} h ${m} min`;
  if (m) return `${m} min ${sec} s`;
  return `${sec} s`;
}

/** "socks5 proxy.example.com:1080 as user" from a (redacted) proxyServerCredentials. */
export function proxySummary(proxy) {
  if (!proxy || typeof proxy !== 'object') return null;
  const parts = [];
  if (proxy.protocol) parts.push(proxy.protocol);
  parts.push(String(proxy.address ?? ''));
  if (proxy.username) parts.push(`as ${proxy.username}`);
  return parts.join(' ');
}

/** "Sandbox User (1555000111@c.us)" or the id alone. */
export function meLabel(me) {
  if (!me) return null;
  return me.name ? `${me.name} (${me.id})` : String(me.id);
}

const MIB = 1024 * 1024;

/** "312 MiB" (one decimal under 10 MiB, GiB from 10 GiB up); "—" for no figure. */
export function mebibytes(bytes) {
  if (typeof bytes !== 'number' || !Number.isFinite(bytes) || bytes < 0) return '—';
  const mib = bytes / MIB;
  if (mib >= 10_240) return `${(mib / 1024).toFixed(1)} GiB`;
  if (mib < 10) return `${mib.toFixed(1)} MiB`;
  return `${Math.round(mib)} MiB`;
}

/** "3.5 %" (one decimal under 10); "—" for no figure. */
export function percent(value) {
  if (typeof value !== 'number' || !Number.isFinite(value)) return '—';
  return `${value < 10 ? value.toFixed(1) : String(Math.round(value))} %`;
}

/** "1 process", "7 processes". */
export function processCount(n) {
  return n === 1 ? '1 process' : `${String(n)} processes`;
}

/**
 * A session's `resources` in one sentence (a title attribute): PSS, RSS, processes, CPU, when.
 * null: no sample (not running, or not sampled yet).
 */
export function resourcesSummary(r) {
  if (!r) return 'No figures yet: what its processes use is sampled every 10 s while it runs';
  return `Its processes: PSS ${mebibytes(r.pssBytes)}, RSS ${mebibytes(r.rssBytes)}, ${processCount(r.processes)}, CPU ${percent(r.cpuPercent)} of one core (sampled ${absoluteTime(r.sampledAt)})`;
}
