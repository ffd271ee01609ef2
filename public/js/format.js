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
