/**
 * One open chat: its state (folded by `reduce`), its live stream, and the verbs a view calls.
 * Views subscribe to `changed` and render `state`; they never call the API themselves.
 */
import { IDisposable } from '@lumino/disposable';
import { ISignal, Signal } from '@lumino/signaling';

import { ChatApi, IUpdateChat, restApi } from './api';
import { Action, IChatState, initialState, reduce } from './reducer';
import { ChatStream, IStreamCallbacks } from './stream';
import { Awaiting, ChatEvent, Effort, IChatDetail } from './types';

/** Messages loaded when a chat opens, and per "load earlier". */
export const PAGE = 200;
const LAST_SEQ = 2 ** 31 - 1;
/** How long a gap in the frames may last before the held ones are applied anyway. */
const GAP_MS = 1500;

/** Where a chat's live events come from: its WebSocket, or a kernel (the chat widget). */
export interface IEventSource extends IDisposable {
  connect(): void;
}

/** Runs the tool calls a chat waits for the page to run (the user's live kernel). */
export type ClientToolRunner = (
  model: ChatModel,
  awaiting: Extract<Awaiting, { kind: 'client_tool' }>
) => void;

export interface IChatModelOptions {
  /** Runs client-side tool calls (the panel passes the notebook kernel runner). */
  clientTools?: ClientToolRunner;
  /** The chat verbs (default: over HTTP). */
  api?: ChatApi;
  /** The live events (default: the chat's WebSocket). */
  events?: (chatId: string, callbacks: IStreamCallbacks) => IEventSource;
}

export class ChatModel implements IDisposable {
  constructor(
    readonly id: string,
    options: IChatModelOptions = {}
  ) {
    this.api = options.api ?? restApi;
    this._events =
      options.events ?? ((id, callbacks) => new ChatStream(id, callbacks));
    this._clientTools = options.clientTools ?? null;
  }

  /** The verbs this chat's views use (HTTP, or through a kernel). */
  readonly api: ChatApi;

  get state(): IChatState {
    return this._state;
  }

  get changed(): ISignal<this, IChatState> {
    return this._changed;
  }

  /** A failed action or load, for the view to show; cleared by the next success. */
  get problem(): string | null {
    return this._problem;
  }

  get isDisposed(): boolean {
    return this._disposed;
  }

  /** Load the chat and its last page of messages, then follow its events. */
  async open(): Promise<void> {
    await this.refresh();
    this.follow();
  }

  /** Follow the chat's live events (once). */
  follow(): void {
    if (this._stream !== null || this._disposed) {
      return;
    }
    this._stream = this._events(this.id, {
      onEvents: events => this._onEvents(events),
      onOpen: reconnected => {
        this._connected = this._wasConnected = true;
        if (reconnected) {
          void this._catchUp();
        }
        this._emit();
      },
      onClose: () => {
        this._connected = false;
        this._emit();
      },
      lastSeq: () => this._state.lastSeq
    });
    this._stream.connect();
  }

  /** The live connection dropped after it had been up (it reconnects by itself). */
  get disconnected(): boolean {
    return this._wasConnected && !this._connected;
  }

  async refresh(): Promise<void> {
    await this._guard(async () => {
      const asOfSeq = this._state.lastSeq;
      const [chat, messages, queue] = await Promise.all([
        this.api.getChat(this.id),
        this.api.listMessages(this.id, { before: LAST_SEQ, limit: PAGE }),
        this.api.listQueue(this.id)
      ]);
      this.dispatch({
        type: 'loaded',
        chat,
        messages,
        queue,
        hasEarlier: messages.length === PAGE && messages[0].seq > 1,
        asOfSeq
      });
    });
  }

  async loadEarlier(): Promise<void> {
    const first = this._state.messages[0];
    if (!first || !this._state.hasEarlier || this._loadingEarlier) {
      return;
    }
    this._loadingEarlier = true;
    try {
      await this._guard(async () => {
        const messages = await this.api.listMessages(this.id, {
          before: first.seq,
          limit: PAGE
        });
        this.dispatch({
          type: 'earlier',
          messages,
          hasEarlier: messages.length === PAGE && messages[0].seq > 1
        });
      });
    } finally {
      this._loadingEarlier = false;
    }
  }

  dispatch(action: Action): void {
    const next = reduce(this._state, action);
    if (next !== this._state) {
      this._state = next;
      this._emit();
    }
  }

  // ----- verbs -----

  send(
    content: string,
    options: {
      attachments?: string[];
      effort?: Effort;
      planMode?: boolean;
    } = {}
  ): Promise<boolean> {
    return this._guard(() =>
      this.api.sendMessage(this.id, {
        content,
        attachments: options.attachments,
        reasoning_effort: options.effort,
        plan_mode: options.planMode
      })
    );
  }

  stop(): Promise<boolean> {
    return this._act(() => this.api.stopChat(this.id));
  }

  retry(): Promise<boolean> {
    return this._act(() => this.api.retryChat(this.id));
  }

