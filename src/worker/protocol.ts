import type { ErrorCode } from '../errors.js';
import type {
  EngineEvents,
  EngineName,
  IncomingMessage,
  MediaMessage,
  OutboxEntry,
  ResolvedSessionConfig,
  SandboxIncoming,
  SentMessage,
  TextMessage,
} from '../engines/types.js';

/** The typed IPC between the server and one session worker. */
export interface StartParams {
  sessionId: string;
  engine: EngineName;
  config: ResolvedSessionConfig;
  sessionDataDir: string;
  mediaDir: string;
}

/**
 * Every operation the server can ask of a worker, with its parameters and result. A new operation
 * is a line here and an entry in the runtime's table (src/worker/runtime.ts), nothing else.
 */
export interface WorkerOps {
  start: { params: StartParams; result: null };
  stop: { params: null; result: null };
  /** The liveness check: answered by the worker's event loop, whatever the engine is doing. */
  ping: { params: null; result: null };
  sendText: { params: TextMessage; result: SentMessage };
  sendImage: { params: MediaMessage; result: SentMessage };
  sendFile: { params: MediaMessage; result: SentMessage };
  logout: { params: null; result: null };
  'sandbox.scan': { params: null; result: null };
  'sandbox.incoming': { params: SandboxIncoming; result: IncomingMessage };
  'sandbox.outbox': { params: null; result: OutboxEntry[] };
}
export type WorkerOp = keyof WorkerOps;
export type SendOp = 'sendText' | 'sendImage' | 'sendFile';

export type RequestMessage = {
  [K in WorkerOp]: { kind: 'request'; id: number; op: K; params: WorkerOps[K]['params'] };
}[WorkerOp];

export interface WireError {
  code: ErrorCode;
  message: string;
  details?: unknown;
}

export type ResponseMessage =
  | { kind: 'response'; id: number; ok: true; result: unknown }
  | { kind: 'response'; id: number; ok: false; error: WireError };

export type EventMessage = {
  [K in keyof EngineEvents]: { kind: 'event'; event: K; payload: EngineEvents[K][0] };
}[keyof EngineEvents];

/** Sent just before the worker exits on its own, so the server can say why. */
export interface FatalMessage {
  kind: 'fatal';
  reason: string;
  retryable: boolean;
}

export type ParentMessage = RequestMessage;
export type WorkerMessage = ResponseMessage | EventMessage | FatalMessage;

export function isWorkerMessage(value: unknown): value is WorkerMessage {
  if (typeof value !== 'object' || value === null) return false;
  const kind = (value as { kind?: unknown }).kind;
  return kind === 'response' || kind === 'event' || kind === 'fatal';
}

export function isParentMessage(value: unknown): value is ParentMessage {
  return typeof value === 'object' && value !== null && (value as { kind?: unknown }).kind === 'request';
}
