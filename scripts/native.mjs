// Makes sure better-sqlite3's native binding loads, compiling it when it does not.
//
// .npmrc has ignore-scripts=true (so `npm ci` downloads no browser), which also skips
// better-sqlite3's own install step: after a fresh `npm ci` its binding is missing. Its prebuilt
// download cannot be relied on (no network beyond the npm registry on our machines), so this
// compiles it from the sources in the package with npm's bundled node-gyp (~1–2 minutes, once per
// `npm ci`). `build` and `test` run this first; when the binding already loads it costs a moment.
import { spawnSync } from 'node:child_process';
import console from 'node:console';
import { existsSync } from 'node:fs';
import path from 'node:path';
import process from 'node:process';

const root = path.resolve(import.meta.dirname, '..');

/** Loads the binding in a fresh process (a failed load in this one could be cached). */
function bindingLoads() {
  const probe = "const D = require('better-sqlite3'); new D(':memory:').close();";
  const r = spawnSync(process.execPath, ['-e', probe], { cwd: root, encoding: 'utf8' });
  return { ok: r.status === 0, reason: (r.stderr || r.error?.message || '').trim().split('\n').find((l) => /Error/.test(l)) ?? '' };
}

const first = bindingLoads();
if (first.ok) process.exit(0);

console.log(`better-sqlite3: native binding not loadable (${first.reason || 'not built'}); compiling it from source, this takes a minute or two...`);

const args = ['rebuild', 'better-sqlite3', '--ignore-scripts=false'];
// node-gyp needs this Node's headers; it downloads them unless told where they are. An install
// that ships them (include/node beside bin/node) needs no network, and they match this Node exactly.
const prefix = path.resolve(path.dirname(process.execPath), '..');
if (!process.env.npm_config_nodedir && existsSync(path.join(prefix, 'include', 'node', 'node_api.h'))) {
  args.push(`--nodedir=${prefix}`);
}
// Under `npm run`, npm_execpath is the npm that runs us: use the same one. Otherwise the `npm` on PATH.
const npmCli = process.env.npm_execpath;
const [cmd, cmdArgs] = npmCli && /\.c?js$/.test(npmCli) ? [process.execPath, [npmCli, ...args]] : ['npm', args];
const build = spawnSync(cmd, cmdArgs, { cwd: root, stdio: 'inherit' });
if (build.status !== 0) {
  console.error(`better-sqlite3: \`npm ${args.join(' ')}\` failed (${build.error?.message ?? `exit ${build.status}`}); it needs python3, make and a C++ compiler.`);
  process.exit(1);
}
const second = bindingLoads();
if (!second.ok) {
  console.error(`better-sqlite3: compiled, but the binding still does not load: ${second.reason}`);
  process.exit(1);
}
console.log('better-sqlite3: native binding compiled.');
