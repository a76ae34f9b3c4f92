/**
 * What every view of the extension shares: the enabled models, the user's chats (refreshed
 * while anything shows them), which chats are unread, and one `ChatModel` per open chat, so a
 * chat shown in the sidebar and in a tab streams once.
 */
import { DisposableDelegate, IDisposable } from '@lumino/disposable';
import { ISignal, Signal } from '@lumino/signaling';

import * as api from './api';
import { ChatModel, ClientToolRunner } from './chatModel';
import { IChat, IModel, IWorkspace } from './types';

const SEEN_KEY = 'coder-agents-jupyter:seen';
const POLL_MS = 3000;

/** User preferences from the settings registry (schema/plugin.json). */
export interface IPreferences {
  defaultModel: string;
  sendKey: 'Enter' | 'Ctrl+Enter';
  openChatsIn: 'sidebar' | 'main';
}

export const DEFAULT_PREFERENCES: IPreferences = {
  defaultModel: '',
  sendKey: 'Enter',
  openChatsIn: 'sidebar'
};

export class AgentsService implements IDisposable {
  get changed(): ISignal<this, void> {
    return this._changed;
  }

  get models(): IModel[] {
    return this._models;
  }

  get workspaces(): IWorkspace[] {
    return this._workspaces;
  }

  get hint(): string | null {
    return this._hint;
  }

  get chats(): IChat[] {
    return this._chats;
  }

  /** The last failure to reach the server, shown by the chat list. */
  get problem(): string | null {
    return this._problem;
  }

  get loaded(): boolean {
    return this._loaded;
  }

  get preferences(): IPreferences {
    return this._preferences;
  }

  set preferences(value: IPreferences) {
    this._preferences = value;
    this._changed.emit();
  }

  /** The model a new chat starts with: the user's preference if enabled, else the default. */
  get defaultModel(): IModel | undefined {
    const preferred = this._models.find(
      m => m.id === this._preferences.defaultModel
    );
    return preferred ?? this._models.find(m => m.default) ?? this._models[0];
  }

  isDisposed = false;

  /** Runs tool calls in notebook kernels (set by the plugin when notebooks exist). */
  clientTools: ClientToolRunner | undefined = undefined;

  /** The paths of the notebooks open now (whose kernels a chat may be allowed to use). */
  openNotebooks: () => string[] = () => [];

  async refresh(): Promise<void> {
    try {
      const [models, providers, chats, workspaces] = await Promise.all([
        api.listModels(),
        api.getProviders(),
        api.listChats({ limit: 200 }),
        api.listWorkspaces()
      ]);
      this._models = models;
      this._hint = providers.hint;
      this._workspaces = workspaces.filter(w => w.status !== 'deleted');
      this._setChats(chats);
      this._problem = null;
    } catch (error) {
      this._problem = error instanceof Error ? error.message : String(error);
    }
    this._loaded = true;
    this._changed.emit();
  }

  async refreshChats(): Promise<void> {
    try {
      this._setChats(await api.listChats({ limit: 200 }));
      this._problem = null;
    } catch (error) {
      this._problem = error instanceof Error ? error.message : String(error);
    }
    this._changed.emit();
  }

  /** Take models and workspaces as given (the chat widget gets them through its kernel). */
  useSnapshot(models: IModel[], workspaces: IWorkspace[]): void {
    this._models = models;
    this._workspaces = workspaces.filter(w => w.status !== 'deleted');
    this._loaded = true;
    this._changed.emit();
  }

  /** Reload the workspaces (at most once per second: several views may ask at once). */
  async refreshWorkspaces(): Promise<void> {
    const now = Date.now();
    if (now - this._workspacesAt < 1000) {
      return;
    }
    this._workspacesAt = now;
    try {
      const all = await api.listWorkspaces();
      this._workspaces = all.filter(w => w.status !== 'deleted');
      this._changed.emit();
    } catch {
      // shown as "workspace pending" until the next refresh
    }
  }

