/**
 * deploy/: what can be checked without a container engine or a running systemd. The Dockerfile and
 * the unit are parsed and held to the repository (files they copy, flags the CLI takes, the server's
 * shutdown deadline), the image's health check is run against real servers, and the unit goes
 * through `systemd-analyze verify` where it is installed.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { parse as parseYaml } from 'yaml';
import { buildProgram, parseConfig } from '../../src/cli/options.js';
import { ROOT, tempDir } from '../helpers/env.js';
import { startTestServer, type TestServer } from '../helpers/http.js';

// Every assert.ok here has a message: without one, a failing assert.ok makes Node re-parse this
// file with acorn to quote the expression, which under tsx spins for minutes instead of failing.
const DEPLOY = path.join(ROOT, 'deploy');
const read = (file: string): string => readFileSync(path.join(ROOT, file), 'utf8');

/** The server's own deadline between SIGTERM and its forced exit; every stop timeout must exceed it. */
function shutdownDeadlineSeconds(): number {
  const match = /const SHUTDOWN_DEADLINE_MS = ([\d_]+);/.exec(read('src/cli/main.ts'));
  assert.ok(match?.[1], 'src/cli/main.ts no longer declares SHUTDOWN_DEADLINE_MS: update this test');
  return Number(match[1].replaceAll('_', '')) / 1000;
}

// ---------------------------------------------------------------------------------------------
// A Dockerfile reader: enough of the syntax for the instructions deploy/Dockerfile uses.

interface Instruction {
  keyword: string;
  args: string;
  /** Index of the FROM it belongs to (-1: before the first). */
  stage: number;
}

function parseDockerfile(text: string): Instruction[] {
  const out: Instruction[] = [];
  let stage = -1;
  let pending = '';
  for (const raw of text.split('\n')) {
    // Comment lines (parser directives included) are dropped, also inside a continued instruction.
    if (/^\s*#/.test(raw)) continue;
    if (pending === '' && raw.trim() === '') continue;
    if (/\\\s*$/.test(raw)) {
      pending += `${raw.replace(/\\\s*$/, '')} `;
      continue;
    }
    const whole = (pending + raw).trim();
    pending = '';
    const match = /^(\w+)\s+([\s\S]*)$/.exec(whole);
    assert.ok(match?.[1] && match[2] !== undefined, `not an instruction: ${whole}`);
    const keyword = match[1].toUpperCase();
    if (keyword === 'FROM') stage += 1;
    out.push({ keyword, args: match[2].trim(), stage });
  }
  assert.equal(pending, '', 'the Dockerfile ends inside a continued line');
  return out;
}

function stringArray(value: unknown, what: string): string[] {
  assert.ok(Array.isArray(value) && value.every((v) => typeof v === 'string'), `${what} is not a list of strings`);
  return value;
}

/** An exec-form (JSON) argument list; the shell form is refused: signals would go to a shell. */
function execForm(args: string, what: string): string[] {
  assert.ok(args.startsWith('['), `${what} must use the exec form ["...", ...], got ${args}`);
  return stringArray(JSON.parse(args), what);
}

interface Copy {
  from: string | undefined;
  sources: string[];
  dest: string;
  stage: number;
}

function copies(instructions: Instruction[]): Copy[] {
  return instructions
    .filter((i) => i.keyword === 'COPY' || i.keyword === 'ADD')
    .map((i) => {
      const tokens = i.args.startsWith('[') ? stringArray(JSON.parse(i.args), 'COPY') : i.args.split(/\s+/);
      const flags = tokens.filter((t) => t.startsWith('--'));
      const paths = tokens.filter((t) => !t.startsWith('--'));
      const from = flags.find((f) => f.startsWith('--from='))?.slice('--from='.length);
      assert.ok(paths.length >= 2, `COPY without a source and a destination: ${i.args}`);
      return { from, sources: paths.slice(0, -1), dest: paths[paths.length - 1]!, stage: i.stage };
    });
}

/** Packages named by `apt-get install` in one stage's RUN instructions. */
function aptPackages(instructions: Instruction[], stage: number): string[] {
  const names: string[] = [];
  for (const i of instructions.filter((x) => x.keyword === 'RUN' && x.stage === stage)) {
    for (const match of i.args.matchAll(/apt-get install ([^&;|]*)/g)) {
      names.push(...(match[1] ?? '').split(/\s+/).filter((t) => t && !t.startsWith('-')));
    }
  }
  return names;
}

// ---------------------------------------------------------------------------------------------
// .dockerignore as Docker reads it: patterns match a path or any of its parents, `*` stays within
// one path segment, `**` crosses them, `!` re-includes, the last matching line wins.

function dockerignoreRules(text: string): { exclude: boolean; re: RegExp }[] {
  return text
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith('#'))
    .map((line) => {
      const exclude = !line.startsWith('!');
      const pattern = path.posix.normalize(line.replace(/^!/, '')).replace(/^\/+|\/+$/g, '');
      const source = pattern
        .split(/(\*\*|\*|\?)/)
        .map((part) => (part === '**' ? '.*' : part === '*' ? '[^/]*' : part === '?' ? '[^/]' : part.replace(/[.+^${}()|[\]\\]/g, '\\$&')))
        .join('');
      return { exclude, re: new RegExp(`^${source}$`) };
    });
}

