import { byId, h } from './dom.js';

const MAX_TOASTS = 3;
const LIFE_MS = { error: 8000, other: 3500 };

/**
 * The toasts on screen by key (by default their kind and text). The same notice again (a session
 * failing over and over, a button clicked twice) refreshes the one shown and counts it, instead of
 * stacking copies that push every other notice away. Insertion order is screen order: the first
 * key is the oldest.
 * @type {Map<string, { el: HTMLElement, text: HTMLElement, count: HTMLElement, times: number, timer: ReturnType<typeof setTimeout> }>}
 */
const shown = new Map();

function dismiss(key) {
  const t = shown.get(key);
  if (!t) return;
  shown.delete(key);
  clearTimeout(t.timer);
  t.el.remove();
}

function setText(el, message) {
  el.textContent = message;
  // Long texts are cut to a few lines on screen (styles.css); the whole text stays at hand.
  el.title = message;
}

/**
 * Visible, short-lived notices (role=log, polite).
 * @param {string} message
 * @param {'info' | 'ok' | 'error'} [kind]
 * @param {string} [key] notices with one key are one toast, showing the latest text (e.g. one
 *   session's failures, whose reason may change from one to the next)
 */
export function toast(message, kind = 'info', key = `${kind}\n${message}`) {
  const life = kind === 'error' ? LIFE_MS.error : LIFE_MS.other;
  const same = shown.get(key);
  if (same) {
    same.times += 1;
    if (same.text.textContent !== message) setText(same.text, message);
    same.count.textContent = `×${same.times}`;
    same.count.title = `${same.times} times`;
    same.count.hidden = false;
    clearTimeout(same.timer);
    same.timer = setTimeout(() => dismiss(key), life);
    return;
  }
  const text = h('span', { class: 'toast-text' });
  setText(text, message);
  const count = h('span', { class: 'toast-count', hidden: true });
  const el = h('div', { class: `toast toast-${kind}` }, text, count);
  const close = h('button', { type: 'button', class: 'toast-close', 'aria-label': 'Dismiss', text: '×' });
  close.addEventListener('click', () => dismiss(key));
  el.append(close);
  byId('toasts').append(el);
  shown.set(key, { el, text, count, times: 1, timer: setTimeout(() => dismiss(key), life) });
  while (shown.size > MAX_TOASTS) dismiss(/** @type {string} */ (shown.keys().next().value));
}

/** Status changes for screen readers (a visually hidden polite live region). */
export function announce(message) {
  const live = byId('live');
  live.textContent = '';
  // A fresh text node after clearing makes screen readers read repeated messages too.
  requestAnimationFrame(() => {
    live.textContent = message;
  });
}
