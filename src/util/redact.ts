/** What every proxy password becomes when it leaves the server. */
export const MASK = '********';

/** `scheme://user:password@` up to the last `@` before the host, so a password may hold an `@`. */
const URL_CREDENTIALS = /(\b[a-z][a-z0-9+.-]*:\/\/[^:/@\s]*:)[^/\s]*@/gi;

/**
 * Below this length a password is masked only where it is recognisable (in a URL's credentials or
 * a config's password field): masking a short word everywhere would mangle unrelated text.
 */
const MIN_FREE_TEXT_SECRET = 8;

// Secrets registered here are masked in every log line and message, in case one slips into an
// error from a library (a proxy URL with credentials, say).
const secrets = new Set<string>();

export function registerSecret(secret: string | undefined): void {
  if (secret && secret.length >= MIN_FREE_TEXT_SECRET) secrets.add(secret);
}

export function maskCredentialsInUrl(text: string): string {
  return text.replace(URL_CREDENTIALS, `$1${MASK}@`);
}

export function maskSecrets(text: string): string {
  let out = text;
  for (const secret of secrets) {
    if (out.includes(secret)) out = out.split(secret).join(MASK);
    const encoded = encodeURIComponent(secret);
    if (encoded !== secret && out.includes(encoded)) out = out.split(encoded).join(MASK);
  }
  return maskCredentialsInUrl(out);
}
