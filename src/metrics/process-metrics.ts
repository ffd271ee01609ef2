import { collectDefaultMetrics, Registry } from 'prom-client';

let registry: Registry | undefined;

/**
 * The server process's own figures (CPU, memory, heap, handles, GC, event-loop lag), prom-client's
 * default set named `wa_server_*`. One registry per process, made on first use: the figures are
 * the process's, and each collectDefaultMetrics call starts an event-loop monitor and a GC
 * observer that are never stopped (tests start many servers in one process).
 */
export function processRegistry(): Registry {
  if (!registry) {
    registry = new Registry();
    collectDefaultMetrics({ register: registry, prefix: 'wa_server_' });
  }
  return registry;
}
