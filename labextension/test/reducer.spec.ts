import { Action, IChatState, initialState, reduce } from '../src/reducer';
import { ChatEvent, IChatDetail, IMessage } from '../src/types';

const CHAT: IChatDetail = {
  id: 'c1',
  title: 'A chat',
  status: 'running',
  model: 'm',
  owner: 'me',
  parent_id: null,
  root_id: null,
  agent_type: null,
  forked_from: null,
  workspace_id: null,
  plan_mode: false,
  reasoning_effort: null,
  awaiting: null,
  tool_policy: null,
  kernel: null,
  archived: false,
  error: null,
  usage: { input_tokens: 10, output_tokens: 5 },
  message_count: 1,
  created_at: '2026-11-22T00:00:00',
  updated_at: '2026-11-22T00:00:00',
  children: [],
  tree_usage: { input_tokens: 10, output_tokens: 5 }
};

function message(seq: number, role: IMessage['role'], text: string): IMessage {
  return {
    id: seq,
    seq,
    role,
    content: [{ type: 'text', text }],
    usage: null,
    model: null,
    is_summary: false,
    created_at: '2026-11-22T00:00:00'
  };
}

type Body = ChatEvent extends infer E
  ? E extends ChatEvent
    ? Omit<E, 'seq' | 'chat_id'>
    : never
  : never;

/** Frames numbered from `start`, in the order given. */
function frames(start: number, ...bodies: Body[]): ChatEvent[] {
  return bodies.map(
    (b, i) => ({ ...b, seq: start + i, chat_id: 'c1' }) as ChatEvent
  );
}

function run(state: IChatState, ...actions: Action[]): IChatState {
  return actions.reduce(reduce, state);
}

function loaded(): IChatState {
  return reduce(initialState(), {
    type: 'loaded',
    chat: CHAT,
    messages: [message(1, 'user', 'hello')],
    queue: [],
    hasEarlier: false
  });
}

function events(list: ChatEvent[]): Action {
  return { type: 'events', events: list, now: 1000 };
}

function streamedText(state: IChatState): string {
  return state.streams
    .flatMap(s => s.blocks)
    .map(b => (b.type === 'text' ? b.text : ''))
    .join('');
}

const ANSWER = frames(
  100,
  { type: 'message_start', role: 'assistant' },
  { type: 'text_delta', text: 'Hel' },
  { type: 'text_delta', text: 'lo, ' },
  { type: 'text_delta', text: 'world' }
);

