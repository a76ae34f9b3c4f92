/** One message of the conversation: a user's prompt, or an assistant's blocks in order. */
import { caretDownIcon, caretRightIcon } from '@jupyterlab/ui-components';
import React, { useState } from 'react';

import { attachmentUrl } from '../api';
import { formatDuration } from '../format';
import { IToolRun } from '../reducer';
import {
  ContentBlock,
  IMessage,
  IReasoningBlock,
  ISourcesBlock,
  IToolResultBlock
} from '../types';
import { useAgents } from './context';
import { Markdown } from './Markdown';
import { ToolCard } from './ToolCard';

export interface IBlocksProps {
  blocks: ContentBlock[];
  results: Map<string, IToolResultBlock>;
  tools: Record<string, IToolRun>;
  /** The chat's turn is running (calls without a result are still to come). */
  active: boolean;
  /** Still streaming: the last block grows. */
  streaming?: boolean;
  /** For a block that is thinking right now: when it started (epoch ms). */
  reasoningStartedAt?: number;
  /** Calls that wait for the user's approval. */
  waiting?: ReadonlySet<string>;
}

function Thinking(props: {
  block: IReasoningBlock;
  live: boolean;
}): JSX.Element {
  const { trans } = useAgents();
  const [open, setOpen] = useState(false);
  const { block, live } = props;
  const label = live
    ? trans.__('Thinking…')
    : block.duration_ms
      ? trans.__('Thought for %1', formatDuration(block.duration_ms))
      : trans.__('Thinking');
  const redacted = !block.text && !!block.redacted_data;
  const Icon = open ? caretDownIcon : caretRightIcon;
  return (
    <div className="jp-CoderAgents-thinking" data-live={live}>
      <button
        className="jp-CoderAgents-thinkingToggle"
        aria-expanded={open}
        onClick={() => setOpen(!open)}
      >
        <Icon.react tag="span" className="jp-CoderAgents-caret" />
        <span className={live ? 'jp-CoderAgents-shimmer' : ''}>{label}</span>
      </button>
      {open && (
        <div className="jp-CoderAgents-thinkingBody">
          {redacted
            ? trans.__('The provider redacted this reasoning.')
            : block.text}
        </div>
      )}
    </div>
  );
}

function Sources(props: { block: ISourcesBlock }): JSX.Element {
  const { trans } = useAgents();
  return (
    <div className="jp-CoderAgents-sources">
      <span className="jp-CoderAgents-sourcesLabel">
        {props.block.query
          ? trans.__('Searched the web for “%1”', props.block.query)
          : trans.__('Searched the web')}
      </span>
      <ul>
        {props.block.sources.map(s => (
          <li key={s.url}>
            <a href={s.url} target="_blank" rel="noopener noreferrer">
              {s.title || s.url}
            </a>
          </li>
        ))}
      </ul>
    </div>
  );
}

/** An assistant's (or a stream's) blocks, tool calls paired with their results. */
export function Blocks(props: IBlocksProps): JSX.Element {
  const last = props.blocks.length - 1;
  return (
    <>
      {props.blocks.map((block, i) => {
        const live = !!props.streaming && i === last;
        switch (block.type) {
          case 'text':
            return block.text ? (
              <Markdown key={i} text={block.text} />
            ) : (
              <React.Fragment key={i} />
            );
          case 'reasoning':
            return <Thinking key={i} block={block} live={live} />;
          case 'tool_call': {
            const run = props.tools[block.id];
            const saved = props.results.get(block.id);
            const result =
              saved ??
              (run?.result
                ? {
                    type: 'tool_result' as const,
                    tool_call_id: block.id,
                    ...run.result
                  }
                : undefined);
            return (
              <ToolCard
                key={block.id}
                call={block}
                result={result}
                run={run}
                active={props.active}
                waiting={props.waiting?.has(block.id)}
              />
            );
          }
          case 'sources':
            return <Sources key={i} block={block} />;
          case 'image':
            return (
              <img
                key={i}
                className="jp-CoderAgents-image"
                src={attachmentUrl(block.attachment_id)}
                alt=""
              />
            );
          default:
            return <React.Fragment key={i} />;
        }
      })}
    </>
  );
}

function UserMessage(props: { message: IMessage }): JSX.Element {
  const text = props.message.content
    .map(b => (b.type === 'text' ? b.text : ''))
    .filter(Boolean)
    .join('\n\n');
  const images = props.message.content.filter(b => b.type === 'image');
  return (
    <div className="jp-CoderAgents-userBubble">
      {images.length > 0 && (
        <div className="jp-CoderAgents-userImages">
          {images.map(b =>
            b.type === 'image' ? (
              <a
                key={b.attachment_id}
                href={attachmentUrl(b.attachment_id)}
                target="_blank"
                rel="noopener noreferrer"
              >
                <img src={attachmentUrl(b.attachment_id)} alt="" />
              </a>
            ) : null
          )}
        </div>
      )}
      <div className="jp-CoderAgents-userText">{text}</div>
    </div>
  );
}

function Summary(props: { message: IMessage }): JSX.Element {
  const { trans } = useAgents();
  const [open, setOpen] = useState(false);
  const text = props.message.content
    .map(b => (b.type === 'text' ? b.text : ''))
    .join('\n');
  return (
    <div className="jp-CoderAgents-summary">
      <button aria-expanded={open} onClick={() => setOpen(!open)}>
        {trans.__('Earlier conversation summarised to save context')}
      </button>
      {open && <Markdown text={text} />}
    </div>
  );
}

function MessageViewBody(props: {
  message: IMessage;
  results: Map<string, IToolResultBlock>;
  tools: Record<string, IToolRun>;
  active: boolean;
  waiting?: ReadonlySet<string>;
  onFork?: (message: IMessage) => void;
}): JSX.Element {
  const { trans } = useAgents();
  const { message } = props;
  return (
    <div
      className="jp-CoderAgents-message"
      data-role={message.role}
      data-seq={message.seq}
      data-message-id={message.id}
    >
      {message.is_summary ? (
        <Summary message={message} />
      ) : message.role === 'user' ? (
        <UserMessage message={message} />
      ) : (
        <Blocks
          blocks={message.content}
          results={props.results}
          tools={props.tools}
          active={props.active}
          waiting={props.waiting}
        />
      )}
      {props.onFork && !message.is_summary && (
        <div className="jp-CoderAgents-messageActions">
          <button
            className="jp-CoderAgents-iconButton"
            title={trans.__('Fork: a new chat with the history up to here')}
            onClick={() => props.onFork?.(message)}
          >
            {trans.__('Fork')}
          </button>
        </div>
      )}
    </div>
  );
}

/** Saved messages never change: re-rendered only when their tools or results do. */
export const MessageView = React.memo(MessageViewBody);
