import { ReactWidget } from '@jupyterlab/apputils';
import { refreshIcon, ToolbarButtonComponent } from '@jupyterlab/ui-components';
import React, { useCallback, useEffect, useState } from 'react';

import {
  createChat,
  getProviders,
  IChat,
  IModel,
  listChats,
  listModels
} from './api';
import { agentsIcon } from './icons';

/** The id of the side panel (also its Lumino tab's `data-id`). */
export const PANEL_ID = 'coder-agents-panel';

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

interface IPanelData {
  models: IModel[];
  hint: string | null;
  chats: IChat[];
}

function ModelList(props: {
  models: IModel[];
  hint: string | null;
}): JSX.Element {
  if (props.models.length === 0) {
    return (
      <p className="jp-CoderAgents-hint">
        {props.hint ??
          'No model is enabled. Ask your administrator to configure a provider.'}
      </p>
    );
  }
  return (
    <ul className="jp-CoderAgents-list">
      {props.models.map(model => (
        <li key={model.id} className="jp-CoderAgents-item">
          <span className="jp-CoderAgents-itemTitle">
            {model.display_name || model.id}
          </span>
          <span className="jp-CoderAgents-tag">
            {model.default ? 'default' : model.provider}
          </span>
        </li>
      ))}
    </ul>
  );
}

function ChatList(props: { chats: IChat[] }): JSX.Element {
  if (props.chats.length === 0) {
    return <p className="jp-CoderAgents-empty">No chats yet.</p>;
  }
  return (
    <ul className="jp-CoderAgents-list">
      {props.chats.map(chat => (
        <li key={chat.id} className="jp-CoderAgents-item">
          <span className="jp-CoderAgents-itemTitle">
            {chat.title || 'Untitled chat'}
          </span>
          <span className="jp-CoderAgents-status" data-status={chat.status}>
            {chat.status}
          </span>
        </li>
      ))}
    </ul>
  );
}

function NewChatForm(props: {
  disabled: boolean;
  onCreated: (chat: IChat) => void;
}): JSX.Element {
  const [prompt, setPrompt] = useState('');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);

  const submit = async (event: React.FormEvent): Promise<void> => {
    event.preventDefault();
    const text = prompt.trim();
    if (!text) {
      return;
    }
    setBusy(true);
    setError(null);
    try {
      props.onCreated(await createChat(text));
      setPrompt('');
    } catch (err) {
      setError(messageOf(err));
    } finally {
      setBusy(false);
    }
  };

  return (
    <form className="jp-CoderAgents-newChat" onSubmit={submit}>
      <textarea
        className="jp-CoderAgents-prompt"
        aria-label="New chat prompt"
        placeholder="Ask the agent…"
        rows={3}
        value={prompt}
        disabled={props.disabled || busy}
        onChange={event => setPrompt(event.target.value)}
      />
      <button
        type="submit"
        className="jp-mod-styled jp-mod-accept"
        disabled={props.disabled || busy || prompt.trim().length === 0}
      >
        New chat
      </button>
      {error && (
        <div className="jp-CoderAgents-error" role="alert">
          {error}
        </div>
      )}
    </form>
  );
}

/** The Agents panel: enabled models (or the set-up hint), a new-chat box, the user's chats. */
export function AgentsView(): JSX.Element {
  const [data, setData] = useState<IPanelData | null>(null);
  const [error, setError] = useState<string | null>(null);

  const load = useCallback(async (): Promise<void> => {
    setError(null);
    try {
      const [models, providers, chats] = await Promise.all([
        listModels(),
        getProviders(),
        listChats()
      ]);
      setData({ models, hint: providers.hint, chats });
    } catch (err) {
      setError(messageOf(err));
    }
  }, []);

  useEffect(() => {
    void load();
  }, [load]);

  const onCreated = (chat: IChat): void => {
    setData(
      current => current && { ...current, chats: [chat, ...current.chats] }
    );
  };

  return (
    <div className="jp-CoderAgents-body">
      <header className="jp-CoderAgents-header">
        <h2 className="jp-CoderAgents-title">Agents</h2>
        <ToolbarButtonComponent
          icon={refreshIcon}
          tooltip="Refresh"
          onClick={() => void load()}
        />
      </header>
      {error && (
        <div className="jp-CoderAgents-error" role="alert">
          {error}
        </div>
      )}
      {data === null ? (
        !error && <p className="jp-CoderAgents-empty">Loading…</p>
      ) : (
        <>
          <section className="jp-CoderAgents-section" aria-label="Models">
            <h3 className="jp-CoderAgents-sectionTitle">Models</h3>
            <ModelList models={data.models} hint={data.hint} />
          </section>
          <section className="jp-CoderAgents-section" aria-label="New chat">
            <NewChatForm
              disabled={data.models.length === 0}
              onCreated={onCreated}
            />
          </section>
          <section className="jp-CoderAgents-section" aria-label="Chats">
            <h3 className="jp-CoderAgents-sectionTitle">Chats</h3>
            <ChatList chats={data.chats} />
          </section>
        </>
      )}
    </div>
  );
}

/** The left-sidebar widget hosting `AgentsView`. */
export class AgentsPanel extends ReactWidget {
  constructor() {
    super();
    this.id = PANEL_ID;
    this.addClass('jp-CoderAgents');
    this.title.icon = agentsIcon;
    this.title.caption = 'Agents';
  }

  protected render(): JSX.Element {
    return <AgentsView />;
  }
}
