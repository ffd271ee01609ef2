import { h } from './dom.js';

/** Building blocks of the session page's panels: labelled fields, cards, result lines, field errors. */

let uid = 0;
export const nextId = (prefix) => `${prefix}-${++uid}`;

/** A labelled control (the label points at it), with an optional hint it is described by. */
export function field(labelText, control, hint) {
  const id = control.id || nextId('fld');
  control.id = id;
  const hintEl = hint ? h('p', { class: 'hint', id: `${id}-hint`, text: hint }) : null;
  if (hintEl) control.setAttribute('aria-describedby', hintEl.id);
  return h('div', { class: 'field' }, h('label', { for: id, text: labelText }), control, hintEl);
}

export function card(title, ...children) {
  const headingId = nextId('card');
  return h('section', { class: 'card', 'aria-labelledby': headingId }, h('h3', { class: 'card-title', id: headingId, text: title }), ...children);
}

/** A line under a form saying how the last try went (role=status: read out when it changes). */
export function resultLine() {
  return h('p', { class: 'result', role: 'status' });
}

/** @param {HTMLElement} el @param {'ok' | 'error' | 'pending'} kind @param {string} text */
export function setResult(el, kind, text) {
  el.dataset.kind = kind;
  el.textContent = text;
}

export const messageOf = (err) => (err instanceof Error ? err.message : String(err));

/** An error as the server reports it on a job or an event: a sentence, or `{code, message}`. */
export function reasonOf(error) {
  if (error && typeof error === 'object' && typeof error.message === 'string') return error.message;
  return error ? String(error) : 'no reason given';
}

/** Removes the notes markFieldErrors() added under a form. */
export function clearFieldErrors(root) {
  for (const el of root.querySelectorAll('[aria-invalid]')) {
    el.removeAttribute('aria-invalid');
    const rest = (el.getAttribute('aria-describedby') ?? '').split(' ').filter((x) => x && !x.endsWith('-error'));
    if (rest.length) el.setAttribute('aria-describedby', rest.join(' '));
    else el.removeAttribute('aria-describedby');
  }
  for (const el of root.querySelectorAll('.field-error')) el.remove();
}

/**
 * Shows the API's validation details (`[{path: "body.latitude", message}]`) under the controls they
 * name, so the fix is next to the field; returns the first control marked (to focus), or null.
 * @param {unknown} details
 * @param {(path: string) => HTMLElement | null | undefined} controlFor
 */
export function markFieldErrors(details, controlFor) {
  /** @type {HTMLElement | null} */
  let first = null;
  for (const d of Array.isArray(details) ? details : []) {
    if (!d || typeof d.path !== 'string') continue;
    const control = controlFor(d.path);
    if (!control || control.closest('[hidden]') || control.getAttribute('aria-invalid') === 'true') continue;
    control.setAttribute('aria-invalid', 'true');
    const note = h('p', { class: 'field-error', id: `${control.id}-error`, text: String(d.message ?? '') });
    control.insertAdjacentElement('afterend', note);
    control.setAttribute('aria-describedby', [control.getAttribute('aria-describedby'), note.id].filter(Boolean).join(' '));
    first ??= control;
  }
  return first;
}
