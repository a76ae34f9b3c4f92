/**
 * The scrolling conversation. Long chats stay fast by rendering only a window at the end (it
 * grows as the user scrolls up, loading earlier pages from the server when needed) and by
 * letting the browser skip layout of off-screen messages (`content-visibility` in the CSS).
 * The view sticks to the bottom while the user is there, and stays put when they scrolled up.
 */
import React, {
  useCallback,
  useEffect,
  useLayoutEffect,
  useMemo,
  useRef,
  useState
} from 'react';

import { ChatModel } from '../chatModel';
import { ACTIVE, IChatState, resultsByCall } from '../reducer';
import { IMessage } from '../types';
import { useAgents } from './context';
import { Blocks, MessageView } from './MessageView';

/** Messages added to the window per step. */
const WINDOW_STEP = 80;
/** Pixels from an edge that count as "at" it. */
const EDGE = 48;

export function Conversation(props: {
  model: ChatModel;
  state: IChatState;
  onFork?: (message: IMessage) => void;
}): JSX.Element {
  const { trans } = useAgents();
  const { model, state } = props;
  const scroller = useRef<HTMLDivElement>(null);
  const atBottom = useRef(true);
  const anchor = useRef<{ height: number; top: number } | null>(null);
  const [windowSize, setWindowSize] = useState(WINDOW_STEP);
  const [showJump, setShowJump] = useState(false);

  const visible = useMemo(
    () => state.messages.filter(m => m.role !== 'tool'),
    [state.messages]
  );
  const results = useMemo(
    () => resultsByCall(state.messages),
    [state.messages]
  );
  const shown = visible.slice(Math.max(0, visible.length - windowSize));
  const hiddenLocally = visible.length - shown.length;
  const active = state.chat !== null && ACTIVE.has(state.chat.status);

  const growWindow = useCallback(() => {
    const el = scroller.current;
    if (el === null) {
      return;
    }
    if (hiddenLocally > 0) {
      anchor.current = { height: el.scrollHeight, top: el.scrollTop };
      setWindowSize(n => n + WINDOW_STEP);
    } else if (state.hasEarlier) {
      anchor.current = { height: el.scrollHeight, top: el.scrollTop };
      void model.loadEarlier().then(() => setWindowSize(n => n + WINDOW_STEP));
    }
  }, [hiddenLocally, state.hasEarlier, model]);

  const onScroll = useCallback(() => {
    const el = scroller.current;
    if (el === null) {
      return;
    }
    atBottom.current = el.scrollHeight - el.scrollTop - el.clientHeight < EDGE;
    setShowJump(!atBottom.current);
    if (el.scrollTop < EDGE * 4 && anchor.current === null) {
      growWindow();
    }
  }, [growWindow]);

  // keep the reader's place when earlier messages are added above
  useLayoutEffect(() => {
    const el = scroller.current;
    const a = anchor.current;
    if (el !== null && a !== null) {
      el.scrollTop = a.top + (el.scrollHeight - a.height);
      anchor.current = null;
    } else if (el !== null && atBottom.current) {
      el.scrollTop = el.scrollHeight;
    }
  });

  // content that grows without a render of ours (images, rendered Markdown) keeps the bottom
  useEffect(() => {
    const el = scroller.current;
    if (el === null || typeof ResizeObserver === 'undefined') {
      return;
    }
    const observer = new ResizeObserver(() => {
      if (atBottom.current) {
        el.scrollTop = el.scrollHeight;
      }
    });
    const content = el.firstElementChild;
    if (content) {
      observer.observe(content);
    }
    return () => observer.disconnect();
  }, []);

  const jump = (): void => {
    const el = scroller.current;
    if (el !== null) {
      atBottom.current = true;
      el.scrollTop = el.scrollHeight;
      setShowJump(false);
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
          {(hiddenLocally > 0 || state.hasEarlier) && (
            <button className="jp-CoderAgents-earlier" onClick={growWindow}>
              {trans.__('Show earlier messages')}
            </button>
          )}
          {shown.map(m => (
            <MessageView
              key={m.seq}
              message={m}
              results={results}
              tools={state.tools}
              active={active}
              onFork={props.onFork}
            />
          ))}
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