  rename(title: string): Promise<boolean> {
    return this._act(() => this.api.updateChat(this.id, { title }));
  }

  update(body: IUpdateChat): Promise<boolean> {
    return this._act(() => this.api.updateChat(this.id, body));
  }

  editQueued(queueId: number, content: string): Promise<boolean> {
    return this._guard(() => this.api.editQueued(this.id, queueId, content));
  }

  deleteQueued(queueId: number): Promise<boolean> {
    return this._guard(() => this.api.deleteQueued(this.id, queueId));
  }

  sendQueuedNow(queueId: number): Promise<boolean> {
    return this._act(() => this.api.sendQueuedNow(this.id, queueId));
  }

  decidePlan(
    decision: 'approve' | 'revise',
    feedback?: string
  ): Promise<boolean> {
    return this._guard(() => this.api.decidePlan(this.id, decision, feedback));
  }

  answer(questionId: string, answers: string[]): Promise<boolean> {
    return this._guard(() =>
      this.api.answerQuestions(this.id, questionId, answers)
    );
  }

  decideApproval(
    toolCallId: string,
    decision: 'allow_once' | 'allow_chat' | 'reject',
    reason?: string
  ): Promise<boolean> {
    return this._act(() =>
      this.api.decideApproval(this.id, toolCallId, decision, reason)
    );
  }

  /** A new chat with this one's history up to `messageId`; resolves to its id. */
  async fork(messageId: number): Promise<string | null> {
    let id: string | null = null;
    await this._guard(async () => {
      id = (await this.api.forkChat(this.id, messageId)).id;
    });
    return id;
  }

  dispose(): void {
    if (this._disposed) {
      return;
    }
    this._disposed = true;
    clearTimeout(this._gapTimer);
    clearTimeout(this._childTimer);
    this._stream?.dispose();
    Signal.clearData(this);
  }

  // ----- internals -----

  private _onEvents(events: ChatEvent[]): void {
    this.dispatch({ type: 'events', events, now: Date.now() });
    clearTimeout(this._gapTimer);
    if (this._state.held.length > 0) {
      this._gapTimer = setTimeout(
        () => this.dispatch({ type: 'gap-timeout', now: Date.now() }),
        GAP_MS
      );
    }
    if (events.some(e => e.type === 'child' || e.type === 'status')) {
      this._refreshChatSoon(); // titles, usage and new children come with the chat
    }
  }

  /** After a reconnect: whatever the replay could not give (e.g. the server restarted). */
  private async _catchUp(): Promise<void> {
    const last = this._state.messages[this._state.messages.length - 1];
    await this._guard(async () => {
      const asOfSeq = this._state.lastSeq;
      const [chat, messages, queue] = await Promise.all([
        this.api.getChat(this.id),
        this.api.listMessages(this.id, { after: last?.seq ?? 0, limit: 5000 }),
        this.api.listQueue(this.id)
      ]);
      this.dispatch({ type: 'messages', messages });
      this.dispatch({
        type: 'loaded',
        chat,
        messages: this._state.messages,
        queue,
        hasEarlier: this._state.hasEarlier,
        asOfSeq
      });
    });
  }

  private _refreshChatSoon(): void {
    clearTimeout(this._childTimer);
    this._childTimer = setTimeout(() => {
      void this._guard(async () => {
        const asOfSeq = this._state.lastSeq;
        const chat = await this.api.getChat(this.id);
        this.dispatch({ type: 'chat', chat, asOfSeq });
      });
    }, 250);
  }

  /** Run an action that answers the chat, and take that answer as the chat's new state. */
  private _act(fn: () => Promise<IChatDetail>): Promise<boolean> {
    return this._guard(async () => {
      const asOfSeq = this._state.lastSeq;
      const chat = await fn();
      if (chat && typeof chat === 'object' && 'id' in chat) {
        this.dispatch({ type: 'chat', chat, asOfSeq });
      }
    });
  }

  private async _guard(fn: () => Promise<unknown>): Promise<boolean> {
    try {
      await fn();
      if (this._problem !== null) {
        this._problem = null;
        this._emit();
      }
      return true;
    } catch (error) {
      this._problem = error instanceof Error ? error.message : String(error);
      this._emit();
      return false;
    }
  }

  private _emit(): void {
    if (this._disposed) {
      return;
    }
    this._changed.emit(this._state);
    const awaiting = this._state.chat?.awaiting;
    if (awaiting?.kind === 'client_tool' && this._clientTools !== null) {
      this._clientTools(this, awaiting); // the runner takes each call once
    }
  }

  private _state: IChatState = initialState();
  private _changed = new Signal<this, IChatState>(this);
  private _stream: IEventSource | null = null;
  private _events: NonNullable<IChatModelOptions['events']>;
  private _clientTools: ClientToolRunner | null;
  private _problem: string | null = null;
  private _connected = false;
  private _wasConnected = false;
  private _disposed = false;
  private _loadingEarlier = false;
  private _gapTimer: ReturnType<typeof setTimeout> | undefined;
  private _childTimer: ReturnType<typeof setTimeout> | undefined;
}
