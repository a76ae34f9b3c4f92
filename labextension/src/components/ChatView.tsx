/** A whole chat: header, conversation, what it waits for, the queue and the composer. */
import React, { useEffect, useMemo, useState } from 'react';

import { ChatModel } from '../chatModel';
import { IChatState } from '../reducer';
import { IMessage } from '../types';
import { ApprovalCard, PlanCard, QuestionCard } from './Awaiting';
import { ChangesView } from './ChangesView';
import { ChatHeader } from './ChatHeader';
import { Composer } from './Composer';
import { AgentsContext, IAgentsContext, useAgents } from './context';
import { Conversation } from './Conversation';
import { useNow, useSignal } from './hooks';
import { QueueList } from './QueueList';

function planText(state: IChatState, toolCallId: string): string | null {
  for (const m of state.messages) {
    for (const b of m.content) {
      if (b.type === 'tool_result' && b.tool_call_id === toolCallId) {
        return (b.display?.plan as string | undefined) ?? b.content;
      }
    }
  }
  const live = state.tools[toolCallId]?.result?.display?.plan;
  return typeof live === 'string' ? live : null;
}

function Banners(props: { model: ChatModel; state: IChatState }): JSX.Element {
  const { trans } = useAgents();
  const { model, state } = props;
  const chat = state.chat;
  const now = useNow(state.retry !== null, 500);
  return (
    <>
      {state.retry !== null && (
        <div className="jp-CoderAgents-banner" data-kind="retry" role="status">
          {trans.__(
            'Retrying in %1 s: %2 (attempt %3)',
            Math.max(0, Math.ceil((state.retry.until - now) / 1000)),
            state.retry.reason,
            state.retry.attempt
          )}
        </div>
      )}
      {chat?.status === 'error' && (
        <div className="jp-CoderAgents-banner" data-kind="error" role="alert">
          <span>{chat.error?.message ?? trans.__('The turn failed.')}</span>
          <button
            className="jp-mod-styled jp-mod-accept"
            onClick={() => void model.retry()}
          >
            {trans.__('Retry')}
          </button>
        </div>
      )}
      {model.disconnected && (
        <div className="jp-CoderAgents-banner" data-kind="retry" role="status">
          {trans.__('Connection to the server lost; reconnecting…')}
        </div>
      )}
      {chat?.status === 'paused' && (
        <div className="jp-CoderAgents-banner" data-kind="info" role="status">
          {trans.__('Stopped. Send a message to continue.')}
        </div>
      )}
      {state.notices.map(n => (
        <div
          key={n.seq}
          className="jp-CoderAgents-banner"
          data-kind="info"
          role="status"
        >
          {n.message}
        </div>
      ))}
    </>
  );
}

function Awaiting(props: {
  model: ChatModel;
  state: IChatState;
}): JSX.Element | null {
  const { trans } = useAgents();
  const { model, state } = props;
  const awaiting = state.chat?.awaiting;
  if (!awaiting) {
    return null;
  }
  switch (awaiting.kind) {
    case 'plan': {
      const plan = planText(state, awaiting.tool_call_id);
      return plan === null ? null : (
        <PlanCard model={model} plan={plan} path={awaiting.path} />
      );
    }
    case 'question':
      return (
        <QuestionCard
          model={model}
          questionId={awaiting.question_id}
          questions={awaiting.questions}
        />
      );
    case 'client_tool':
      return (
        <div className="jp-CoderAgents-banner" data-kind="info" role="status">
          {awaiting.calls
            .filter(c => !(c.tool_call_id in (awaiting.results ?? {})))
            .map(c => (
              <span key={c.tool_call_id}>
                {trans.__(
                  'The agent uses %1 in the kernel of %2 (open that notebook so it can run).',
                  c.name,
                  c.notebook
                )}
              </span>
            ))}
        </div>
      );
    case 'approval':
      return (
        <ApprovalCard
          model={model}
          calls={awaiting.calls}
          decided={awaiting.decisions ?? {}}
        />
      );
  }
}

export function ChatView(props: {
  model: ChatModel;
  onBack?: () => void;
  onOpenInTab?: () => void;
}): JSX.Element {
  const base = useAgents();
  const { trans, openChat, service } = base;
  const { model } = props;
  useSignal(model.changed);
  useSignal(service.changed);
  const state = model.state;
  const [showChanges, setShowChanges] = useState(false);
  const workspace = service.workspaces.find(
    w => w.id === state.chat?.workspace_id
  );

  // paths in tool results are relative to the chat's workspace; only local ones can open
  const ctx = useMemo<IAgentsContext>(() => {
    const open = base.openFile;
    const local = workspace?.kind === 'local' ? workspace.path : null;
    const children = state.chat?.children ?? [];
    return {
      ...base,
      api: model.api,
      chatInfo: (id: string) => children.find(c => c.id === id),
      openFile:
        open && local
          ? (path: string) =>
              open(
                path.startsWith('/')
                  ? path
                  : `${local.replace(/\/$/, '')}/${path}`
              )
          : undefined
    };
  }, [base, model, workspace?.kind, workspace?.path, state.chat?.children]);

  useEffect(() => {
    if (state.chat) {
      service.markSeen(state.chat.id, state.chat.updated_at);
    }
  }, [state.chat?.updated_at]);

  const fork = async (message: IMessage): Promise<void> => {
    const id = await model.fork(message.id);
    if (id !== null) {
      void service.refreshChats();
      openChat(id);
    }
  };

  return (
    <AgentsContext.Provider value={ctx}>
      <div className="jp-CoderAgents-chat" data-chat-id={model.id}>
        {state.chat === null ? (
          <div className="jp-CoderAgents-loading">
            {model.problem ?? trans.__('Loading…')}
          </div>
        ) : (
          <>
            <ChatHeader
              model={model}
              state={state}
              showingChanges={showChanges}
              onToggleChanges={() => setShowChanges(!showChanges)}
              onBack={props.onBack}
              onOpenInTab={props.onOpenInTab}
            />
            {showChanges ? (
              <ChangesView
                chatId={model.id}
                onClose={() => setShowChanges(false)}
              />
            ) : (
              <Conversation
                model={model}
                state={state}
                onFork={m => void fork(m)}
              />
            )}
            <Banners model={model} state={state} />
            <Awaiting model={model} state={state} />
            <QueueList model={model} />
            <Composer model={model} />
          </>
        )}
      </div>
    </AgentsContext.Provider>
  );
}
