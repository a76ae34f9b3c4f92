/**
 * A chat's header: editable title, status, model, workspace, usage and cost, the context-window
 * gauge, and the tree of sub-agents (each opens its own conversation).
 */
import { launchIcon } from '@jupyterlab/ui-components';
import React, { useEffect, useState } from 'react';

import { ChatModel } from '../chatModel';
import {
  contextTokens,
  formatCost,
  formatTokens,
  totalTokens
} from '../format';
import { IChatState } from '../reducer';
import { IChat, IChatDetail } from '../types';
import { useAgents } from './context';
import { StatusBadge } from './StatusBadge';

function Title(props: { model: ChatModel; chat: IChatDetail }): JSX.Element {
  const { trans } = useAgents();
  const [editing, setEditing] = useState<string | null>(null);
  const save = async (): Promise<void> => {
    const title = (editing ?? '').trim();
    setEditing(null);
    if (title && title !== props.chat.title) {
      await props.model.rename(title);
    }
  };
  if (editing !== null) {
    return (
      <input
        className="jp-CoderAgents-titleInput"
        aria-label={trans.__('Chat title')}
        value={editing}
        autoFocus
        maxLength={200}
        onChange={e => setEditing(e.target.value)}
        onBlur={() => void save()}
        onKeyDown={e => {
          if (e.key === 'Enter') {
            void save();
          } else if (e.key === 'Escape') {
            setEditing(null);
          }
        }}
      />
    );
  }
  return (
    <button
      className="jp-CoderAgents-title"
      title={trans.__('Rename')}
      onClick={() => setEditing(props.chat.title)}
    >
      {props.chat.title || trans.__('Untitled chat')}
    </button>
  );
}

function Gauge(props: { used: number; window: number }): JSX.Element {
  const { trans } = useAgents();
  const share = props.window > 0 ? Math.min(1, props.used / props.window) : 0;
  const pct = Math.round(share * 100);
  return (
    <span
      className="jp-CoderAgents-gauge"
      role="meter"
      aria-valuemin={0}
      aria-valuemax={100}
      aria-valuenow={pct}
      aria-label={trans.__('Context window used')}
      title={trans.__(
        'Context: %1 of %2 tokens (%3%)',
        formatTokens(props.used),
        formatTokens(props.window),
        pct
      )}
      data-level={share > 0.85 ? 'high' : share > 0.6 ? 'mid' : 'low'}
    >
      <span className="jp-CoderAgents-gaugeBar" style={{ width: `${pct}%` }} />
    </span>
  );
}

function AgentTree(props: { chats: IChat[] }): JSX.Element {
  const { trans, openChat } = useAgents();
  return (
    <ul
      className="jp-CoderAgents-agentTree"
      aria-label={trans.__('Sub-agents')}
    >
      {props.chats.map(child => (
        <li key={child.id}>
          <button
            className="jp-CoderAgents-agentLink"
            data-chat-id={child.id}
            onClick={() => openChat(child.id)}
          >
            <StatusBadge status={child.status} />
            <span className="jp-CoderAgents-agentTitle">
              {child.title || trans.__('Sub-agent')}
            </span>
            {child.agent_type && (
              <span className="jp-CoderAgents-tag">{child.agent_type}</span>
            )}
            <span className="jp-CoderAgents-usage">
              {trans.__('%1 tokens', formatTokens(totalTokens(child.usage)))}
            </span>
          </button>
        </li>
      ))}
    </ul>
  );
}

const COMMANDS = ['execute', 'process_signal'];
const WRITES = ['write_file', 'edit_files', 'edit_notebook'];

/** Which tool calls wait for the user's OK in this chat (on top of the admin's policy). */
function askLevel(chat: IChatDetail): 'none' | 'commands' | 'all' {
  const tools = (chat.tool_policy as { tools?: Record<string, string> } | null)
    ?.tools;
  const asks = (names: string[]): boolean =>
    names.every(n => tools?.[n] === 'ask');
  // by the tools that matter most: a policy set elsewhere (the API) reads the same way
  return asks(['execute', 'write_file', 'edit_files'])
    ? 'all'
    : asks(['execute'])
      ? 'commands'
      : 'none';
}

function AskBefore(props: {
  model: ChatModel;
  chat: IChatDetail;
}): JSX.Element {
  const { trans } = useAgents();
  const choose = (level: string): void => {
    const ask =
      level === 'all'
        ? [...COMMANDS, ...WRITES]
        : level === 'commands'
          ? COMMANDS
          : [];
    const policy: Record<string, 'ask' | 'auto'> = {};
    for (const name of [...COMMANDS, ...WRITES]) {
      policy[name] = ask.includes(name) ? 'ask' : 'auto';
    }
    void props.model.update({ tool_policy: policy });
  };
  return (
    <select
      className="jp-CoderAgents-askBefore"
      aria-label={trans.__('Ask before')}
      title={trans.__(
        'Which tool calls wait for your approval in this chat (your administrator may require more)'
      )}
      value={askLevel(props.chat)}
      onChange={e => choose(e.target.value)}
    >
      <option value="none">{trans.__('Runs freely')}</option>
      <option value="commands">{trans.__('Ask before commands')}</option>
      <option value="all">{trans.__('Ask before commands and edits')}</option>
    </select>
  );
}

