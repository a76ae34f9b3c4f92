/**
 * The scrolling conversation. Long chats stay fast by windowing: only the messages near the
 * viewport are mounted, the rest are space of their measured (or estimated) height, and
 * earlier pages load from the server as the reader nears the top. The view sticks to the
 * bottom while the reader is there, and stays put when they scrolled up.
 */
import React, {
  useCallback,
  useEffect,
  useLayoutEffect,
  useMemo,
  useReducer,
  useRef,
  useState
} from 'react';

import { ChatModel } from '../chatModel';
import { ACTIVE, IChatState, resultsByCall } from '../reducer';
import { IMessage } from '../types';
import { HeightCache, offsetOf, windowFor } from '../virtual';
import { useAgents } from './context';
import { Blocks, MessageView } from './MessageView';

/** Pixels from the bottom that count as "at" it. */
const EDGE = 48;
/** Scrolled this close to the top, the previous page of messages is loaded. */
const NEAR_TOP = 600;
/** Pixels of messages mounted above and below the viewport. */
const OVERSCAN = 1200;
/** Space between two messages (part of each item's measured height). */
const GAP = 10;

/** An item whose height is measured while it is mounted. */
function Measured(props: {
  seq: number;
  observer: ResizeObserver | null;
  children: React.ReactNode;
}): JSX.Element {
  const node = useRef<HTMLDivElement>(null);
  const { observer } = props;
  useLayoutEffect(() => {
    const el = node.current;
    if (el === null || observer === null) {
      return;
    }
    observer.observe(el);
    return () => observer.unobserve(el);
  }, [observer]);
  return (
    <div className="jp-CoderAgents-item" data-key={props.seq} ref={node}>
      {props.children}
    </div>
  );
}

