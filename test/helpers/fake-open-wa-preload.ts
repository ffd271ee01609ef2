import { register } from 'node:module';

/**
 * `node --import tsx --import <this file> src/worker/main.ts`: the worker's
 * `import('@open-wa/wa-automate')` loads fake-open-wa-module.ts instead: a module resolve hook hands
 * the fake's path on to the rest of the chain (tsx compiles it). Nothing in src/ knows about it.
 */
const fake = new URL('./fake-open-wa-module.ts', import.meta.url).href;
const hooks = `export async function resolve(specifier, context, next) {
  return next(specifier === '@open-wa/wa-automate' ? ${JSON.stringify(fake)} : specifier, context);
}`;
register(`data:text/javascript,${encodeURIComponent(hooks)}`);