/** Which notebook's live kernel the agent may use in this chat (the user's consent). */
function KernelAccess(props: {
  model: ChatModel;
  chat: IChatDetail;
}): JSX.Element | null {
  const { trans, service } = useAgents();
  const current = props.chat.kernel?.notebook ?? '';
  const open = service.openNotebooks();
  if (props.chat.parent_id !== null || (open.length === 0 && !current)) {
    return null;
  }
  const choices =
    current && !open.includes(current) ? [current, ...open] : open;
  return (
    <select
      className="jp-CoderAgents-askBefore"
      aria-label={trans.__('Kernel access')}
      title={trans.__(
        'Let the agent inspect variables and run code in the live kernel of an open notebook'
      )}
      value={current}
      onChange={e =>
        void props.model.update({
          kernel: e.target.value ? { notebook: e.target.value } : null
        })
      }
    >
      <option value="">{trans.__('No kernel access')}</option>
      {choices.map(path => (
        <option key={path} value={path}>
          {trans.__('Kernel of %1', path)}
        </option>
      ))}
    </select>
  );
}

export function ChatHeader(props: {
  model: ChatModel;
  state: IChatState;
  onToggleChanges: () => void;
  showingChanges: boolean;
  onBack?: () => void;
  onOpenInTab?: () => void;
}): JSX.Element | null {
  const { trans, service, openChat } = useAgents();
  const { model, state } = props;
  const chat = state.chat;
  const workspaceId = chat?.workspace_id ?? null;
  const workspace = service.workspaces.find(w => w.id === workspaceId);
  const missing = workspaceId !== null && workspace === undefined;
  useEffect(() => {
    if (missing) {
      void service.refreshWorkspaces(); // the chat's first turn just created it
    }
  }, [missing, workspaceId]);
  if (chat === null) {
    return null;
  }
  const modelInfo = service.models.find(m => m.id === chat.model);
  const lastAssistant = [...state.messages]
    .reverse()
    .find(m => m.role === 'assistant' && m.usage);
  const context = state.context ?? {
    tokens: contextTokens(lastAssistant?.usage),
    window: modelInfo?.context_window ?? 0
  };
  const treeCost = chat.tree_usage?.cost_micros ?? chat.usage.cost_micros;
  return (
    <div className="jp-CoderAgents-chatHeader">
      <div className="jp-CoderAgents-headerRow">
        {props.onBack && (
          <button
            className="jp-CoderAgents-iconButton"
            aria-label={trans.__('All chats')}
            title={trans.__('All chats')}
            onClick={props.onBack}
          >
            ←
          </button>
        )}
        <Title model={model} chat={chat} />
        <StatusBadge status={chat.status} />
        {props.onOpenInTab && (
          <button
            className="jp-CoderAgents-iconButton"
            title={trans.__('Open in a tab')}
            aria-label={trans.__('Open in a tab')}
            onClick={props.onOpenInTab}
          >
            <launchIcon.react tag="span" />
          </button>
        )}
      </div>
      <div className="jp-CoderAgents-headerRow jp-CoderAgents-meta">
        {chat.parent_id && (
          <button
            className="jp-CoderAgents-link"
            onClick={() => openChat(chat.parent_id as string)}
          >
            {trans.__('↑ Parent chat')}
          </button>
        )}
        <span title={trans.__('Model')}>
          {modelInfo?.display_name || chat.model}
        </span>
        <span title={trans.__('Workspace')}>
          {workspace ? workspace.name : trans.__('workspace pending')}
        </span>
        <span
          className="jp-CoderAgents-usage"
          title={trans.__(
            'Input %1, output %2, cached %3 tokens',
            formatTokens(chat.usage.input_tokens ?? 0),
            formatTokens(chat.usage.output_tokens ?? 0),
            formatTokens(chat.usage.cache_read_tokens ?? 0)
          )}
        >
          {trans.__('%1 tokens', formatTokens(totalTokens(chat.usage)))} ·{' '}
          {formatCost(treeCost)}
        </span>
        {context.window > 0 && (
          <Gauge used={context.tokens} window={context.window} />
        )}
        <AskBefore model={model} chat={chat} />
        <KernelAccess model={model} chat={chat} />
        <button
          className="jp-CoderAgents-link"
          aria-pressed={props.showingChanges}
          onClick={props.onToggleChanges}
        >
          {trans.__('Changes')}
        </button>
      </div>
      {chat.children.length > 0 && <AgentTree chats={chat.children} />}
    </div>
  );
}
