import { AppError } from '../../errors.js';
import { Engine, type EngineContext, type SentMessage } from '../types.js';

// TEMPORARY (issue 3 replaces this file): the real engine is not written yet.
export class WaAutomateEngine extends Engine {
  constructor(_ctx: EngineContext) {
    super();
  }
  start(): Promise<void> {
    this.emit('status', { status: 'failed', error: 'the wa-automate engine is not implemented yet', retryable: false });
    return Promise.resolve();
  }
  #no(): Promise<SentMessage> {
    return Promise.reject(new AppError('ENGINE_ERROR', 'the wa-automate engine is not implemented yet'));
  }
  sendText(): Promise<SentMessage> { return this.#no(); }
  sendImage(): Promise<SentMessage> { return this.#no(); }
  sendFile(): Promise<SentMessage> { return this.#no(); }
  logout(): Promise<void> { return Promise.resolve(); }
  stop(): Promise<void> { return Promise.resolve(); }
}
