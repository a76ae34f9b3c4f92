/**
 * The live state of one chat, and the pure reducer that folds REST loads and WebSocket frames
 * into it. No JupyterLab imports: the reducer is unit-tested on its own.
 *
 * Frames carry a per-chat `seq` that only grows. A frame at or below the last applied one is a
 * duplicate (a reconnect replays from `after_seq`) and is dropped; a frame that skips ahead is
 * held until the gap fills, or until `gap-timeout` says the missing frames are not coming (a
 * server restart starts a new, larger numbering).
 *
 * Deltas build *streams*: assistant messages still being written. The server saves a message
 * after it streamed (its `message_end` may come after the next message started), in order, so
 * an assistant `message_end` retires the oldest stream. A `retry` discards the open stream (the
 * server drops a partial answer before it restarts), and a turn that ends drops what is left.
 */
import {
  ChatEvent,
  ChatStatus,
  ContentBlock,
  IChatDetail,
  IChatError,
  IMessage,
  IQueued,
  IToolResultBlock,
  IUsage
} from './types';

export interface IStream {
  /** A number that names this stream for its lifetime (React keys). */
  key: number;
  blocks: ContentBlock[];
  startedAt: number;
  /** When the current reasoning block started streaming (for its duration). */
  reasoningStartedAt?: number;
}

export interface IToolRun {
  id: string;
  name: string;
  input: Record<string, any> | null;
  /** `streaming`: the model is still writing the arguments. */
  state: 'streaming' | 'running' | 'done';
  progress: string;
  result?: Omit<IToolResultBlock, 'type' | 'tool_call_id'>;
  startedAt: number;
  endedAt?: number;
}

export interface IRetry {
  attempt: number;
  reason: string;
  delaySeconds: number;
  /** Epoch ms when the next attempt starts. */
  until: number;
}

export interface INotice {
  seq: number;
  message: string;
}

export interface IChatState {
  chat: IChatDetail | null;
  /** Saved messages, in `seq` order, each once. */
  messages: IMessage[];
  /** More messages exist before the first one loaded. */
  hasEarlier: boolean;
  streams: IStream[];
  /** Tool calls seen live in this session, by call id. */
  tools: Record<string, IToolRun>;
  queue: IQueued[];
  lastSeq: number;
  /** Frames that arrived ahead of a gap, in `seq` order. */
  held: ChatEvent[];
  retry: IRetry | null;
  context: { tokens: number; window: number } | null;
  notices: INotice[];
  nextKey: number;
  /** The last message whose usage `chat.usage` includes (replayed frames count once). */
  countedSeq: number;
}

export type Action =
  | {
      type: 'loaded';
      chat: IChatDetail;
      messages: IMessage[];
      queue: IQueued[];
      hasEarlier: boolean;
      asOfSeq?: number;
    }
  | { type: 'earlier'; messages: IMessage[]; hasEarlier: boolean }
  | {
      type: 'chat';
      chat: IChatDetail;
      /** `lastSeq` when the request was sent: frames since then are newer than the answer. */
      asOfSeq?: number;
    }
  | { type: 'messages'; messages: IMessage[] }
  | { type: 'events'; events: ChatEvent[]; now: number }
  | { type: 'gap-timeout'; now: number };

export const MAX_PROGRESS = 200_000;
const MAX_NOTICES = 20;

export function initialState(): IChatState {
  return {
    chat: null,
    messages: [],
    hasEarlier: false,
    streams: [],
    tools: {},
    queue: [],
    lastSeq: 0,
    held: [],
    retry: null,
    context: null,
    notices: [],
    nextKey: 1,
    countedSeq: 0
  };
}

export const ACTIVE: ReadonlySet<ChatStatus> = new Set(['pending', 'running']);

