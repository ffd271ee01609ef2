/**
 * Hop-by-hop headers (RFC 9110 7.6.1 and the legacy ones that still travel): they describe one
 * connection, so whatever passes a message on (the cluster's forwarder) or makes its own request
 * (a webhook) never copies them.
 */
export const HOP_BY_HOP_HEADERS: readonly string[] = [
  'connection',
  'keep-alive',
  'proxy-authenticate',
  'proxy-authorization',
  'proxy-connection',
  'te',
  'trailer',
  'trailers',
  'transfer-encoding',
  'upgrade',
  'http2-settings',
];
