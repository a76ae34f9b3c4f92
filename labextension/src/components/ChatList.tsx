/** The sidebar's home: the user's chats, newest first, with search, unread marks and archive. */
import { closeIcon, refreshIcon } from '@jupyterlab/ui-components';
import React, { useState } from 'react';

import { relativeTime } from '../format';
import { StatusBadge } from './StatusBadge';
import { useAgents } from './context';
import { useNow, useSignal } from './hooks';

export function ChatList(props: {
  onOpen: (chatId: string) => void;
  onNew: () => void;
}): JSX.Element {
  const { service, trans } = useAgents();
  useSignal(service.changed);
  const now = useNow(true, 30_000);
  const [search, setSearch] = useState('');
  const needle = search.trim().toLowerCase();
  const chats = service.chats.filter(
    c => !needle || (c.title || '').toLowerCase().includes(needle)
  );
  const noModel = service.loaded && service.models.length === 0;

  return (
    <div className="jp-CoderAgents-home">
      <div className="jp-CoderAgents-homeHeader">
        <h2 className="jp-CoderAgents-heading">{trans.__('Agents')}</h2>
        <button
          className="jp-CoderAgents-iconButton"
          title={trans.__('Refresh')}
          aria-label={trans.__('Refresh')}
          onClick={() => void service.refresh()}
        >
          <refreshIcon.react tag="span" />
        </button>
        <button
          className="jp-mod-styled jp-mod-accept jp-CoderAgents-newChat"
          disabled={noModel}
          onClick={props.onNew}
        >
          {trans.__('New chat')}
        </button>
      </div>
      {noModel && (
        <p className="jp-CoderAgents-hint">
          {service.hint ??
            trans.__(
              'No model is enabled. Ask your administrator to configure a provider.'
            )}
        </p>
      )}
      {service.problem && (
        <p className="jp-CoderAgents-error" role="alert">
          {service.problem}
        </p>
      )}
      <input
        className="jp-CoderAgents-search"
        type="search"
        placeholder={trans.__('Search chats')}
        aria-label={trans.__('Search chats')}
        value={search}
        onChange={e => setSearch(e.target.value)}
      />
      {service.loaded && chats.length === 0 ? (
        <p className="jp-CoderAgents-empty">
          {needle ? trans.__('No chat matches.') : trans.__('No chats yet.')}
        </p>
      ) : (
        <ul className="jp-CoderAgents-chatList" aria-label={trans.__('Chats')}>
          {chats.map(chat => {
            const unread = service.isUnread(chat);
            return (
              <li
                key={chat.id}
                className="jp-CoderAgents-chatItem"
                data-chat-id={chat.id}
                data-unread={unread}
              >
                <button
                  className="jp-CoderAgents-chatOpen"
                  onClick={() => props.onOpen(chat.id)}
                >
                  {unread && (
                    <span
                      className="jp-CoderAgents-unread"
                      aria-label={trans.__('unread')}
                    />
                  )}
                  <span className="jp-CoderAgents-chatTitle">
                    {chat.title || trans.__('Untitled chat')}
                  </span>
                  <span className="jp-CoderAgents-chatTime">
                    {relativeTime(chat.updated_at, now)}
                  </span>
                  <StatusBadge status={chat.status} />
                </button>
                <button
                  className="jp-CoderAgents-iconButton jp-CoderAgents-archive"
                  title={trans.__('Archive')}
                  aria-label={trans.__('Archive %1', chat.title || '')}
                  onClick={() => void service.archive(chat.id)}
                >
                  <closeIcon.react tag="span" />
                </button>
              </li>
            );
          })}
        </ul>
      )}
    </div>
  );
}