function inBuildContext(file: string, rules: { exclude: boolean; re: RegExp }[]): boolean {
  const parts = file.split('/');
  const candidates = parts.map((_, n) => parts.slice(0, n + 1).join('/'));
  let included = true;
  for (const rule of rules) {
    if (candidates.some((c) => rule.re.test(c))) included = !rule.exclude;
  }
  return included;
}

// ---------------------------------------------------------------------------------------------
// A systemd unit reader: sections of Key=Value lines (a key may repeat).

function parseUnit(text: string): Map<string, Map<string, string[]>> {
  const sections = new Map<string, Map<string, string[]>>();
  let current: Map<string, string[]> | undefined;
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (!line || line.startsWith('#') || line.startsWith(';')) continue;
    const section = /^\[(.+)\]$/.exec(line);
    if (section?.[1]) {
      current = new Map();
      sections.set(section[1], current);
      continue;
    }
    const kv = /^([A-Za-z0-9]+)=(.*)$/.exec(line);
    assert.ok(kv?.[1] !== undefined && kv[2] !== undefined && current, `not a Key=Value line in a section: ${line}`);
    current.set(kv[1], [...(current.get(kv[1]) ?? []), kv[2].trim()]);
  }
  return sections;
}

/** The last value of a key (systemd's rule for single-valued keys). */
function unitValue(unit: Map<string, Map<string, string[]>>, section: string, key: string): string | undefined {
  return unit.get(section)?.get(key)?.at(-1);
}

function seconds(duration: string): number {
  const match = /^(\d+)(ms|s|m)?$/.exec(duration.trim());
  assert.ok(match?.[1], `not a duration: ${duration}`);
  const n = Number(match[1]);
  return match[2] === 'ms' ? n / 1000 : match[2] === 'm' ? n * 60 : n;
}

function isUnder(child: string, parent: string): boolean {
  const rel = path.posix.relative(parent, child);
  return rel === '' || (!rel.startsWith('..') && !path.posix.isAbsolute(rel));
}

const PORT_DEFAULT = Number(buildProgram('0').options.find((o) => o.long === '--port')?.defaultValue);

// ---------------------------------------------------------------------------------------------

