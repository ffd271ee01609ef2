import { clear, h } from './dom.js';
import { mebibytes, percent } from './format.js';
import { relTime } from './list.js';
import { card } from './parts.js';

const MIB = 1024 * 1024;

/**
 * The session page's "Resources" card: what the session's processes (worker, browser and its
 * children) use, from the session's `resources` (sampled every 10 s by the server while it runs),
 * and its memory cap (config.maxMemoryMB) when it has one. Only this card changes when the page
 * refreshes the figures: the forms beside it are left alone.
 */
export class ResourcesCard {
  constructor() {
    this.stats = h('dl', { class: 'stats resources-stats' });
    this.note = h('p', { class: 'hint resources-note' });
    this.el = card('Resources', this.stats, this.note);
    this.el.classList.add('resources-card');
  }

  /** @param {any} session a session resource: its status, `resources` and config.maxMemoryMB */
  render(session) {
    const r = session.resources ?? null;
    const cap = typeof session.config?.maxMemoryMB === 'number' && session.config.maxMemoryMB > 0 ? session.config.maxMemoryMB : null;
    this.el.dataset.sampled = String(r !== null);
    clear(this.stats);
    const stat = (label, value, title) => this.stats.append(h('div', { class: 'stat', title }, h('dt', { text: label }), h('dd', { text: value })));
    stat('Memory (PSS)', r ? mebibytes(r.pssBytes) : '—', 'Proportional set size: memory shared between processes is split among them (what the session really costs)');
    stat('RSS', r ? mebibytes(r.rssBytes) : '—', 'Resident memory of each process, summed (shared memory counted in each)');
    stat('Processes', r ? String(r.processes) : '—', 'The worker, its browser and the browser’s children');
    stat('CPU', r ? percent(r.cpuPercent) : '—', 'Since the previous sample, in percent of one core');

    clear(this.note);
    if (r) this.note.append('Sampled ', relTime(r.sampledAt), '. ');
    else if (session.status === 'stopped' || session.status === 'failed') this.note.append('Not running: sampled every 10 s while the session runs. ');
    else this.note.append('The first sample comes within 10 s. ');
    if (cap !== null) {
      const share = r ? ` (${String(Math.round((r.pssBytes / (cap * MIB)) * 100))} % used)` : '';
      this.note.append(
        h('span', { class: 'resources-cap', text: `Memory cap ${String(cap)} MiB${share}` }),
        ': above it for 3 samples in a row, the session restarts (its login is kept).',
      );
    }
  }
}
