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
// error from a library (a proxy URL with credentials, say). Each belongs to an owner (a session,
// the server) and goes with it, so every line pays only for the secrets that still exist.
const byOwner = new Map<string, Set<string>>();
let secrets: string[] = [];

function rebuild(): void {
  const all = new Set<string>();
  for (const owned of byOwner.values()) for (const secret of owned) all.add(secret);
  secrets = [...all];
}

/** Replaces what `owner` keeps secret. */
export function setSecrets(owner: string, values: readonly (string | undefined)[]): void {
  const kept = new Set(values.filter((v): v is string => v !== undefined && v.length >= MIN_FREE_TEXT_SECRET));
  if (kept.size === 0) byOwner.delete(owner);
  else byOwner.set(owner, kept);
  rebuild();
}

export function forgetSecrets(owner: string): void {
  if (byOwner.delete(owner)) rebuild();
}

/** Adds one secret to `owner`'s (the server's own by default: its API key). */
export function registerSecret(secret: string | undefined, owner = 'server'): void {
  setSecrets(owner, [...(byOwner.get(owner) ?? []), secret]);
}

/** How many secrets every log line is checked for (for tests). */
export function secretCount(): number {
  return secrets.length;
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