/** Merge saved messages into an ordered list, each `seq` once (the newer copy wins). */
export function mergeMessages(
  current: IMessage[],
  incoming: IMessage[]
): IMessage[] {
  if (incoming.length === 0) {
    return current;
  }
  const last = current[current.length - 1];
  if (
    incoming.length === 1 &&
    (last === undefined || incoming[0].seq > last.seq)
  ) {
    return [...current, incoming[0]]; // the common case: one new message at the end
  }
  const bySeq = new Map<number, IMessage>();
  for (const m of current) {
    bySeq.set(m.seq, m);
  }
  for (const m of incoming) {
    bySeq.set(m.seq, m);
  }
  return [...bySeq.values()].sort((a, b) => a.seq - b.seq);
}

export function addUsage(a: IUsage | undefined, b: IUsage): IUsage {
  const out: IUsage = { ...(a ?? {}) };
  for (const [key, value] of Object.entries(b)) {
    if (typeof value === 'number') {
      const k = key as keyof IUsage;
      out[k] = (out[k] ?? 0) + value;
    }
  }
  return out;
}

/**
 * A chat as the API answered it, except what live frames changed since the request was sent:
 * a status that moved on (e.g. paused -> running -> waiting) must not go back.
 */
function fresher(
  state: IChatState,
  chat: IChatDetail,
  asOfSeq: number | undefined
): IChatDetail {
  const live = state.chat;
  if (live === null || asOfSeq === undefined || state.lastSeq <= asOfSeq) {
    return chat;
  }
  return {
    ...chat,
    status: live.status,
    error: live.error,
    awaiting: live.awaiting,
    usage: live.usage,
    tree_usage: live.tree_usage,
    message_count: Math.max(live.message_count, chat.message_count)
  };
}

export function reduce(state: IChatState, action: Action): IChatState {
  switch (action.type) {
    case 'loaded':
      return {
        ...state,
        chat: fresher(state, action.chat, action.asOfSeq),
        messages: mergeMessages(action.messages, state.messages),
        hasEarlier: action.hasEarlier,
        queue: action.queue,
        streams: ACTIVE.has(action.chat.status) ? state.streams : [],
        countedSeq: action.chat.message_count
      };
    case 'earlier':
      return {
        ...state,
        messages: mergeMessages(state.messages, action.messages),
        hasEarlier: action.hasEarlier
      };
    case 'chat':
      return {
        ...state,
        chat: fresher(state, action.chat, action.asOfSeq),
        countedSeq: Math.max(state.countedSeq, action.chat.message_count)
      };
    case 'messages':
      return {
        ...state,
        messages: mergeMessages(state.messages, action.messages)
      };
    case 'events':
      return receive(state, action.events, action.now);
    case 'gap-timeout':
      return drain({ ...state }, action.now, true);
  }
}

function receive(
  state: IChatState,
  events: ChatEvent[],
  now: number
): IChatState {
  const s: IChatState = { ...state, held: [...state.held] };
  for (const event of events) {
    if (event.seq <= s.lastSeq || s.held.some(h => h.seq === event.seq)) {
      continue; // a duplicate
    }
    if (s.lastSeq !== 0 && event.seq > s.lastSeq + 1) {
      s.held.push(event);
      s.held.sort((a, b) => a.seq - b.seq);
      continue;
    }
    applyEvent(s, event, now);
    drain(s, now, false);
  }
  return s;
}

/** Apply held frames that are now in line (or all of them, when the gap is given up on). */
function drain(s: IChatState, now: number, force: boolean): IChatState {
  while (s.held.length > 0) {
    const next = s.held[0];
    if (next.seq <= s.lastSeq) {
      s.held = s.held.slice(1);
      continue;
    }
    if (!force && next.seq !== s.lastSeq + 1) {
      break;
    }
    s.held = s.held.slice(1);
    applyEvent(s, next, now);
  }
  return s;
}

function lastStream(s: IChatState): IStream {
  if (s.streams.length === 0) {
    s.streams = [{ key: s.nextKey++, blocks: [], startedAt: Date.now() }];
  }
  return s.streams[s.streams.length - 1];
}

