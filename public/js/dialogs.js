import { api, ApiError, setKey } from './api.js';
import { byId } from './dom.js';

/**
 * Asks "are you sure?" in a modal <dialog>; resolves true when the user confirms.
 * @param {{ title: string, text: string, confirm: string }} opts
 */
export function confirmDialog(opts) {
  const dialog = /** @type {HTMLDialogElement} */ (byId('confirm-dialog'));
  byId('confirm-title').textContent = opts.title;
  byId('confirm-text').textContent = opts.text;
  byId('confirm-ok').textContent = opts.confirm;
  dialog.returnValue = '';
  return new Promise((resolve) => {
    dialog.addEventListener('close', () => resolve(dialog.returnValue === 'ok'), { once: true });
    dialog.showModal();
    byId('confirm-cancel').focus();
  });
}

/** @type {Promise<void> | null} */
let asking = null;

/**
 * Asks for the API key until /info accepts it, then keeps it in sessionStorage (this tab only).
 * Concurrent callers share one prompt.
 * @param {string} [reason] why we ask (the server's words), shown in the dialog
 */
export function askForKey(reason) {
  asking ??= new Promise((resolve) => {
    const dialog = /** @type {HTMLDialogElement} */ (byId('key-dialog'));
    const form = /** @type {HTMLFormElement} */ (byId('key-form'));
    const field = /** @type {HTMLInputElement} */ (byId('f-api-key'));
    const error = byId('key-error');
    const submit = /** @type {HTMLButtonElement} */ (byId('key-submit'));
    const show = (text) => {
      error.textContent = text;
      error.hidden = !text;
    };
    show(reason && !/needs an API key/.test(reason) ? reason : '');
    field.value = '';
    const onCancel = (e) => e.preventDefault(); // the page is useless without the key
    const onSubmit = async (e) => {
      e.preventDefault();
      const key = field.value.trim();
      if (!key) {
        show('Enter the API key the server was started with (--api-key).');
        field.focus();
        return;
      }
      submit.disabled = true;
      try {
        await api('GET', '/info', undefined, { key, quiet401: true });
        setKey(key);
        form.removeEventListener('submit', onSubmit);
        dialog.removeEventListener('cancel', onCancel);
        dialog.close();
        asking = null;
        resolve();
      } catch (err) {
        show(err instanceof ApiError ? err.message : String(err));
        field.select();
        field.focus();
      } finally {
        submit.disabled = false;
      }
    };
    form.addEventListener('submit', onSubmit);
    dialog.addEventListener('cancel', onCancel);
    dialog.showModal();
    field.focus();
  });
  return asking;
}
