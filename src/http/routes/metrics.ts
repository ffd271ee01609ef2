import { promisify } from 'node:util';
import { gzip } from 'node:zlib';
import { AppError } from '../../errors.js';
import { route, type RouteDef } from '../route.js';

/** Where GET /metrics reads from (src/metrics/server-metrics.ts). */
export interface MetricsSource {
  readonly contentType: string;
  scrape(): Promise<string>;
}

export const METRICS_PATH = '/metrics';

const gzipped = promisify(gzip);

/** Prometheus's scrape endpoint. The key and the per-client limit are applied in front of it (app.ts). */
export function metricsRoutes(source: MetricsSource | undefined): RouteDef[] {
  return [
    route({
      method: 'get',
      path: METRICS_PATH,
      operationId: 'getMetrics',
      summary: 'Prometheus metrics: sessions, messages, sends, memory and CPU, webhooks, the event log, the server process',
      description:
        'The Prometheus text format (0.0.4). Labels: `session` on per-session series, otherwise small fixed sets. Needs the API key when one is set, unless the server runs with `--metrics-public`.',
      tags: ['Server'],
      success: { status: 200, description: 'every series, in the Prometheus text format', contentType: 'text/plain; version=0.0.4' },
      errors: source ? [] : ['NOT_FOUND'],
      handler: async ({ req, res }) => {
        // Only an app built without metrics (a test's) has no source: the route is still listed.
        if (!source) throw new AppError('NOT_FOUND', 'this server was started without metrics');
        const text = await source.scrape();
        res.setHeader('Content-Type', source.contentType);
        res.setHeader('Cache-Control', 'no-store');
        res.setHeader('Vary', 'Accept-Encoding');
        // A thousand sessions make about a megabyte of text, a tenth of that compressed; Prometheus asks for gzip.
        if (req.acceptsEncodings('gzip', 'identity') === 'gzip') {
          res.setHeader('Content-Encoding', 'gzip');
          res.end(await gzipped(text));
        } else {
          res.end(text);
        }
        return undefined;
      },
    }),
  ];
}