function replaceLastStream(s: IChatState, stream: IStream): void {
  s.streams = [...s.streams.slice(0, -1), stream];
}

function appendDelta(
  s: IChatState,
  kind: 'text' | 'reasoning',
  text: string,
  now: number
): void {
  const stream = lastStream(s);
  const blocks = [...stream.blocks];
  const last = blocks[blocks.length - 1];
  let reasoningStartedAt = stream.reasoningStartedAt;
  if (last !== undefined && last.type === kind) {
    blocks[blocks.length - 1] = { ...last, text: last.text + text };
  } else {
    blocks.push(
      kind === 'text' ? { type: 'text', text } : { type: 'reasoning', text }
    );
    if (kind === 'reasoning') {
      reasoningStartedAt = now;
    }
  }
  if (kind === 'text' && last?.type === 'reasoning' && reasoningStartedAt) {
    // the thinking just ended: keep how long it took on the block
    blocks[blocks.length - 2] = {
      ...last,
      duration_ms: now - reasoningStartedAt
    };
    reasoningStartedAt = undefined;
  }
  replaceLastStream(s, { ...stream, blocks, reasoningStartedAt });
}

function setChat(s: IChatState, patch: Partial<IChatDetail>): void {
  if (s.chat !== null) {
    s.chat = { ...s.chat, ...patch };
  }
}