describe('deploy/Dockerfile', () => {
  const instructions = parseDockerfile(read('deploy/Dockerfile'));
  const stages = instructions.filter((i) => i.keyword === 'FROM');
  const final = stages.length - 1;
  const inFinal = (keyword: string): Instruction[] => instructions.filter((i) => i.keyword === keyword && i.stage === final);
  const last = (keyword: string): Instruction => {
    const found = inFinal(keyword).at(-1);
    assert.ok(found, `the final stage has no ${keyword}`);
    return found;
  };
  const workdir = (stage: number): string => instructions.filter((i) => i.keyword === 'WORKDIR' && i.stage === stage).at(-1)?.args ?? '/';

  it('copies from the build context only files that exist and that .dockerignore lets in', () => {
    const rules = dockerignoreRules(read('.dockerignore'));
    const fromContext = copies(instructions).filter((c) => c.from === undefined);
    assert.ok(fromContext.length > 0, 'the Dockerfile copies from the build context');
    for (const source of fromContext.flatMap((c) => c.sources)) {
      assert.ok(existsSync(path.join(ROOT, source)), `COPY ${source}: no such file in the repository`);
      assert.ok(inBuildContext(source, rules), `COPY ${source}: .dockerignore leaves it out of the build context`);
    }
    // What must never reach a builder: logins and keys, and what the image builds itself.
    for (const secret of ['sessions/s1/config.json', 'sessions/s1/session-data/x', 'node_modules/x/index.js', 'dist/cli/main.js', '.git/config', 'test-output/x', '.env', 'deploy/.env']) {
      assert.equal(inBuildContext(secret, rules), false, `${secret} would be sent to the builder`);
    }
  });

  it('builds both stages on one base and copies into the last only what the build stage made', () => {
    const args = new Map(
      instructions.filter((i) => i.keyword === 'ARG' && i.stage === -1).map((i) => [i.args.split('=')[0]!, i.args.split('=').slice(1).join('=')]),
    );
    const bases = stages.map((s) => s.args.split(/\s+/)[0]!.replace(/\$\{(\w+)\}/g, (_, name: string) => args.get(name) ?? ''));
    assert.equal(stages.length, 2, 'a build stage and a runtime stage');
    assert.match(bases[0]!, /^node:20[\w.-]*-bookworm-slim$/);
    // The better-sqlite3 binding compiled in the first stage must load with the second's Node and glibc.
    assert.equal(bases[1], bases[0]);
    const buildName = /\sAS\s+(\S+)/i.exec(stages[0]!.args)?.[1];
    assert.ok(buildName, 'the build stage is named');

    const outDir = (JSON.parse(read('tsconfig.build.json')) as { compilerOptions: { outDir: string } }).compilerOptions.outDir;
    const made = new Set([
      ...copies(instructions)
        .filter((c) => c.stage === 0)
        .flatMap((c) => c.sources.map((s) => path.posix.join(workdir(0), c.sources.length === 1 && !c.dest.endsWith('/') ? c.dest : s))),
      path.posix.join(workdir(0), 'node_modules'),
      path.posix.join(workdir(0), outDir),
    ]);
    const fromBuild = copies(instructions).filter((c) => c.from !== undefined);
    assert.ok(fromBuild.length > 0, 'the final stage copies from the build stage');
    for (const c of fromBuild) {
      assert.equal(c.from, buildName);
      assert.equal(c.stage, final);
      for (const source of c.sources) assert.ok(made.has(source), `COPY --from=${buildName} ${source}: the build stage makes no such path`);
    }
  });

  it('installs compilers in the build stage only, and Chromium and tini without recommends in the image', () => {
    const compilers = /^(g\+\+|gcc|make|python3|build-essential)$/;
    assert.ok(aptPackages(instructions, 0).some((p) => compilers.test(p)), 'the build stage installs what node-gyp needs');
    const runtime = aptPackages(instructions, final);
    assert.deepEqual(runtime.filter((p) => compilers.test(p)), []);
    assert.ok(runtime.includes('chromium') && runtime.includes('tini'), `runtime packages: ${runtime.join(' ')}`);
    for (const run of inFinal('RUN').filter((i) => i.args.includes('apt-get install'))) {
      assert.match(run.args, /--no-install-recommends/);
      assert.match(run.args, /rm -rf \/var\/lib\/apt\/lists/);
    }
  });

  it('turns every browser download off before npm ci and prunes dev dependencies after the build', () => {
    assert.match(read('.npmrc'), /^ignore-scripts=true$/m);
    const inBuild = instructions.filter((i) => i.stage === 0);
    const npmCi = inBuild.findIndex((i) => i.keyword === 'RUN' && /\bnpm ci\b/.test(i.args));
    assert.ok(npmCi >= 0, 'the build stage runs npm ci');
    const copiedBefore = copies(inBuild.slice(0, npmCi)).flatMap((c) => c.sources);
    for (const file of ['package.json', 'package-lock.json', '.npmrc', '.puppeteerrc.cjs']) {
      assert.ok(copiedBefore.includes(file), `${file} must be in place before npm ci`);
    }
    const build = inBuild.findIndex((i) => i.keyword === 'RUN' && /npm run build/.test(i.args));
    assert.ok(build > npmCi, 'npm run build comes after npm ci');
    assert.match(inBuild[build]!.args, /npm run build[\s\S]*npm prune --omit=dev/);
    const text = read('deploy/Dockerfile');
    assert.doesNotMatch(text, /puppeteer browsers install|@puppeteer\/browsers|PUPPETEER_SKIP_DOWNLOAD=(false|0)|ignore-scripts=false|google-chrome|chrome-headless-shell/);
  });

  it('runs as uid 10001 under tini, owner of the sessions volume from its first start', () => {
    assert.equal(last('VOLUME').args, '/app/sessions');
    assert.match(last('USER').args, /^10001(:10001)?$/);
    const finalList = instructions.filter((i) => i.stage === final);
    const volumeAt = finalList.findIndex((i) => i.keyword === 'VOLUME');
    // Changes to a VOLUME path after the VOLUME line are thrown away: the chown has to come first.
    const chownAt = finalList.findIndex((i) => i.keyword === 'RUN' && /chown 10001(:10001)? \/app\/sessions/.test(i.args));
    assert.ok(chownAt >= 0 && chownAt < volumeAt, 'the sessions folder is given to uid 10001 before VOLUME');
    assert.match(finalList[chownAt]!.args, /chmod 0?700 \/app\/sessions/, 'the sessions folder is private to its owner');
    assert.ok(
      finalList.some((i) => i.keyword === 'RUN' && /useradd [^&]*--uid 10001/.test(i.args)),
      'uid 10001 has a passwd entry (Chromium wants a HOME)',
    );
    assert.deepEqual(execForm(last('ENTRYPOINT').args, 'ENTRYPOINT'), ['/usr/bin/tini', '--']);
    assert.ok(inFinal('ENV').some((i) => /\bNODE_ENV=production\b/.test(i.args)), 'ENV NODE_ENV=production in the image');
  });

  it('starts the server with flags the CLI accepts, on the volume, the exposed port and Debian’s Chromium', () => {
    const cmd = execForm(last('CMD').args, 'CMD');
    assert.equal(cmd[0], 'node');
    assert.equal(cmd[1], 'bin/multi-session.js');
    assert.ok(existsSync(path.join(ROOT, cmd[1])), `${cmd[1]} exists`);
    const finalCopies = copies(instructions).filter((c) => c.stage === final && c.from === undefined);
    assert.ok(finalCopies.some((c) => c.sources.includes('bin')), 'bin/ is copied into the image');
    assert.ok(finalCopies.some((c) => c.sources.includes('public')), 'public/ (the web UI) is copied into the image');
    // parseConfig throws on a flag it does not know or a value that cannot work.
    const config = parseConfig(cmd.slice(2), '0');
    assert.equal(config.sessionsDir, '/app/sessions');
    assert.equal(config.host, '0.0.0.0');
    assert.equal(config.executablePath, '/usr/bin/chromium');
    assert.deepEqual(last('EXPOSE').args.split(/\s+/), [String(PORT_DEFAULT)]);
    assert.ok(!cmd.includes('--port'), 'the port stays MULTI_SESSION_PORT, which the health check reads too');
    assert.ok(!cmd.includes('--api-key'), 'no secret in the image');
  });

  describe('HEALTHCHECK', () => {
    let server: TestServer;
    let fake: http.Server;
    let fakeAnswer: (req: http.IncomingMessage, res: http.ServerResponse) => void = (_req, res) => res.end();
    before(async () => {
      server = await startTestServer();
      fake = http.createServer((req, res) => fakeAnswer(req, res));
      await new Promise<void>((resolve) => fake.listen(0, '127.0.0.1', resolve));
    });
    after(async () => {
      await new Promise<void>((resolve) => fake.close(() => resolve()));
      await server.stop();
    });

    const healthcheck = instructions.find((i) => i.keyword === 'HEALTHCHECK' && i.stage === final);
    const options = /^((?:--\S+\s+)*)CMD\s+(.+)$/.exec(healthcheck?.args ?? '');

    /** Runs the image's health check command from the repository root (the image's /app). */
    function runCheck(port: number): Promise<{ code: number | null; out: string }> {
      const argv = execForm(options?.[2] ?? '', 'HEALTHCHECK CMD');
      assert.equal(argv[0], 'node');
      return new Promise((resolve) => {
        const child = spawn(process.execPath, argv.slice(1), {
          cwd: ROOT,
          env: { ...process.env, MULTI_SESSION_PORT: String(port) },
          timeout: 20_000,
        });
        let out = '';
        child.stdout.on('data', (c: Buffer) => (out += c.toString()));
        child.stderr.on('data', (c: Buffer) => (out += c.toString()));
        child.on('close', (code) => resolve({ code, out }));
      });
    }

    it('is a Node command copied into the image, every 30 s with a timeout', () => {
      assert.ok(options, `HEALTHCHECK [options] CMD [...]: ${healthcheck?.args ?? 'missing'}`);
      const argv = execForm(options[2] ?? '', 'HEALTHCHECK CMD');
      assert.ok(
        copies(instructions).some((c) => c.stage === final && c.sources.includes(argv[1]!) && path.posix.join(workdir(final), c.dest) === path.posix.join(workdir(final), argv[1]!)),
        `${argv[1]} is copied to ${workdir(final)}/${argv[1]}`,
      );
      assert.match(options[1] ?? '', /--interval=30s/);
      assert.match(options[1] ?? '', /--timeout=\d+s/);
    });

    it('passes against a running server', async () => {
      const result = await runCheck(server.port);
      assert.equal(result.code, 0, result.out);
      assert.match(result.out, /"status":"ok"/);
    });

    it('fails, saying why, when /health answers 503', async () => {
      fakeAnswer = (req, res) => {
        res.statusCode = req.url === '/health' ? 503 : 200;
        res.end('{"status":"error","checks":{"sessionsDir":{"ok":false,"message":"read-only file system"}}}');
      };
      const result = await runCheck((fake.address() as AddressInfo).port);
      assert.equal(result.code, 1);
      assert.match(result.out, /503.*read-only file system/);
    });

    it('asks /health, not any page that answers 200', async () => {
      fakeAnswer = (req, res) => {
        res.statusCode = req.url === '/health' ? 404 : 200;
        res.end();
      };
      const result = await runCheck((fake.address() as AddressInfo).port);
      assert.equal(result.code, 1);
      assert.match(result.out, /\/health answered 404/);
    });

    it('fails when nothing listens', async () => {
      const closed = http.createServer();
      await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
      const port = (closed.address() as AddressInfo).port;
      await new Promise<void>((resolve) => closed.close(() => resolve()));
      const result = await runCheck(port);
      assert.equal(result.code, 1);
      assert.match(result.out, /ECONNREFUSED/);
    });
  });
});

