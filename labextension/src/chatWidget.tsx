/**
 * The chat widget of notebooks (Python: `coder_agents_jupyter.client.widget.ChatWidget`): the
 * panel's own `ChatView`, fed through the kernel instead of HTTP, so it works wherever the
 * kernel reaches the server, in JupyterLab and Notebook 7 alike.
 *
 * The widget *model* holds the data (one `ChatModel` per chat shown, seeded from the synced
 * state, then followed through events the kernel forwards); views only render it, so frames
 * that arrive before a view exists are not lost and two views of one widget agree.
 */
import {
  DOMWidgetModel,
  DOMWidgetView,
  IJupyterWidgetRegistry
} from '@jupyter-widgets/base';
import {
  JupyterFrontEnd,
  JupyterFrontEndPlugin
} from '@jupyterlab/application';
import { ReactWidget } from '@jupyterlab/apputils';
import { IRenderMimeRegistry } from '@jupyterlab/rendermime';
import { ITranslator, nullTranslator } from '@jupyterlab/translation';
import { Widget } from '@lumino/widgets';
import React, { useMemo, useState } from 'react';

import { chatApi, Requester, ResponseError } from './api';
import { ChatModel, IEventSource, PAGE } from './chatModel';
import { ChatView } from './components/ChatView';
import { AgentsContext, IAgentsContext } from './components/context';
import { useSignal } from './components/hooks';
import { AgentsService } from './service';
import { IStreamCallbacks } from './stream';
import {
  ChatEvent,
  IChatDetail,
  IMessage,
  IModel,
  IQueued,
  IWorkspace
} from './types';

export const MODULE = 'coder-agents-jupyter';
export const MODULE_VERSION = '0.1.0';
/** Frames kept for a chat nobody follows yet (a view not rendered). */
const MAX_BUFFERED = 50_000;

/** What every widget view gets from JupyterLab (set when the plugin activates). */
const shared: Pick<IAgentsContext, 'rendermime' | 'trans'> = {
  rendermime: null,
  trans: nullTranslator.load('coder_agents_jupyter')
};

/** Requests and events over the widget's comm. */
class KernelLink {
  constructor(private readonly model: DOMWidgetModel) {
    model.on('msg:custom', this._onMessage, this);
  }

  readonly request: Requester = async <T,>(
    endpoint: string,
    init: RequestInit = {}
  ): Promise<T> => {
    const id = ++this._next;
    const message: Record<string, unknown> = {
      type: 'request',
      id,
      method: init.method ?? 'GET',
      endpoint,
      body: null
    };
    const buffers: ArrayBuffer[] = [];
    if (init.body instanceof FormData) {
      const file = init.body.get('file') as File;
      message.file = { name: file.name, type: file.type };
      buffers.push(await file.arrayBuffer());
    } else if (typeof init.body === 'string') {
      message.body = JSON.parse(init.body);
    }
    return new Promise<T>((resolve, reject) => {
      this._pending.set(id, { resolve, reject });
      this.model.send(message as any, {}, buffers);
    });
  };

  events(chatId: string, callbacks: IStreamCallbacks): IEventSource {
    let disposed = false;
    return {
      connect: () => {
        this._followers.set(chatId, callbacks);
        const held = this._held.get(chatId);
        this._held.delete(chatId);
        callbacks.onOpen(false);
        if (held?.length) {
          callbacks.onEvents(held);
        }
        this.model.send({ type: 'follow', chat_id: chatId }, {});
      },
      get isDisposed() {
        return disposed;
      },
      dispose: () => {
        disposed = true;
        if (this._followers.get(chatId) === callbacks) {
          this._followers.delete(chatId);
        }
      }
    };
  }

  private _onMessage(content: any): void {
    if (content?.type === 'reply') {
      const pending = this._pending.get(content.id);
      this._pending.delete(content.id);
      if (content.ok) {
        pending?.resolve(content.data);
      } else {
        const e = content.error ?? {};
        pending?.reject(
          new ResponseError(e.status ?? 0, e.code ?? 'error', e.message ?? '')
        );
      }
    } else if (content?.type === 'events') {
      const events = content.events as ChatEvent[];
      const follower = this._followers.get(content.chat_id);
      if (follower) {
        follower.onEvents(events);
      } else {
        const held = [...(this._held.get(content.chat_id) ?? []), ...events];
        this._held.set(content.chat_id, held.slice(-MAX_BUFFERED));
      }
    }
  }

  private _next = 0;
  private _pending = new Map<
    number,
    { resolve: (v: any) => void; reject: (e: Error) => void }
  >();
  private _followers = new Map<string, IStreamCallbacks>();
  private _held = new Map<string, ChatEvent[]>();
}

