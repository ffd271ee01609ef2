import { h } from './dom.js';
import { relTime } from './list.js';
import { messageOf, nextId, reasonOf } from './parts.js';

/** What a job sends (its `type`), in words. */
const TYPE_LABEL = {
  text: 'Text',
  image: 'Image',
  file: 'File',
  video: 'Video',
  voice: 'Voice note',
  audio: 'Audio',
  location: 'Location',
  contact: 'Contact card',
  reaction: 'Reaction',
};

/**
 * The session's send queue (GET …/queue): the jobs still waiting, each with a Cancel button
 * (DELETE …/queue/:jobId). refresh() is called on open and on the message.queued / sent / failed
 * events; calls that come while one is out are folded into one more fetch after it, so a burst of
 * sends costs two requests, not one each.
 */
export class QueueCard {
  /**
   * @param {{
   *   list: () => Promise<any[]>,
   *   cancel: (jobId: string) => Promise<unknown>,
   *   onCancelError: (message: string) => void,
   *   onRender?: (jobs: any[]) => void,
   * }} ctx `onRender`: after each new list (the page shows the card while jobs wait)
   */
  constructor(ctx) {
    this.ctx = ctx;
    /** @type {any[]} */
    this.jobs = [];
    this.loaded = false;
    this.loading = false;
    this.again = false;
    const titleId = nextId('queue');
    this.count = h('span', { class: 'count' });
    this.refreshBtn = h('button', { type: 'button', class: 'btn btn-ghost btn-sm', text: 'Refresh' });
    this.refreshBtn.addEventListener('click', () => void this.refresh());
    this.list = h('ol', { class: 'queue-list', 'aria-labelledby': titleId });
    this.empty = h('p', { class: 'muted small queue-empty', text: 'Loading the send queue…' });
    this.error = h('p', { class: 'result', role: 'status', dataset: { kind: 'error' } });
    this.el = h(
      'section',
      { class: 'card queue-card', 'aria-labelledby': titleId },
      h('div', { class: 'card-head' }, h('h3', { class: 'card-title', id: titleId }, 'Send queue ', this.count), this.refreshBtn),
      this.empty,
      this.list,
      this.error,
    );
  }

  async refresh() {
    if (this.loading) {
      this.again = true;
      return;
    }
    this.loading = true;
    try {
      do {
        this.again = false;
        try {
          this.#render(await this.ctx.list());
          this.error.textContent = '';
        } catch (err) {
          this.error.textContent = `Could not load the send queue: ${messageOf(err)}`;
        }
      } while (this.again);
    } finally {
      this.loading = false;
    }
  }

  /** @param {any[]} jobs */
  #render(jobs) {
    this.jobs = Array.isArray(jobs) ? jobs : [];
    this.loaded = true;
    // Rows whose job looks the same are kept, not rebuilt: a Cancel button the user is about to
    // press stays the one on the page while the list refreshes around it.
    const kept = new Map();
    for (const el of this.list.children) kept.set(el.dataset.key, el);
    const rows = this.jobs.map((job) => {
      const key = [job.jobId, job.status, job.position, job.error ?? ''].join('|');
      const el = kept.get(key) ?? this.#row(job);
      el.dataset.key = key;
      return el;
    });
    this.list.replaceChildren(...rows);
    this.count.textContent = this.jobs.length ? String(this.jobs.length) : '';
    this.empty.textContent = 'No message is waiting.';
    this.empty.hidden = this.jobs.length > 0;
    this.ctx.onRender?.(this.jobs);
  }

  #row(job) {
    const sending = job.status === 'sending';
    const cancel = h('button', { type: 'button', class: 'btn btn-sm btn-danger-ghost', text: 'Cancel', disabled: sending, 'aria-label': `Cancel job ${job.jobId}` });
    if (sending) cancel.title = 'Being sent: it can no longer be cancelled';
    cancel.addEventListener('click', () => void this.#cancel(job.jobId, cancel));
    return h(
      'li',
      { class: 'queue-job', dataset: { jobId: String(job.jobId), status: String(job.status) } },
      h('span', { class: 'queue-pos', text: typeof job.position === 'number' ? `#${job.position}` : '' }),
      h(
        'div',
        { class: 'queue-main' },
        h(
          'div',
          { class: 'queue-line' },
          h('strong', { text: TYPE_LABEL[job.type] ?? String(job.type ?? job.op ?? 'Message') }),
          ' to ',
          h('span', { class: 'queue-chat', text: String(job.chatId ?? '') }),
        ),
        h(
          'div',
          { class: 'queue-meta muted' },
          h('span', { class: 'queue-status', text: sending ? 'sending…' : 'waiting' }),
          ' · ',
          relTime(String(job.createdAt)),
          ' · ',
          h('code', { class: 'queue-id', text: String(job.jobId) }),
        ),
        job.error ? h('p', { class: 'queue-error', text: reasonOf(job.error) }) : null,
      ),
      cancel,
    );
  }

  async #cancel(jobId, btn) {
    btn.disabled = true;
    btn.setAttribute('aria-busy', 'true');
    try {
      await this.ctx.cancel(jobId);
      this.#render(this.jobs.filter((j) => j.jobId !== jobId));
    } catch (err) {
      btn.disabled = false;
      this.ctx.onCancelError(messageOf(err));
    } finally {
      btn.removeAttribute('aria-busy');
    }
    await this.refresh();
  }
}