  /** Keep the chat list fresh while at least one view shows it; returns the release. */
  watch(): IDisposable {
    this._watchers++;
    if (this._watchers === 1) {
      void this.refresh();
      this._poll = setInterval(() => void this.refreshChats(), POLL_MS);
    }
    return new DisposableDelegate(() => {
      this._watchers--;
      if (this._watchers === 0) {
        clearInterval(this._poll);
      }
    });
  }

  /** The chat's shared model (opened on first use); release it with the returned disposable. */
  acquire(chatId: string): { model: ChatModel; release: IDisposable } {
    let entry = this._open.get(chatId);
    if (entry === undefined) {
      const model = new ChatModel(chatId, { clientTools: this.clientTools });
      entry = { model, users: 0 };
      this._open.set(chatId, entry);
      void model.open();
      model.changed.connect(this._onChatChanged, this);
    }
    entry.users++;
    const held = entry;
    return {
      model: held.model,
      release: new DisposableDelegate(() => {
        held.users--;
        if (held.users === 0) {
          this._open.delete(chatId);
          held.model.dispose();
        }
      })
    };
  }

  /** Start a chat and add it to the list at once. */
  async create(body: api.ICreateChat): Promise<IChat> {
    const chat = await api.createChat(body);
    this._setChats([chat, ...this._chats.filter(c => c.id !== chat.id)]);
    this.markSeen(chat.id, chat.updated_at);
    this._changed.emit();
    return chat;
  }

  async archive(chatId: string): Promise<void> {
    await api.archiveChat(chatId);
    this._setChats(this._chats.filter(c => c.id !== chatId));
    this._changed.emit();
  }

  isUnread(chat: IChat): boolean {
    if (this._open.has(chat.id)) {
      return false;
    }
    const seen = this._seen[chat.id];
    return seen !== undefined && chat.updated_at > seen;
  }

  markSeen(chatId: string, updatedAt: string): void {
    if ((this._seen[chatId] ?? '') >= updatedAt) {
      return;
    }
    this._seen = { ...this._seen, [chatId]: updatedAt };
    try {
      localStorage.setItem(SEEN_KEY, JSON.stringify(this._seen));
    } catch {
      // private mode or full storage: unread markers then last for the session only
    }
  }

  dispose(): void {
    if (this.isDisposed) {
      return;
    }
    this.isDisposed = true;
    clearInterval(this._poll);
    for (const { model } of this._open.values()) {
      model.dispose();
    }
    this._open.clear();
    Signal.clearData(this);
  }

  private _setChats(chats: IChat[]): void {
    // top-level chats only: sub-agents are shown in their parent's tree
    this._chats = chats.filter(c => c.parent_id === null && !c.archived);
    for (const chat of this._chats) {
      if (this._seen[chat.id] === undefined || this._open.has(chat.id)) {
        this.markSeen(chat.id, chat.updated_at);
      }
    }
  }

  private _onChatChanged(model: ChatModel): void {
    const chat = model.state.chat;
    if (chat === null) {
      return;
    }
    const listed = this._chats.find(c => c.id === chat.id);
    if (
      listed !== undefined &&
      (listed.status !== chat.status || listed.title !== chat.title)
    ) {
      this._chats = this._chats.map(c =>
        c.id === chat.id ? { ...c, status: chat.status, title: chat.title } : c
      );
      this._changed.emit();
    }
  }

  private _changed = new Signal<this, void>(this);
  private _models: IModel[] = [];
  private _workspaces: IWorkspace[] = [];
  private _workspacesAt = 0;
  private _hint: string | null = null;
  private _chats: IChat[] = [];
  private _problem: string | null = null;
  private _loaded = false;
  private _preferences: IPreferences = DEFAULT_PREFERENCES;
  private _watchers = 0;
  private _poll: ReturnType<typeof setInterval> | undefined;
  private _open = new Map<string, { model: ChatModel; users: number }>();
  private _seen: Record<string, string> = loadSeen();
}

function loadSeen(): Record<string, string> {
  try {
    return JSON.parse(localStorage.getItem(SEEN_KEY) ?? '{}');
  } catch {
    return {};
  }
}
