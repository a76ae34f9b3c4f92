/**
 * The Lumino widgets that host the React views: the Agents sidebar (chat list, a new chat, or
 * one chat) and a chat in a main-area tab. Each holds its chat's shared model while shown.
 */
import { ReactWidget } from '@jupyterlab/apputils';
import { IDisposable } from '@lumino/disposable';
import React from 'react';

import { ChatModel } from './chatModel';
import { ChatList } from './components/ChatList';
import { ChatView } from './components/ChatView';
import { Composer } from './components/Composer';
import { AgentsContext, IAgentsContext } from './components/context';
import { agentsIcon } from './icons';

/** The id of the side panel (also its Lumino tab's `data-id`). */
export const PANEL_ID = 'coder-agents-panel';

type SidebarView =
  | { kind: 'list' }
  | { kind: 'new'; text?: string; images?: File[]; key: number }
  | { kind: 'chat'; id: string };

export class AgentsSidebar extends ReactWidget {
  constructor(
    private readonly ctx: IAgentsContext,
    private readonly openInTab: (chatId: string) => void
  ) {
    super();
    this.id = PANEL_ID;
    this.title.icon = agentsIcon;
    this.title.caption = ctx.trans.__('Agents');
    this.addClass('jp-CoderAgents-panel');
    this._watch = ctx.service.watch();
  }

  /** The chat shown, if any. */
  get chatId(): string | null {
    return this._view.kind === 'chat' ? this._view.id : null;
  }

  showList(): void {
    this._show({ kind: 'list' });
  }

  showNew(text?: string, images?: File[]): void {
    this._show({ kind: 'new', text, images, key: Date.now() });
  }

  showChat(id: string): void {
    this._show({ kind: 'chat', id });
  }

  dispose(): void {
    this._chat?.release.dispose();
    this._watch.dispose();
    super.dispose();
  }

  protected render(): JSX.Element {
    const view = this._view;
    let body: JSX.Element;
    if (view.kind === 'chat' && this._chat) {
      const id = view.id;
      body = (
        <ChatView
          key={id}
          model={this._chat.model}
          onBack={() => this.showList()}
          onOpenInTab={() => {
            this.showList();
            this.openInTab(id);
          }}
        />
      );
    } else if (view.kind === 'new') {
      body = (
        <div className="jp-CoderAgents-newChatView" key={view.key}>
          <div className="jp-CoderAgents-headerRow">
            <button
              className="jp-CoderAgents-iconButton"
              aria-label={this.ctx.trans.__('All chats')}
              title={this.ctx.trans.__('All chats')}
              onClick={() => this.showList()}
            >
              ←
            </button>
            <h2 className="jp-CoderAgents-heading">
              {this.ctx.trans.__('New chat')}
            </h2>
          </div>
          <p className="jp-CoderAgents-empty">
            {this.ctx.trans.__(
              'Describe the work. The agent reads and edits files and runs commands in its workspace while you watch.'
            )}
          </p>
          <Composer
            model={null}
            initialText={view.text}
            initialImages={view.images}
            autoFocus
            onCreated={id => this.showChat(id)}
          />
        </div>
      );
    } else {
      body = (
        <ChatList
          onOpen={id => this.showChat(id)}
          onNew={() => this.showNew()}
        />
      );
    }
    return (
      <AgentsContext.Provider value={this.ctx}>{body}</AgentsContext.Provider>
    );
  }

  private _show(view: SidebarView): void {
    const id = view.kind === 'chat' ? view.id : null;
    if (id !== this.chatId) {
      this._chat?.release.dispose();
      this._chat = id === null ? null : this.ctx.service.acquire(id);
    }
    this._view = view;
    this.update();
  }

  private _view: SidebarView = { kind: 'list' };
  private _chat: { model: ChatModel; release: IDisposable } | null = null;
  private _watch: IDisposable;
}

/** A chat in a main-area tab. */
export class ChatPanel extends ReactWidget {
  constructor(
    private readonly ctx: IAgentsContext,
    readonly chatId: string
  ) {
    super();
    this.id = `coder-agents-chat-${chatId}`;
    this.addClass('jp-CoderAgents-panel');
    this.addClass('jp-CoderAgents-tab');
    this.title.icon = agentsIcon;
    this.title.closable = true;
    this.title.label = ctx.trans.__('Chat');
    this._held = ctx.service.acquire(chatId);
    this._held.model.changed.connect(this._onChanged, this);
  }

  dispose(): void {
    this._held.release.dispose();
    super.dispose();
  }

  protected render(): JSX.Element {
    return (
      <AgentsContext.Provider value={this.ctx}>
        <ChatView model={this._held.model} />
      </AgentsContext.Provider>
    );
  }

  private _onChanged(model: ChatModel): void {
    const title = model.state.chat?.title;
    if (title && title !== this.title.label) {
      this.title.label = title;
      this.title.caption = title;
    }
  }

  private _held: { model: ChatModel; release: IDisposable };
}