function applyEvent(s: IChatState, event: ChatEvent, now: number): void {
  s.lastSeq = event.seq;
  switch (event.type) {
    case 'status': {
      const error: IChatError | null =
        event.status === 'error'
          ? (event.error ?? s.chat?.error ?? null)
          : null;
      // a plan, questions or approvals stay asked until the chat moves on
      const asks =
        event.status === 'waiting' || event.status === 'requires_action';
      setChat(s, {
        status: event.status,
        error,
        awaiting: asks ? (s.chat?.awaiting ?? null) : null
      });
      if (!ACTIVE.has(event.status)) {
        s.streams = []; // the turn ended: whatever was not saved was dropped by the server
        s.retry = null;
      }
      break;
    }
    case 'message_start':
      s.streams = [
        ...s.streams,
        { key: s.nextKey++, blocks: [], startedAt: now }
      ];
      s.retry = null;
      break;
    case 'text_delta':
      appendDelta(s, 'text', event.text, now);
      break;
    case 'reasoning_delta':
      appendDelta(s, 'reasoning', event.text, now);
      break;
    case 'tool_call': {
      const run = s.tools[event.id];
      const input = event.input ?? run?.input ?? null;
      s.tools = {
        ...s.tools,
        [event.id]: {
          id: event.id,
          name: event.name,
          input,
          state: event.state === 'started' ? 'streaming' : 'running',
          progress: run?.progress ?? '',
          startedAt: event.state === 'running' ? now : (run?.startedAt ?? now)
        }
      };
      const stream = lastStream(s);
      const at = stream.blocks.findIndex(
        b => b.type === 'tool_call' && b.id === event.id
      );
      const block: ContentBlock = {
        type: 'tool_call',
        id: event.id,
        name: event.name,
        input: input ?? {}
      };
      const blocks = [...stream.blocks];
      if (at >= 0) {
        blocks[at] = block;
      } else if (event.state === 'started') {
        blocks.push(block);
      }
      replaceLastStream(s, { ...stream, blocks });
      break;
    }
    case 'tool_progress': {
      const run = s.tools[event.tool_call_id];
      if (run !== undefined) {
        const progress = (run.progress + event.text).slice(-MAX_PROGRESS);
        s.tools = { ...s.tools, [run.id]: { ...run, progress } };
      }
      break;
    }
    case 'tool_result': {
      const run = s.tools[event.tool_call_id];
      s.tools = {
        ...s.tools,
        [event.tool_call_id]: {
          id: event.tool_call_id,
          name: run?.name ?? '',
          input: run?.input ?? null,
          progress: run?.progress ?? '',
          startedAt: run?.startedAt ?? now,
          state: 'done',
          endedAt: now,
          result: {
            content: event.content,
            is_error: event.is_error,
            display: event.display ?? null
          }
        }
      };
      break;
    }
    case 'message_end': {
      const message = event.message;
      s.messages = mergeMessages(s.messages, [message]);
      if (message.role === 'assistant' && s.streams.length > 0) {
        s.streams = s.streams.slice(1);
      }
      if (s.chat !== null && message.seq > s.countedSeq) {
        s.countedSeq = message.seq;
        const usage = message.usage ?? {};
        setChat(s, {
          message_count: Math.max(s.chat.message_count, message.seq),
          usage: addUsage(s.chat.usage, usage),
          tree_usage: addUsage(s.chat.tree_usage, usage)
        });
      }
      break;
    }
    case 'queue':
      s.queue = event.queue;
      break;
    case 'usage':
      // totals come with the saved message (message_end); this is the context gauge
      s.context = {
        tokens: event.context_tokens,
        window: event.context_window
      };
      break;
    case 'error':
      setChat(s, { error: event.error });
      break;
    case 'retry':
      // the server threw the partial answer away and starts over
      if (s.streams.length > 0) {
        s.streams = s.streams.slice(0, -1);
      }
      s.retry = {
        attempt: event.attempt,
        reason: event.reason,
        delaySeconds: event.delay_seconds,
        until: now + event.delay_seconds * 1000
      };
      break;
    case 'plan':
      setChat(s, {
        awaiting: {
          kind: 'plan',
          tool_call_id: event.tool_call_id,
          path: event.path
        }
      });
      break;
    case 'question':
      setChat(s, {
        awaiting: {
          kind: 'question',
          question_id: event.question_id,
          questions: event.questions
        }
      });
      break;
    case 'approval': {
      const awaiting = s.chat?.awaiting;
      const calls =
        awaiting?.kind === 'approval'
          ? awaiting.calls.filter(c => c.tool_call_id !== event.tool_call_id)
          : [];
      setChat(s, {
        awaiting: {
          kind: 'approval',
          calls: [
            ...calls,
            {
              tool_call_id: event.tool_call_id,
              name: event.name,
              input: event.input
            }
          ],
          decisions: awaiting?.kind === 'approval' ? awaiting.decisions : {}
        }
      });
      break;
    }
    case 'client_tool': {
      const awaiting = s.chat?.awaiting;
      const kept = awaiting?.kind === 'client_tool' ? awaiting : null;
      const { tool_call_id, name, input, notebook } = event;
      setChat(s, {
        awaiting: {
          kind: 'client_tool',
          calls: [
            ...(kept?.calls ?? []).filter(c => c.tool_call_id !== tool_call_id),
            { tool_call_id, name, input, notebook }
          ],
          results: kept?.results ?? {}
        }
      });
      break;
    }
    case 'notice':
      s.notices = [
        ...s.notices,
        { seq: event.seq, message: event.message }
      ].slice(-MAX_NOTICES);
      break;
    case 'child': {
      const children = s.chat?.children ?? [];
      if (children.some(c => c.id === event.child_id)) {
        setChat(s, {
          children: children.map(c =>
            c.id === event.child_id ? { ...c, status: event.status } : c
          )
        });
      }
      break;
    }
  }
}

/** Every tool result among saved messages, by the id of the call it answers. */
export function resultsByCall(
  messages: IMessage[]
): Map<string, IToolResultBlock> {
  const out = new Map<string, IToolResultBlock>();
  for (const m of messages) {
    if (m.role !== 'tool') {
      continue;
    }
    for (const block of m.content) {
      if (block.type === 'tool_result') {
        out.set(block.tool_call_id, block);
      }
    }
  }
  return out;
}
