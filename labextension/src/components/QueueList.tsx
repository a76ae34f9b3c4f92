/**
 * The follow-ups queued while a turn runs, shown above the composer: each can be edited,
 * deleted, or sent now (which interrupts the running turn).
 */
import React, { useEffect, useReducer, useState } from 'react';

import { ChatModel } from '../chatModel';
import { IQueued } from '../types';
import { useAgents } from './context';

export function QueueList(props: { model: ChatModel }): JSX.Element | null {
  const { model } = props;
  const { trans } = useAgents();
  useModelChanges(model);
  const queue = model.state.queue;
  if (queue.length === 0) {
    return null;
  }
  return (
    <div
      className="jp-CoderAgents-queue"
      role="region"
      aria-label={trans.__('Queued messages')}
    >
      <div className="jp-CoderAgents-queueLabel">
        {trans.__('Queued (%1)', queue.length)}
      </div>
      <ul className="jp-CoderAgents-queueList">
        {queue.map(item => (
          <QueueItem key={item.id} model={model} item={item} />
        ))}
      </ul>
    </div>
  );
}

function QueueItem(props: { model: ChatModel; item: IQueued }): JSX.Element {
  const { model, item } = props;
  const { trans } = useAgents();
  const text = item.content
    .map(b => (b.type === 'text' ? b.text : ''))
    .filter(t => t !== '')
    .join('\n');
  const images = item.content.filter(b => b.type === 'image').length;
  const [editing, setEditing] = useState(false);
  const [draft, setDraft] = useState(text);
  const [busy, setBusy] = useState<'save' | 'delete' | 'send' | null>(null);

  const run = async (
    kind: 'save' | 'delete' | 'send',
    fn: () => Promise<boolean>
  ): Promise<boolean> => {
    setBusy(kind);
    try {
      return await fn();
    } finally {
      setBusy(null);
    }
  };

  const save = async (): Promise<void> => {
    const content = draft.trim();
    if (content === '') {
      return;
    }
    if (content === text.trim()) {
      setEditing(false);
      return;
    }
    if (await run('save', () => model.editQueued(item.id, content))) {
      setEditing(false);
    }
  };

  const disabled = busy !== null;
  return (
    <li className="jp-CoderAgents-queueItem">
      {editing ? (
        <div className="jp-CoderAgents-queueEdit">
          <textarea
            className="jp-CoderAgents-textarea"
            aria-label={trans.__('Queued message')}
            value={draft}
            rows={Math.min(8, Math.max(2, draft.split('\n').length))}
            autoFocus
            onChange={e => setDraft(e.target.value)}
            onKeyDown={e => {
              if (e.nativeEvent.isComposing) {
                return;
              }
              if (e.key === 'Escape') {
                e.preventDefault();
                setEditing(false);
              } else if (e.key === 'Enter' && (e.ctrlKey || e.metaKey)) {
                e.preventDefault();
                void save();
              }
            }}
          />
          <div className="jp-CoderAgents-cardButtons">
            <button
              type="button"
              className="jp-mod-styled jp-mod-accept jp-CoderAgents-button"
              disabled={disabled || draft.trim() === ''}
              onClick={() => void save()}
            >
              {trans.__('Save')}
            </button>
            <button
              type="button"
              className="jp-mod-styled jp-mod-reject jp-CoderAgents-button"
              disabled={disabled}
              onClick={() => setEditing(false)}
            >
              {trans.__('Cancel')}
            </button>
          </div>
        </div>
      ) : (
        <>
          <div className="jp-CoderAgents-queueText">
            {text !== '' ? (
              text
            ) : (
              <span className="jp-CoderAgents-muted">
                {trans.__('(no text)')}
              </span>
            )}
            {images > 0 ? (
              <span className="jp-CoderAgents-queueImages">
                {trans._n('%1 image', '%1 images', images)}
              </span>
            ) : null}
          </div>
          <div className="jp-CoderAgents-queueActions">
            <button
              type="button"
              className="jp-CoderAgents-linkButton"
              disabled={disabled}
              title={trans.__('Edit this queued message')}
              onClick={() => {
                setDraft(text);
                setEditing(true);
              }}
            >
              {trans.__('Edit')}
            </button>
            <button
              type="button"
              className="jp-CoderAgents-linkButton"
              disabled={disabled}
              title={trans.__('Remove this message from the queue')}
              onClick={() =>
                void run('delete', () => model.deleteQueued(item.id))
              }
            >
              {trans.__('Delete')}
            </button>
            <button
              type="button"
              className="jp-CoderAgents-linkButton"
              disabled={disabled}
              title={trans.__(
                'Interrupt the running turn and send this message now'
              )}
              onClick={() =>
                void run('send', () => model.sendQueuedNow(item.id))
              }
            >
              {busy === 'send' ? trans.__('Sending…') : trans.__('Send now')}
            </button>
          </div>
        </>
      )}
    </li>
  );
}

/** Re-render when the chat changes (the queue arrives with `queue` frames). */
function useModelChanges(model: ChatModel): void {
  const [, bump] = useReducer((n: number) => n + 1, 0);
  useEffect(() => {
    const signal = model.changed;
    if (!signal || typeof signal.connect !== 'function') {
      return;
    }
    const onChange = (): void => bump();
    signal.connect(onChange);
    return () => {
      signal.disconnect(onChange);
    };
  }, [model]);
}
