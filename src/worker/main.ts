/**
 * The session worker: a child process that runs exactly one engine. Its command line carries
 * `--session <id>` so the process table tells workers apart. It never outlives the server: when the
 * IPC channel closes (the server exited, even by SIGKILL) it stops its engine and exits.
 */
import { describeError } from '../errors.js';
import { isParentMessage, type WorkerMessage } from './protocol.js';
import { WorkerRuntime } from './runtime.js';

if (!process.send) {
  process.stderr.write('the session worker is started by the server, not by hand\n');
  process.exit(2);
}

function send(message: WorkerMessage): void {
  if (process.connected) process.send?.(message);
}

const runtime = new WorkerRuntime({ send });
let exiting = false;

// open-wa calls process.exit() on several failure paths. Here that ends this session only; say why
// first, so the server reports "the client ended its process" rather than a bare exit code.
const realExit = process.exit.bind(process);
process.exit = ((code?: number | string | null) => {
  if (!exiting) {
    exiting = true;
    send({
      kind: 'fatal',
      reason: `the WhatsApp client ended its worker process (process.exit(${String(code ?? 0)}))`,
      retryable: true,
    });
  }
  return realExit(code ?? undefined);
});

async function shutdown(code: number): Promise<void> {
  if (exiting) return;
  exiting = true;
  const timer = setTimeout(() => realExit(code), 5000);
  timer.unref();
  try {
    await runtime.stop();
  } finally {
    realExit(code);
  }
}

/**
 * open-wa leaves some of its errors unhandled (its live-patch download among them, see
 * engines/wa-automate/patches.ts): an engine that knows one reports it as its status and claims it;
 * anything unclaimed is a crash.
 */
function claimedByEngine(err: unknown): boolean {
  try {
    return runtime.engine?.claimStrayError(err) ?? false;
  } catch {
    return false;
  }
}

function fatal(reason: string, retryable = true): void {
  send({ kind: 'fatal', reason, retryable });
  void shutdown(1);
}

process.on('message', (message: unknown) => {
  if (isParentMessage(message)) void runtime.handle(message);
});
process.on('disconnect', () => void shutdown(0));
process.on('SIGTERM', () => void shutdown(0));
process.on('SIGINT', () => void shutdown(0));
process.on('uncaughtException', (err) => fatal(`the session worker crashed: ${describeError(err)}`));
process.on('unhandledRejection', (err) => {
  if (!claimedByEngine(err)) fatal(`the session worker crashed: ${describeError(err)}`);
});
