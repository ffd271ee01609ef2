import { ConfigError, CommanderError, parseConfig } from './options.js';
import { packageVersion, startServer } from './server.js';
import { childLogger } from '../log.js';

const SHUTDOWN_DEADLINE_MS = 15_000;

function fail(message: string, code: number): never {
  process.stderr.write(`multi-session: ${message}\n`);
  process.exit(code);
}

async function main(): Promise<void> {
  let config;
  try {
    config = parseConfig(process.argv.slice(2), packageVersion());
  } catch (err) {
    if (err instanceof CommanderError) {
      // --help and --version end here with code 0; a bad flag with a one-line reason.
      if (err.exitCode === 0) process.exit(0);
      fail(err.message.replace(/^error: /, ''), 2);
    }
    if (err instanceof ConfigError) fail(err.message, 2);
    throw err;
  }

  let server;
  try {
    server = await startServer(config);
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    if (e.code === 'EADDRINUSE') fail(`port ${String(config.port)} on ${config.host} is already in use: pick another with --port`, 1);
    if (e.code === 'EACCES' && e.syscall === 'listen') fail(`not allowed to listen on ${config.host}:${String(config.port)}`, 1);
    if (e.code === 'EACCES' || e.code === 'EROFS') fail(`cannot write the sessions folder ${config.sessionsDir}: ${e.message}`, 1);
    throw err;
  }
  const log = childLogger(server.logger, 'wa:server');
  const running = server;

  let stopping = false;
  const shutdown = (signal: string): void => {
    if (stopping) return;
    stopping = true;
    log.info(`${signal}: stopping every session`);
    const hard = setTimeout(() => {
      // Events the database has not taken yet go to a file, stored at the next start.
      log.error('shutdown took too long; exiting');
      running.keepUnstored();
      process.exit(1);
    }, SHUTDOWN_DEADLINE_MS);
    hard.unref();
    running
      .close()
      .then(() => {
        log.info('stopped');
        process.exit(0);
      })
      .catch((err: unknown) => {
        log.error(`shutdown failed: ${String(err)}`);
        process.exit(1);
      });
  };
  process.on('SIGTERM', () => shutdown('SIGTERM'));
  process.on('SIGINT', () => shutdown('SIGINT'));
}

main().catch((err: unknown) => fail(err instanceof Error ? err.message : String(err), 1));
