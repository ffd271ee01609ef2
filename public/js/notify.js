import { byId, h } from './dom.js';

/** Visible, short-lived notices (role=log, polite). */
export function toast(message, kind = 'info') {
  const box = byId('toasts');
  const el = h('div', { class: `toast toast-${kind}` }, h('span', { class: 'toast-text', text: message }));
  const close = h('button', { type: 'button', class: 'toast-close', 'aria-label': 'Dismiss', text: '×' });
  close.addEventListener('click', () => el.remove());
  el.append(close);
  box.append(el);
  while (box.children.length > 3) box.firstElementChild?.remove();
  setTimeout(() => el.remove(), kind === 'error' ? 8000 : 3500);
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
