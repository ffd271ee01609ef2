import { h } from './dom.js';
import { field, messageOf, nextId, resultLine, setResult } from './parts.js';

/**
 * "Link with phone number": instead of scanning the QR, the phone types a code the server asks
 * WhatsApp for (POST …/auth/request-code). The code is shown large, in letters one reads off a
 * screen and types on a phone; it also comes by the event stream (session.pairing_code), so a code
 * asked for elsewhere (the API, another tab) shows here too.
 */
export class PairingPanel {
  /**
   * @param {{
   *   request: (phoneNumber: string) => Promise<{ code: string }>,
   *   simulate?: (code: string) => Promise<unknown>,
   * }} ctx `simulate`: the sandbox's phone enters the code (sandbox sessions only)
   */
  constructor(ctx) {
    this.ctx = ctx;
    /** @type {string | null} */
    this.code = null;
    this.phone = h('input', { type: 'tel', autocomplete: 'off', spellcheck: 'false', placeholder: '+1 234 567 890', required: true });
    this.button = h('button', { type: 'submit', class: 'btn', text: 'Get code' });
    this.result = resultLine();
    const form = h(
      'form',
      { class: 'pair-form', novalidate: true },
      field('Phone number', this.phone, 'The number of the phone to link, with its country code.'),
      h('div', { class: 'form-row' }, this.button),
    );
    form.addEventListener('submit', (e) => {
      e.preventDefault();
      void this.#request();
    });

    const codeId = nextId('pair-code');
    this.codeEl = h('output', { class: 'pair-code', id: codeId, 'aria-live': 'polite' });
    this.codeFor = h('p', { class: 'hint' });
    this.codeBox = h(
      'div',
      { class: 'pair-code-box', hidden: true },
      h('p', { class: 'pair-code-label', text: 'Your code' }),
      this.codeEl,
      this.codeFor,
      h('p', { class: 'hint', text: 'On the phone: WhatsApp → Settings → Linked devices → Link a device → Link with phone number instead, then type this code.' }),
    );
    if (ctx.simulate) {
      const simulate = ctx.simulate;
      this.simulateBtn = h('button', { type: 'button', class: 'btn btn-sm', text: 'Simulate entering the code' });
      this.simulateBtn.addEventListener('click', () => {
        if (!this.code) return;
        const btn = /** @type {HTMLButtonElement} */ (this.simulateBtn);
        btn.disabled = true;
        simulate(this.code)
          .catch((err) => setResult(this.result, 'error', messageOf(err)))
          .finally(() => {
            btn.disabled = false;
          });
      });
      this.codeBox.append(h('div', { class: 'form-row pair-simulate' }, this.simulateBtn, h('span', { class: 'hint', text: 'Sandbox: the simulated phone enters it.' })));
    }

    this.el = h('section', { class: 'pair', 'aria-labelledby': `${codeId}-title` }, h('h4', { class: 'pair-title', id: `${codeId}-title`, text: 'Link with phone number' }), form, this.result, this.codeBox);
  }

  /** A code for this session ({code, phoneNumber}), or null: linking is over, it is useless now. */
  setCode(pairing) {
    this.code = pairing?.code ?? null;
    this.codeBox.hidden = !this.code;
    this.codeEl.textContent = this.code ?? '';
    this.codeFor.textContent = pairing?.phoneNumber ? `For +${String(pairing.phoneNumber).replace(/^\+/, '')}` : '';
    if (this.code) setResult(this.result, 'ok', '');
  }

  async #request() {
    const btn = /** @type {HTMLButtonElement} */ (this.button);
    if (btn.disabled) return;
    btn.disabled = true;
    btn.setAttribute('aria-busy', 'true');
    setResult(this.result, 'pending', 'Asking WhatsApp for a code…');
    try {
      const phoneNumber = /** @type {HTMLInputElement} */ (this.phone).value.trim();
      const r = await this.ctx.request(phoneNumber);
      this.setCode({ code: r.code, phoneNumber: r.phoneNumber ?? phoneNumber.replace(/\D/g, '') });
    } catch (err) {
      setResult(this.result, 'error', messageOf(err));
    } finally {
      btn.disabled = false;
      btn.removeAttribute('aria-busy');
    }
  }
}
