#!/usr/bin/env node
// Thin launcher: runs the compiled server (npm run build writes dist/).
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const entry = new URL('../dist/cli/main.js', import.meta.url);
if (!existsSync(fileURLToPath(entry))) {
  process.stderr.write('multi-session: the server is not built yet: run "npm run build" first\n');
  process.exit(1);
}
await import(entry.href);
