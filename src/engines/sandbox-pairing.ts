import { invalid, pairingCode } from './sandbox-ids.js';
import type { PairingCode } from './types.js';

/** The phone's "Link with phone number": the last code given is the one the phone must enter. */
export class SandboxPairing {
  #last: PairingCode | null = null;

  /** A new code for this number (digits with the country code); the one before it no longer counts. */
  give(phoneNumber: string): PairingCode {
    const digits = /^\+?(\d{5,20})$/.exec(phoneNumber.replace(/[\s().-]/g, ''))?.[1];
    if (!digits) throw invalid('body.phoneNumber', 'phoneNumber must be a phone number with its country code, such as 15550100001');
    this.#last = { code: pairingCode(), phoneNumber: digits };
    return { ...this.#last };
  }

  /** The number the entered code links as; case and the dash do not matter, as on the phone. */
  redeem(code: string): string {
    if (!this.#last) throw invalid('body.code', 'no pairing code was asked for: request one with auth/request-code first, or scan the QR without a code');
    const plain = (c: string): string => c.replace(/[\s-]/g, '').toUpperCase();
    if (plain(code) !== plain(this.#last.code)) throw invalid('body.code', 'code is not the pairing code the session gave last');
    return this.#last.phoneNumber;
  }

  forget(): void {
    this.#last = null;
  }
}