describe('deploy/multi-session.service', () => {
  const text = read('deploy/multi-session.service');
  const unit = parseUnit(text);
  const service = (key: string): string | undefined => unitValue(unit, 'Service', key);
  const execStart = (service('ExecStart') ?? '').split(/\s+/);
  const hasAnalyze = spawnSync('systemd-analyze', ['--version'], { encoding: 'utf8' }).status === 0;

  it('passes systemd-analyze verify without a warning', { skip: hasAnalyze ? false : 'systemd-analyze is not installed here' }, async () => {
    // Node is where this machine has it: whether systemd finds a `node` is the host's business.
    const tmp = await tempDir('ms-unit-');
    try {
      const file = path.join(tmp.dir, 'multi-session.service');
      await writeFile(file, text.replace(/^ExecStart=node /m, `ExecStart=${process.execPath} `));
      const r = spawnSync('systemd-analyze', ['verify', file], { encoding: 'utf8', timeout: 30_000 });
      assert.equal(r.status, 0, r.stderr);
      // An unknown key or a bad value is only a warning: any output is a failure.
      assert.equal(`${r.stdout}${r.stderr}`.trim(), '');
    } finally {
      await tmp.cleanup();
    }
  });

  it('starts the server with flags the CLI accepts, as its own user, its sessions folder writable', () => {
    assert.equal(service('Type'), 'simple');
    assert.ok(service('User') && service('User') !== 'root', `User=${String(service('User'))}: its own user`);
    assert.ok(service('WorkingDirectory')?.startsWith('/'), 'WorkingDirectory is absolute');
    assert.ok(execStart[0] === 'node' || execStart[0]?.endsWith('/node'), `ExecStart runs node: ${execStart[0] ?? ''}`);
    assert.match(execStart[1] ?? '', /\/bin\/multi-session\.js$/);
    const config = parseConfig(execStart.slice(2), '0');
    assert.ok(path.posix.isAbsolute(config.sessionsDir), `--sessions-dir ${config.sessionsDir} is absolute`);
    const writable = (service('ReadWritePaths') ?? '').split(/\s+/).filter(Boolean);
    assert.ok(
      writable.some((p) => isUnder(config.sessionsDir, p.replace(/^-/, ''))),
      `--sessions-dir ${config.sessionsDir} must be under ReadWritePaths (${writable.join(' ')})`,
    );
    assert.equal(config.executablePath, '/usr/bin/chromium');
    assert.equal(service('Restart'), 'on-failure');
    // A flag that cannot work exits 2: restarting would only repeat it.
    assert.equal(service('RestartPreventExitStatus'), '2');
  });

  it('lets the server stop its sessions first, then ends everything left in its cgroup', () => {
    // mixed: SIGTERM to the server alone (it stops sessions in order), SIGKILL to the rest at the end.
    assert.equal(service('KillMode'), 'mixed');
    assert.notEqual(service('SendSIGKILL'), 'no');
    assert.ok(['SIGTERM', undefined].includes(service('KillSignal')), 'the server shuts down on SIGTERM');
    const timeout = seconds(service('TimeoutStopSec') ?? '90');
    const deadline = shutdownDeadlineSeconds();
    assert.ok(timeout > deadline, `TimeoutStopSec ${String(timeout)} s must exceed the server's ${String(deadline)} s`);
    assert.ok(timeout <= deadline + 15, 'but not by so much that a stuck stop lingers');
  });

  it('is hardened without what would break Chromium’s sandbox or V8', () => {
    for (const [key, value] of Object.entries({
      NoNewPrivileges: 'yes',
      ProtectSystem: 'strict',
      ProtectHome: 'yes',
      PrivateTmp: 'yes',
      ProtectKernelTunables: 'yes',
      ProtectKernelModules: 'yes',
      RestrictSUIDSGID: 'yes',
      LockPersonality: 'yes',
      CapabilityBoundingSet: '',
    })) {
      assert.equal(service(key), value, `${key}=${value}`);
    }
    // V8's JIT (Node's and Chromium's) needs W+X memory; Chromium's sandbox creates namespaces.
    assert.notEqual(service('MemoryDenyWriteExecute'), 'yes');
    assert.ok(['no', undefined].includes(service('RestrictNamespaces')), 'RestrictNamespaces would stop Chromium’s sandbox');
    assert.equal(service('SystemCallFilter'), undefined);
    // ProtectHome hides /home: HOME (Chromium's NSS and font caches) must be elsewhere and writable.
    const home = (unit.get('Service')?.get('Environment') ?? []).map((e) => /^"?HOME=([^"\s]+)/.exec(e)?.[1]).find(Boolean);
    assert.ok(home && !home.startsWith('/home'), `HOME=${String(home)}`);
    const writable = (service('ReadWritePaths') ?? '').split(/\s+/).map((p) => p.replace(/^-/, ''));
    assert.ok(writable.some((p) => isUnder(home, p)), 'HOME is writable');
    assert.equal(unitValue(unit, 'Install', 'WantedBy'), 'multi-user.target');
  });
});