export class ChatWidgetModel extends DOMWidgetModel {
  defaults(): any {
    return {
      ...super.defaults(),
      _model_name: 'ChatWidgetModel',
      _view_name: 'ChatWidgetView',
      _model_module: MODULE,
      _view_module: MODULE,
      _model_module_version: MODULE_VERSION,
      _view_module_version: MODULE_VERSION,
      chat: {},
      messages: [],
      queue: [],
      models: [],
      workspaces: []
    };
  }

  get service(): AgentsService {
    if (this._service === null) {
      this._service = new AgentsService();
      this._service.useSnapshot(
        (this.get('models') as IModel[]) ?? [],
        (this.get('workspaces') as IWorkspace[]) ?? []
      );
    }
    return this._service;
  }

  get rootId(): string {
    return ((this.get('chat') as IChatDetail) ?? {}).id ?? '';
  }

  /** The model of a chat of this widget's tree, created (and followed) on first use. */
  chatModel(chatId: string): ChatModel {
    let model = this._chats.get(chatId);
    if (model === undefined) {
      const link = this._link;
      model = new ChatModel(chatId, {
        api: chatApi(link.request),
        events: (id, callbacks) => link.events(id, callbacks)
      });
      this._chats.set(chatId, model);
      if (chatId === this.rootId) {
        const messages = (this.get('messages') as IMessage[]) ?? [];
        model.dispatch({
          type: 'loaded',
          chat: this.get('chat') as IChatDetail,
          messages,
          queue: (this.get('queue') as IQueued[]) ?? [],
          hasEarlier: messages.length === PAGE && messages[0].seq > 1
        });
        model.follow();
      } else {
        void model.open();
      }
    }
    return model;
  }

  initialize(attributes: any, options: any): void {
    super.initialize(attributes, options);
    // here, not as field initialisers: Backbone calls initialize() inside the base
    // constructor, and initialised fields would be reset after it
    this._link = new KernelLink(this);
    this._chats = new Map();
    this._service = null;
  }

  private _link!: KernelLink;
  private _service!: AgentsService | null;
  private _chats!: Map<string, ChatModel>;
}

function WidgetChat(props: { model: ChatWidgetModel }): JSX.Element {
  const root = props.model.rootId;
  const [chatId, setChatId] = useState(root);
  const service = props.model.service;
  useSignal(service.changed);
  const ctx = useMemo<IAgentsContext>(
    () => ({ ...shared, service, openChat: id => setChatId(id) }),
    [service]
  );
  const chat = props.model.chatModel(chatId);
  return (
    <AgentsContext.Provider value={ctx}>
      <ChatView
        key={chatId}
        model={chat}
        onBack={chatId !== root ? () => setChatId(root) : undefined}
      />
    </AgentsContext.Provider>
  );
}

export class ChatWidgetView extends DOMWidgetView {
  render(): void {
    this.el.classList.add('jp-CoderAgents-widget');
    const model = this.model as ChatWidgetModel;
    if (!model.rootId) {
      this.el.textContent = 'This chat widget has no chat.';
      return;
    }
    const content = ReactWidget.create(<WidgetChat model={model} />);
    content.addClass('jp-CoderAgents-panel');
    content.addClass('jp-CoderAgents-widgetBody');
    this._content = content;
    void this.displayed.then(() => {
      if (!content.isDisposed && this.el.isConnected) {
        Widget.attach(content, this.el);
      }
    });
  }

  remove(): any {
    this._content?.dispose();
    this._content = null;
    return super.remove();
  }

  private _content: Widget | null = null;
}

/** Registers the widget with the notebook's widget manager (JupyterLab and Notebook 7). */
export const widgetPlugin: JupyterFrontEndPlugin<void> = {
  id: 'coder-agents-jupyter:widget',
  description: 'The live chat widget of notebooks.',
  autoStart: true,
  requires: [IJupyterWidgetRegistry],
  optional: [IRenderMimeRegistry, ITranslator],
  activate: (
    _app: JupyterFrontEnd,
    registry: IJupyterWidgetRegistry,
    rendermime: IRenderMimeRegistry | null,
    translator: ITranslator | null
  ): void => {
    shared.rendermime = rendermime;
    shared.trans = (translator ?? nullTranslator).load('coder_agents_jupyter');
    registry.registerWidget({
      name: MODULE,
      version: MODULE_VERSION,
      exports: { ChatWidgetModel, ChatWidgetView }
    });
  }
};
