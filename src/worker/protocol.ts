import type { ErrorCode } from '../errors.js';
import type {
  ContactInfo,
  ContactMessage,
  CreateGroupRequest,
  EngineEvents,
  EngineName,
  GroupInfo,
  IncomingMessage,
  InviteCode,
  LocationMessage,
  MediaMessage,
  NumberStatus,
  OutboxEntry,
  PairingCode,
  ParticipantsRequest,
  PresenceRequest,
  ReactionMessage,
  ResolvedSessionConfig,
  SandboxIncoming,
  SentAnswer,
  SentMessage,
  SentQuery,
  TextMessage,
} from '../engines/types.js';

/** The typed IPC between the server and one session worker. */
export interface StartParams {
  sessionId: string;
  engine: EngineName;
  config: ResolvedSessionConfig;
  sessionDataDir: string;
  mediaDir: string;
  /** Link by this phone number (pairing code) instead of a QR code, for this launch. */
  linkCode?: string | undefined;
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
  sendMedia: { params: MediaMessage; result: SentMessage };
  sendLocation: { params: LocationMessage; result: SentMessage };
  sendContact: { params: ContactMessage; result: SentMessage };
  sendReaction: { params: ReactionMessage; result: SentMessage };
  sendSeen: { params: { chatId: string }; result: null };
  setPresence: { params: PresenceRequest; result: null };
  checkNumber: { params: { contactId: string }; result: NumberStatus };
  getContact: { params: { contactId: string }; result: ContactInfo };
  listGroups: { params: null; result: GroupInfo[] };
  createGroup: { params: CreateGroupRequest; result: GroupInfo };
  getGroup: { params: { groupId: string }; result: GroupInfo };
  changeParticipants: { params: ParticipantsRequest; result: GroupInfo };
  groupInviteCode: { params: { groupId: string }; result: InviteCode };
  requestPairingCode: { params: { phoneNumber: string }; result: PairingCode };
  findSent: { params: SentQuery; result: SentAnswer };
  logout: { params: null; result: null };
  'sandbox.scan': { params: { code?: string | undefined } | null; result: null };
  'sandbox.incoming': { params: SandboxIncoming; result: IncomingMessage };
  'sandbox.outbox': { params: null; result: OutboxEntry[] };
}
export type WorkerOp = keyof WorkerOps;
/** The operations that send a message (and may wait in a session's send queue). */
export const SEND_OPS = ['sendText', 'sendMedia', 'sendLocation', 'sendContact', 'sendReaction'] as const;
export type SendOp = (typeof SEND_OPS)[number];

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