export function Conversation(props: {
  model: ChatModel;
  state: IChatState;
  onFork?: (message: IMessage) => void;
}): JSX.Element {
  const { trans } = useAgents();
  const { model, state } = props;
  const scroller = useRef<HTMLDivElement>(null);
  const heights = useMemo(() => new HeightCache(), [model]);
  const atBottom = useRef(true);
  const viewport = useRef({ top: 0, height: 800 });
  const loading = useRef(false);
  const firstKey = useRef<number | null>(null);
  const frame = useRef<number | null>(null);
  const [, rerender] = useReducer((n: number) => n + 1, 0);
  const [showJump, setShowJump] = useState(false);

  const visible = useMemo(
    () => state.messages.filter(m => m.role !== 'tool'),
    [state.messages]
  );
  const keys = useMemo(() => visible.map(m => m.seq), [visible]);
  const results = useMemo(
    () => resultsByCall(state.messages),
    [state.messages]
  );
  const active = state.chat !== null && ACTIVE.has(state.chat.status);
  const awaiting = state.chat?.awaiting;
  const waiting = useMemo(
    () =>
      new Set(
        awaiting?.kind === 'approval'
          ? awaiting.calls
              .map(c => c.tool_call_id)
              .filter(id => !(id in (awaiting.decisions ?? {})))
          : []
      ),
    [awaiting]
  );

  const total = atBottom.current ? offsetOf(keys, heights, keys.length) : 0;
  const top = atBottom.current
    ? Math.max(0, total - viewport.current.height)
    : viewport.current.top;
  const win = windowFor(keys, heights, top, viewport.current.height, OVERSCAN);

  // one observer measures every mounted message; a change above the viewport moves the
  // scroll position by as much, so what the reader looks at stays where it is
  const [observer] = useState<ResizeObserver | null>(() =>
    typeof ResizeObserver === 'undefined'
      ? null
      : new ResizeObserver(entries => {
          const el = scroller.current;
          let shift = 0;
          for (const entry of entries) {
            const target = entry.target as HTMLElement;
            if (!target.isConnected) {
              continue;
            }
            const key = Number(target.dataset.key);
            const delta = heights.set(
              key,
              target.getBoundingClientRect().height + GAP
            );
            if (el !== null && delta !== 0 && target.offsetTop < el.scrollTop) {
              shift += delta;
            }
          }
          if (el !== null && shift !== 0 && !atBottom.current) {
            el.scrollTop += shift;
            viewport.current.top = el.scrollTop;
          }
          rerender();
        })
  );
  useEffect(() => () => observer?.disconnect(), [observer]);

  const loadEarlier = useCallback(() => {
    if (loading.current || !state.hasEarlier) {
      return;
    }
    loading.current = true;
    void model.loadEarlier().finally(() => {
      loading.current = false;
    });
  }, [model, state.hasEarlier]);

  const onScroll = useCallback(() => {
    const el = scroller.current;
    if (el === null) {
      return;
    }
    viewport.current = { top: el.scrollTop, height: el.clientHeight };
    atBottom.current = el.scrollHeight - el.scrollTop - el.clientHeight < EDGE;
    setShowJump(!atBottom.current);
    if (el.scrollTop < NEAR_TOP) {
      loadEarlier();
    }
    if (frame.current === null) {
      frame.current = requestAnimationFrame(() => {
        frame.current = null;
        rerender();
      });
    }
  }, [loadEarlier]);

  useLayoutEffect(() => {
    const el = scroller.current;
    if (el === null) {
      return;
    }
    viewport.current.height = el.clientHeight;
    // earlier messages arrived above: keep the reader's place
    const previous = firstKey.current;
    firstKey.current = keys[0] ?? null;
    const moved = previous === null ? -1 : keys.indexOf(previous);
    if (moved > 0 && !atBottom.current) {
      el.scrollTop += offsetOf(keys, heights, moved);
      viewport.current.top = el.scrollTop;
      rerender();
    }
    if (atBottom.current) {
      el.scrollTop = el.scrollHeight;
    }
  });

  // content that grows without a render of ours (a streaming answer) keeps the bottom
  useEffect(() => {
    const el = scroller.current;
    if (el === null || typeof ResizeObserver === 'undefined') {
      return;
    }
    const follow = new ResizeObserver(() => {
      if (atBottom.current) {
        el.scrollTop = el.scrollHeight;
      }
    });
    const content = el.firstElementChild;
    if (content) {
      follow.observe(content);
    }
    return () => follow.disconnect();
  }, []);

  useEffect(
    () => () => {
      if (frame.current !== null) {
        cancelAnimationFrame(frame.current);
      }
    },
    []
  );

  const jump = (): void => {
    const el = scroller.current;
    if (el !== null) {
      atBottom.current = true;
      setShowJump(false);
      rerender();
      el.scrollTop = el.scrollHeight;
    }
  };

  return (
    <div className="jp-CoderAgents-conversationHost">
      <div
        className="jp-CoderAgents-conversation"
        ref={scroller}
        onScroll={onScroll}
        tabIndex={0}
        role="log"
        aria-label={trans.__('Conversation')}
      >
        <div className="jp-CoderAgents-conversationContent">
          {win.start === 0 && state.hasEarlier && (
            <button className="jp-CoderAgents-earlier" onClick={loadEarlier}>
              {trans.__('Show earlier messages')}
            </button>
          )}
          <div style={{ height: win.before }} aria-hidden="true" />
          {visible.slice(win.start, win.end).map(m => (
            <Measured key={m.seq} seq={m.seq} observer={observer}>
              <MessageView
                message={m}
                results={results}
                tools={state.tools}
                active={active}
                waiting={waiting}
                onFork={props.onFork}
              />
            </Measured>
          ))}
          <div style={{ height: win.after }} aria-hidden="true" />
          {state.streams.map(stream => (
            <div
              key={`stream-${stream.key}`}
              className="jp-CoderAgents-message jp-CoderAgents-streaming"
              data-role="assistant"
            >
              <Blocks
                blocks={stream.blocks}
                results={results}
                tools={state.tools}
                active={active}
                waiting={waiting}
                streaming
              />
              {stream.blocks.length === 0 && (
                <span className="jp-CoderAgents-shimmer">
                  {trans.__('Working…')}
                </span>
              )}
            </div>
          ))}
        </div>
      </div>
      {showJump && (
        <button className="jp-CoderAgents-jump" onClick={jump}>
          {trans.__('Jump to latest')}
        </button>
      )}
    </div>
  );
}