describe('the chat reducer', () => {
  it('streams deltas into one text block', () => {
    const s = run(loaded(), events(ANSWER));
    expect(streamedText(s)).toBe('Hello, world');
    expect(s.streams).toHaveLength(1);
    expect(s.lastSeq).toBe(103);
  });

  it('drops frames a reconnect replays (duplicates)', () => {
    const s = run(
      loaded(),
      events(ANSWER.slice(0, 3)),
      events(ANSWER) // the replay after a reconnect starts before what we have
    );
    expect(streamedText(s)).toBe('Hello, world');
  });

  it('holds frames that skip ahead and applies them once the gap fills', () => {
    const [start, a, b, c] = ANSWER;
    let s = run(loaded(), events([start, a]), events([c]));
    expect(streamedText(s)).toBe('Hel');
    expect(s.held).toHaveLength(1);
    s = run(s, events([b]));
    expect(streamedText(s)).toBe('Hello, world');
    expect(s.held).toHaveLength(0);
  });

  it('applies out-of-order frames within one batch in seq order', () => {
    const [start, a, b, c] = ANSWER;
    const s = run(loaded(), events([start, c, a, b]));
    expect(streamedText(s)).toBe('Hello, world');
  });

  it('gives up on a gap that never fills (a restarted server numbers anew)', () => {
    const [start, a] = ANSWER;
    const later = frames(5_000_000, { type: 'text_delta', text: '!' });
    let s = run(loaded(), events([start, a]), events(later));
    expect(streamedText(s)).toBe('Hel');
    s = run(s, { type: 'gap-timeout', now: 2000 });
    expect(streamedText(s)).toBe('Hel!');
    expect(s.lastSeq).toBe(5_000_000);
  });

  it('retires a stream when its saved message arrives, even after the next one started', () => {
    const saved = { ...message(2, 'assistant', 'Hello, world') };
    const s = run(
      loaded(),
      events(ANSWER),
      events(
        frames(
          104,
          { type: 'message_start', role: 'assistant' },
          { type: 'text_delta', text: 'Second' },
          { type: 'message_end', message: saved }
        )
      )
    );
    expect(s.messages.map(m => m.seq)).toEqual([1, 2]);
    expect(streamedText(s)).toBe('Second');
  });

  it('keeps each saved message once, however often it arrives', () => {
    const saved = message(2, 'assistant', 'Hello, world');
    const s = run(
      loaded(),
      events(frames(100, { type: 'message_end', message: saved })),
      { type: 'messages', messages: [saved] },
      {
        type: 'earlier',
        messages: [message(1, 'user', 'hello')],
        hasEarlier: false
      }
    );
    expect(s.messages.map(m => m.seq)).toEqual([1, 2]);
  });

  it('throws away the partial answer when the server retries', () => {
    const s = run(
      loaded(),
      events(ANSWER),
      events(
        frames(104, {
          type: 'retry',
          attempt: 1,
          delay_seconds: 8,
          reason: 'rate limited'
        })
      )
    );
    expect(s.streams).toHaveLength(0);
    expect(s.retry).toMatchObject({
      attempt: 1,
      reason: 'rate limited',
      until: 9000
    });
    const restarted = run(
      s,
      events(
        frames(
          105,
          { type: 'message_start', role: 'assistant' },
          { type: 'text_delta', text: 'Again' }
        )
      )
    );
    expect(streamedText(restarted)).toBe('Again');
    expect(restarted.retry).toBeNull();
  });

  it('follows a tool call from its arguments to its result', () => {
    let s = run(
      loaded(),
      events(
        frames(
          100,
          { type: 'message_start', role: 'assistant' },
          { type: 'tool_call', id: 't1', name: 'execute', state: 'started' }
        )
      )
    );
    expect(s.tools.t1.state).toBe('streaming');
    s = run(
      s,
      events(
        frames(
          102,
          {
            type: 'tool_call',
            id: 't1',
            name: 'execute',
            input: { command: 'ls' },
            state: 'running'
          },
          { type: 'tool_progress', tool_call_id: 't1', text: 'a.py\n' },
          {
            type: 'tool_result',
            tool_call_id: 't1',
            content: 'a.py',
            is_error: false,
            display: { exit_code: 0 }
          }
        )
      )
    );
    expect(s.tools.t1).toMatchObject({
      state: 'done',
      input: { command: 'ls' },
      progress: 'a.py\n',
      result: { content: 'a.py', is_error: false }
    });
    const call = s.streams[0].blocks[0];
    expect(call).toMatchObject({ type: 'tool_call', input: { command: 'ls' } });
  });

  it('records how long the model thought', () => {
    const s = run(
      loaded(),
      {
        type: 'events',
        events: frames(
          100,
          { type: 'message_start', role: 'assistant' },
          { type: 'reasoning_delta', text: 'hmm' }
        ),
        now: 1000
      },
      {
        type: 'events',
        events: frames(102, { type: 'text_delta', text: 'ok' }),
        now: 3500
      }
    );
    expect(s.streams[0].blocks[0]).toMatchObject({
      type: 'reasoning',
      text: 'hmm',
      duration_ms: 2500
    });
  });

  it('ends the turn: status, queue, usage, and what the chat waits for', () => {
    const saved = {
      ...message(2, 'assistant', 'Hello, world'),
      usage: { input_tokens: 5, output_tokens: 7, cost_micros: 30 }
    };
    const s = run(
      loaded(),
      events(ANSWER),
      events(
        frames(
          104,
          { type: 'message_end', message: saved },
          {
            type: 'usage',
            usage: { input_tokens: 5, output_tokens: 7, cost_micros: 30 },
            context_tokens: 1234,
            context_window: 200000
          },
          { type: 'plan', tool_call_id: 'p1', plan: '# Plan', path: 'plan.md' },
          { type: 'status', status: 'waiting' },
          { type: 'message_end', message: saved }, // replayed: counted once
          {
            type: 'queue',
            queue: [
              {
                id: 1,
                content: [{ type: 'text', text: 'next' }],
                created_at: ''
              }
            ]
          }
        )
      )
    );
    expect(s.chat?.status).toBe('waiting');
    expect(s.streams).toHaveLength(0);
    expect(s.chat?.usage).toEqual({
      input_tokens: 15,
      output_tokens: 12,
      cost_micros: 30
    });
    expect(s.context).toEqual({ tokens: 1234, window: 200000 });
    expect(s.chat?.awaiting).toEqual({
      kind: 'plan',
      tool_call_id: 'p1',
      path: 'plan.md'
    });
    expect(s.queue).toHaveLength(1);
    const resumed = run(
      s,
      events(frames(110, { type: 'status', status: 'running' }))
    );
    expect(resumed.chat?.awaiting).toBeNull();
  });

  it('collects approvals and keeps an error with its reason', () => {
    const s = run(
      loaded(),
      events(
        frames(
          100,
          {
            type: 'approval',
            tool_call_id: 'a',
            name: 'execute',
            input: { command: 'rm -rf x' }
          },
          {
            type: 'approval',
            tool_call_id: 'b',
            name: 'write_file',
            input: { path: 'x' }
          },
          { type: 'status', status: 'requires_action' }
        )
      )
    );
    const awaiting = s.chat?.awaiting;
    expect(
      awaiting?.kind === 'approval' && awaiting.calls.map(c => c.tool_call_id)
    ).toEqual(['a', 'b']);
    const failed = run(
      s,
      events(
        frames(
          103,
          {
            type: 'error',
            error: { kind: 'auth', message: 'anthropic: invalid key' }
          },
          {
            type: 'status',
            status: 'error',
            error: { kind: 'auth', message: 'anthropic: invalid key' }
          }
        )
      )
    );
    expect(failed.chat?.status).toBe('error');
    expect(failed.chat?.error?.message).toBe('anthropic: invalid key');
    expect(failed.chat?.awaiting).toBeNull();
  });

  it('collects the calls the page must run in a kernel', () => {
    const s = run(
      loaded(),
      events(
        frames(
          100,
          {
            type: 'client_tool',
            tool_call_id: 'k1',
            name: 'inspect_kernel',
            input: { names: ['df'] },
            notebook: 'a.ipynb'
          },
          { type: 'status', status: 'requires_action' }
        )
      )
    );
    const awaiting = s.chat?.awaiting;
    expect(awaiting?.kind).toBe('client_tool');
    expect(awaiting?.kind === 'client_tool' && awaiting.calls[0]).toMatchObject(
      {
        tool_call_id: 'k1',
        notebook: 'a.ipynb'
      }
    );
  });

  it('keeps a status that moved on while a REST answer was on its way', () => {
    const asked = run(
      loaded(),
      events(frames(100, { type: 'status', status: 'paused' }))
    );
    const moved = run(
      asked,
      events(
        frames(
          101,
          { type: 'status', status: 'running' },
          { type: 'status', status: 'waiting' }
        )
      )
    );
    const late = reduce(moved, {
      type: 'chat',
      chat: { ...CHAT, status: 'paused', title: 'Renamed' },
      asOfSeq: asked.lastSeq
    });
    expect(late.chat?.status).toBe('waiting');
    expect(late.chat?.title).toBe('Renamed');
    const current = reduce(moved, {
      type: 'chat',
      chat: { ...CHAT, status: 'error' },
      asOfSeq: moved.lastSeq
    });
    expect(current.chat?.status).toBe('error');
  });

  it('updates a sub-agent in the tree', () => {
    const child = {
      ...CHAT,
      id: 'k1',
      parent_id: 'c1',
      status: 'running' as const
    };
    const s0 = reduce(initialState(), {
      type: 'loaded',
      chat: { ...CHAT, children: [child] },
      messages: [],
      queue: [],
      hasEarlier: false
    });
    const s = run(
      s0,
      events(frames(100, { type: 'child', child_id: 'k1', status: 'waiting' }))
    );
    expect(s.chat?.children[0].status).toBe('waiting');
  });
});