describe('deploy/compose.yaml', () => {
  const text = read('deploy/compose.yaml');
  const doc = parseYaml(text, { uniqueKeys: true }) as unknown;
  const obj = (value: unknown, what: string): Record<string, unknown> => {
    assert.ok(value && typeof value === 'object' && !Array.isArray(value), `${what} is not a mapping`);
    return value as Record<string, unknown>;
  };
  const services = obj(obj(doc, 'compose.yaml').services, 'services');
  const server = obj(services['multi-session'], 'services.multi-session');
  const dockerfileVolume = (): string => {
    const volume = parseDockerfile(read('deploy/Dockerfile')).filter((i) => i.keyword === 'VOLUME').at(-1);
    return volume?.args ?? '';
  };

  it('builds deploy/Dockerfile from the repository root and keeps sessions in a named volume at the image’s VOLUME', () => {
    const build = obj(server.build, 'build');
    const context = path.resolve(DEPLOY, String(build.context));
    assert.equal(context, ROOT, 'the context is the repository root, where .dockerignore is');
    assert.ok(existsSync(path.join(context, String(build.dockerfile))), `${String(build.dockerfile)} exists in the context`);
    const volumes = stringArray(server.volumes, 'volumes');
    const sessions = volumes.map((v) => v.split(':')).find((v) => v[1] === dockerfileVolume());
    assert.ok(sessions?.[0], `a volume at ${dockerfileVolume()}`);
    assert.ok(Object.keys(obj(obj(doc, 'compose.yaml').volumes, 'volumes')).includes(sessions[0]), `${sessions[0]} is a named volume`);
    assert.equal(server.restart, 'unless-stopped');
  });

  it('takes the API key from the environment, publishes the exposed port and outlasts the server’s shutdown', () => {
    const env = obj(server.environment, 'environment');
    assert.match(String(env.MULTI_SESSION_API_KEY), /^\$\{MULTI_SESSION_API_KEY(:?\?[^}]*)?\}$/);
    const ports = stringArray(server.ports, 'ports');
    assert.ok(ports.some((p) => p.endsWith(`:${String(PORT_DEFAULT)}`)), `the container port ${String(PORT_DEFAULT)} is published`);
    // Docker's default is 10 s: shorter than the server's own deadline.
    assert.ok(seconds(String(server.stop_grace_period)) > shutdownDeadlineSeconds(), `stop_grace_period ${String(server.stop_grace_period)} must exceed the server's shutdown deadline`);
  });

  it('keeps Chromium’s sandbox possible for a non-root user without giving the server a capability', () => {
    assert.deepEqual(server.cap_drop, ['ALL']);
    assert.deepEqual(server.cap_add, ['SYS_ADMIN']);
    assert.ok(stringArray(server.security_opt, 'security_opt').includes('no-new-privileges:true'), 'security_opt no-new-privileges:true');
    assert.equal(server.privileged, undefined);
    assert.equal(server.user, undefined, 'the image’s uid 10001');
  });

  it('offers Postgres 16 only under the cluster profile, with a health check and the URL the server would take', () => {
    const postgres = obj(services.postgres, 'services.postgres');
    assert.match(String(postgres.image), /^postgres:16(\b|-)/);
    assert.deepEqual(postgres.profiles, ['cluster']);
    assert.equal(server.profiles, undefined, 'the server itself runs without a profile');
    const test = stringArray(obj(postgres.healthcheck, 'healthcheck').test, 'healthcheck.test');
    assert.ok(test.includes('pg_isready'), `the Postgres health check runs pg_isready: ${test.join(' ')}`);
    const volumes = stringArray(postgres.volumes, 'postgres volumes');
    assert.ok(volumes.some((v) => v.endsWith(':/var/lib/postgresql/data')), 'Postgres keeps its data in a volume');
    // Commented out (the SQLite store is the default): the line a user uncomments must parse.
    const line = /^\s*#\s*MULTI_SESSION_DATABASE_URL:\s*(\S+)\s*$/m.exec(text);
    assert.ok(line?.[1], 'a commented MULTI_SESSION_DATABASE_URL line');
    const url = line[1].replace('${POSTGRES_PASSWORD}', 'secret');
    assert.equal(parseConfig(['--database-url', url], '0').databaseUrl, url);
    assert.equal(new URL(url).hostname, 'postgres');
    const pgEnv = obj(postgres.environment, 'postgres environment');
    assert.equal(new URL(url).pathname.slice(1), pgEnv.POSTGRES_DB);
    assert.equal(new URL(url).username, pgEnv.POSTGRES_USER);
  });
});
