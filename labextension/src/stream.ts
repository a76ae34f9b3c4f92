/**
 * The WebSocket of one chat's live events, reconnecting with `after_seq` so no frame of the
 * current turn is lost. Frames are handed over in batches, once per animation frame, so a fast
 * stream costs one render per frame rather than one per token.
 */
import { URLExt } from '@jupyterlab/coreutils';
import { ServerConnection } from '@jupyterlab/services';

import { API_PATH } from './request';
import { ChatEvent } from './types';

export interface IStreamCallbacks {
  /** Frames in arrival order. */
  onEvents(events: ChatEvent[]): void;
  /** The socket (re)opened; `reconnected` is false the first time. */
  onOpen(reconnected: boolean): void;
  onClose(): void;
  /** The last seq applied, to resume from. */
  lastSeq(): number;
}

const MAX_BACKOFF_MS = 10_000;

const schedule: (fn: () => void) => void =
  typeof requestAnimationFrame === 'function'
    ? fn => requestAnimationFrame(() => fn())
    : fn => setTimeout(fn, 16);

export class ChatStream {
  constructor(
    readonly chatId: string,
    private readonly callbacks: IStreamCallbacks,
    private readonly settings: ServerConnection.ISettings = ServerConnection.makeSettings()
  ) {}

  get isDisposed(): boolean {
    return this._disposed;
  }

  connect(): void {
    if (this._disposed) {
      return;
    }
    const after = this.callbacks.lastSeq();
    let url = URLExt.join(
      this.settings.wsUrl,
      API_PATH,
      'chats',
      this.chatId,
      'events'
    );
    url += `?after_seq=${after}`;
    if (this.settings.token && this.settings.appendToken) {
      url += `&token=${encodeURIComponent(this.settings.token)}`;
    }
    const socket = new this.settings.WebSocket(url);
    this._socket = socket;
    socket.onopen = () => {
      this._backoff = 500;
      this.callbacks.onOpen(this._opened);
      this._opened = true;
    };
    socket.onmessage = (msg: MessageEvent) => {
      try {
        this._pending.push(JSON.parse(String(msg.data)) as ChatEvent);
      } catch {
        return; // not a frame of ours
      }
      if (!this._flushScheduled) {
        this._flushScheduled = true;
        schedule(() => this._flush());
      }
    };
    socket.onclose = () => {
      if (this._socket !== socket) {
        return;
      }
      this._flush();
      this._socket = null;
      this.callbacks.onClose();
      if (!this._disposed) {
        this._timer = setTimeout(() => this.connect(), this._backoff);
        this._backoff = Math.min(this._backoff * 2, MAX_BACKOFF_MS);
      }
    };
  }

  dispose(): void {
    this._disposed = true;
    clearTimeout(this._timer);
    const socket = this._socket;
    this._socket = null;
    socket?.close();
  }

  private _flush(): void {
    this._flushScheduled = false;
    if (this._pending.length === 0 || this._disposed) {
      return;
    }
    const events = this._pending;
    this._pending = [];
    this.callbacks.onEvents(events);
  }

  private _socket: WebSocket | null = null;
  private _pending: ChatEvent[] = [];
  private _flushScheduled = false;
  private _opened = false;
  private _disposed = false;
  private _backoff = 500;
  private _timer: ReturnType<typeof setTimeout> | undefined;
}
