/**
 * The cards for what a chat waits on: a proposed plan to approve, questions to answer, and
 * tool calls to allow or reject. Failures show through `model.problem` (the chat view).
 */
import React, { useEffect, useState } from 'react';

import { ChatModel } from '../chatModel';
import { IApprovalCall, IQuestion } from '../types';
import { useAgents } from './context';
import { Markdown } from './Markdown';

// ----- plan -----

/** The two buttons under a card's text field: send what was written, or go back. */
function SubmitOrCancel(props: {
  kind: string;
  label: string;
  disabled: boolean;
  ready?: boolean;
  onSubmit: () => void;
  onCancel: () => void;
}): JSX.Element {
  const { trans } = useAgents();
  return (
    <div className="jp-CoderAgents-cardButtons">
      <button
        type="button"
        className={`jp-mod-styled ${props.kind} jp-CoderAgents-button`}
        disabled={props.disabled || props.ready === false}
        onClick={props.onSubmit}
      >
        {props.label}
      </button>
      <button
        type="button"
        className="jp-mod-styled jp-CoderAgents-button jp-CoderAgents-secondary"
        disabled={props.disabled}
        onClick={props.onCancel}
      >
        {trans.__('Cancel')}
      </button>
    </div>
  );
}

export function PlanCard(props: {
  model: ChatModel;
  plan: string;
  path: string;
}): JSX.Element {
  const { model, plan, path } = props;
  const { trans, openFile } = useAgents();
  const [busy, setBusy] = useState<'approve' | 'revise' | null>(null);
  const [done, setDone] = useState<'approve' | 'revise' | null>(null);
  const [revising, setRevising] = useState(false);
  const [feedback, setFeedback] = useState('');

  // a new plan (after a revision) is a new question
  useEffect(() => {
    setDone(null);
    setRevising(false);
    setFeedback('');
  }, [plan, path]);

  const decide = async (
    decision: 'approve' | 'revise',
    text?: string
  ): Promise<void> => {
    if (busy !== null || done !== null) {
      return;
    }
    setBusy(decision);
    try {
      if (await model.decidePlan(decision, text)) {
        setDone(decision);
      }
    } finally {
      setBusy(null);
    }
  };

  const disabled = busy !== null || done !== null;
  return (
    <section
      className="jp-CoderAgents-card jp-CoderAgents-planCard"
      aria-label={trans.__('Proposed plan')}
    >
      <header className="jp-CoderAgents-cardHeader">
        <span className="jp-CoderAgents-cardTitle">
          {trans.__('Proposed plan')}
        </span>
        {path ? (
          openFile ? (
            <button
              type="button"
              className="jp-CoderAgents-linkButton jp-CoderAgents-path"
              title={trans.__('Open %1', path)}
              onClick={() => openFile(path)}
            >
              {path}
            </button>
          ) : (
            <code className="jp-CoderAgents-path">{path}</code>
          )
        ) : null}
      </header>
      <div className="jp-CoderAgents-planBody">
        <Markdown text={plan} />
      </div>
      {revising && done === null ? (
        <div className="jp-CoderAgents-cardForm">
          <textarea
            className="jp-CoderAgents-textarea"
            aria-label={trans.__('Feedback on the plan')}
            placeholder={trans.__('What should change in the plan?')}
            value={feedback}
            rows={3}
            autoFocus
            disabled={disabled}
            onChange={e => setFeedback(e.target.value)}
          />
          <SubmitOrCancel
            kind="jp-mod-accept"
            label={
              busy === 'revise'
                ? trans.__('Sending…')
                : trans.__('Send feedback')
            }
            disabled={disabled}
            ready={feedback.trim() !== ''}
            onSubmit={() => void decide('revise', feedback.trim())}
            onCancel={() => setRevising(false)}
          />
        </div>
      ) : (
        <div className="jp-CoderAgents-cardButtons">
          <button
            type="button"
            className="jp-mod-styled jp-mod-accept jp-CoderAgents-button"
            disabled={disabled}
            title={trans.__(
              'Approve the plan: the agent starts carrying it out'
            )}
            onClick={() => void decide('approve')}
          >
            {done === 'approve'
              ? trans.__('Approved')
              : busy === 'approve'
                ? trans.__('Approving…')
                : trans.__('Approve')}
          </button>
          <button
            type="button"
            className="jp-mod-styled jp-CoderAgents-button jp-CoderAgents-secondary"
            disabled={disabled}
            onClick={() => setRevising(true)}
          >
            {done === 'revise'
              ? trans.__('Feedback sent')
              : trans.__('Request changes')}
          </button>
        </div>
      )}
    </section>
  );
}

// ----- questions -----

interface IAnswer {
  /** The index of the chosen option, if one is chosen. */
  choice: number | null;
  other: string;
}

export function QuestionCard(props: {
  model: ChatModel;
  questionId: string;
  questions: IQuestion[];
}): JSX.Element {
  const { model, questionId, questions } = props;
  const { trans } = useAgents();
  const fresh = (): IAnswer[] =>
    questions.map(() => ({ choice: null, other: '' }));
  const [answers, setAnswers] = useState<IAnswer[]>(fresh);
  const [busy, setBusy] = useState(false);
  const [done, setDone] = useState(false);

  useEffect(() => {
    setAnswers(fresh());
    setDone(false);
  }, [questionId, questions.length]);

  const answerOf = (q: IQuestion, a: IAnswer | undefined): string => {
    if (a === undefined) {
      return '';
    }
    if (a.other.trim() !== '') {
      return a.other.trim();
    }
    if (a.choice !== null && q.options[a.choice] !== undefined) {
      return q.options[a.choice].label;
    }
    return '';
  };

  const set = (index: number, patch: Partial<IAnswer>): void =>
    setAnswers(current =>
      current.map((a, i) => (i === index ? { ...a, ...patch } : a))
    );

  const texts = questions.map((q, i) => answerOf(q, answers[i]));
  const complete = texts.length > 0 && texts.every(t => t !== '');
  const disabled = busy || done;

  const submit = async (): Promise<void> => {
    if (!complete || disabled) {
      return;
    }
    setBusy(true);
    try {
      if (await model.answer(questionId, texts)) {
        setDone(true);
      }
    } finally {
      setBusy(false);
    }
  };

  return (
    <section
      className="jp-CoderAgents-card jp-CoderAgents-questionCard"
      aria-label={trans.__('Questions from the agent')}
    >
      <header className="jp-CoderAgents-cardHeader">
        <span className="jp-CoderAgents-cardTitle">
          {questions.length === 1
            ? trans.__('The agent asks')
            : trans.__('The agent asks %1 questions', questions.length)}
        </span>
      </header>
      {questions.map((q, i) => {
        const a = answers[i] ?? { choice: null, other: '' };
        const labelId = `jp-CoderAgents-q-${questionId}-${i}`;
        return (
          <div
            key={i}
            className="jp-CoderAgents-question"
            role="group"
            aria-labelledby={labelId}
          >
            <div id={labelId}>
              {q.header ? (
                <div className="jp-CoderAgents-questionHeader">{q.header}</div>
              ) : null}
              <div className="jp-CoderAgents-questionText">{q.question}</div>
            </div>
            {q.options.length > 0 ? (
              <div className="jp-CoderAgents-options">
                {q.options.map((option, j) => {
                  const pressed = a.choice === j && a.other.trim() === '';
                  return (
                    <button
                      key={j}
                      type="button"
                      className={`jp-CoderAgents-option${pressed ? ' jp-mod-pressed' : ''}`}
                      aria-pressed={pressed}
                      disabled={disabled}
                      onClick={() =>
                        set(i, { choice: pressed ? null : j, other: '' })
                      }
                    >
                      <span className="jp-CoderAgents-optionLabel">
                        {option.label}
                      </span>
                      {option.description ? (
                        <span className="jp-CoderAgents-optionDescription">
                          {option.description}
                        </span>
                      ) : null}
                    </button>
                  );
                })}
              </div>
            ) : null}
            <input
              type="text"
              className="jp-mod-styled jp-CoderAgents-input"
              aria-label={trans.__('Other answer to: %1', q.question)}
              placeholder={
                q.options.length > 0
                  ? trans.__('Other…')
                  : trans.__('Your answer')
              }
              value={a.other}
              disabled={disabled}
              onChange={e =>
                set(i, {
                  other: e.target.value,
                  choice: e.target.value.trim() !== '' ? null : a.choice
                })
              }
              onKeyDown={e => {
                if (
                  e.key === 'Enter' &&
                  !e.nativeEvent.isComposing &&
                  complete
                ) {
                  e.preventDefault();
                  void submit();
                }
              }}
            />
          </div>
        );
      })}
      <div className="jp-CoderAgents-cardButtons">
        <button
          type="button"
          className="jp-mod-styled jp-mod-accept jp-CoderAgents-button"
          disabled={!complete || disabled}
          title={complete ? undefined : trans.__('Answer every question first')}
          onClick={() => void submit()}
        >
          {done
            ? trans.__('Answers sent')
            : busy
              ? trans.__('Sending…')
              : trans.__('Send answers')}
        </button>
      </div>
    </section>
  );
}

// ----- tool approvals -----

type Decision = 'allow_once' | 'allow_chat' | 'reject';

export function ApprovalCard(props: {
  model: ChatModel;
  calls: IApprovalCall[];
  decided: Record<string, unknown>;
}): JSX.Element {
  const { model, calls, decided } = props;
  const { trans } = useAgents();
  const open = calls.filter(c => !(c.tool_call_id in decided));
  return (
    <section
      className="jp-CoderAgents-card jp-CoderAgents-approvalCard"
      aria-label={trans.__('Tool calls waiting for approval')}
    >
      <header className="jp-CoderAgents-cardHeader">
        <span className="jp-CoderAgents-cardTitle">
          {open.length === 0
            ? trans.__('Decisions sent; waiting for the agent')
            : open.length === 1
              ? trans.__('The agent wants to run a tool')
              : trans.__('The agent wants to run %1 tools', open.length)}
        </span>
      </header>
      {open.map(call => (
        <ApprovalItem key={call.tool_call_id} model={model} call={call} />
      ))}
    </section>
  );
}

function ApprovalItem(props: {
  model: ChatModel;
  call: IApprovalCall;
}): JSX.Element {
  const { model, call } = props;
  const { trans } = useAgents();
  const [busy, setBusy] = useState<Decision | null>(null);
  const [done, setDone] = useState<Decision | null>(null);
  const [rejecting, setRejecting] = useState(false);
  const [reason, setReason] = useState('');

  const decide = async (decision: Decision, why?: string): Promise<void> => {
    if (busy !== null || done !== null) {
      return;
    }
    setBusy(decision);
    try {
      if (await model.decideApproval(call.tool_call_id, decision, why)) {
        setDone(decision);
      }
    } finally {
      setBusy(null);
    }
  };

  const summary = summarize(call);
  const json = prettyJson(call.input);
  const disabled = busy !== null || done !== null;

  return (
    <div className="jp-CoderAgents-approval">
      <div className="jp-CoderAgents-approvalTool">
        <code className="jp-CoderAgents-toolName">{call.name}</code>
      </div>
      {summary?.kind === 'command' ? (
        <>
          <pre className="jp-CoderAgents-command">
            <code>{summary.command}</code>
          </pre>
          {summary.workdir ? (
            <div className="jp-CoderAgents-muted">
              {trans.__('in %1', summary.workdir)}
            </div>
          ) : null}
        </>
      ) : null}
      {summary?.kind === 'paths' ? (
        <ul className="jp-CoderAgents-paths">
          {summary.paths.map(p => (
            <li key={p}>
              <code>{p}</code>
            </li>
          ))}
        </ul>
      ) : null}
      <details className="jp-CoderAgents-details" open={summary === null}>
        <summary>
          {summary === null ? trans.__('Input') : trans.__('Full input')}
        </summary>
        <pre className="jp-CoderAgents-json">{json}</pre>
      </details>
      {rejecting && done === null ? (
        <div className="jp-CoderAgents-cardForm">
          <input
            type="text"
            className="jp-mod-styled jp-CoderAgents-input"
            aria-label={trans.__('Reason for rejecting')}
            placeholder={trans.__(
              'Why not? (optional, tells the agent what to do instead)'
            )}
            value={reason}
            autoFocus
            disabled={disabled}
            onChange={e => setReason(e.target.value)}
            onKeyDown={e => {
              if (e.key === 'Enter' && !e.nativeEvent.isComposing) {
                e.preventDefault();
                void decide('reject', reason.trim() || undefined);
              } else if (e.key === 'Escape') {
                setRejecting(false);
              }
            }}
          />
          <SubmitOrCancel
            kind="jp-mod-warn"
            label={
              busy === 'reject' ? trans.__('Rejecting…') : trans.__('Reject')
            }
            disabled={disabled}
            onSubmit={() => void decide('reject', reason.trim() || undefined)}
            onCancel={() => setRejecting(false)}
          />
        </div>
      ) : (
        <div className="jp-CoderAgents-cardButtons">
          <button
            type="button"
            className="jp-mod-styled jp-mod-accept jp-CoderAgents-button"
            disabled={disabled}
            title={trans.__('Allow this call only')}
            onClick={() => void decide('allow_once')}
          >
            {done === 'allow_once'
              ? trans.__('Allowed')
              : trans.__('Allow once')}
          </button>
          <button
            type="button"
            className="jp-mod-styled jp-CoderAgents-button jp-CoderAgents-secondary"
            disabled={disabled}
            title={trans.__(
              'Allow %1 for the rest of this chat without asking again',
              call.name
            )}
            onClick={() => void decide('allow_chat')}
          >
            {done === 'allow_chat'
              ? trans.__('Allowed for this chat')
              : trans.__('Allow for this chat')}
          </button>
          <button
            type="button"
            className="jp-mod-styled jp-mod-reject jp-CoderAgents-button"
            disabled={disabled}
            onClick={() => setRejecting(true)}
          >
            {done === 'reject' ? trans.__('Rejected') : trans.__('Reject')}
          </button>
        </div>
      )}
    </div>
  );
}

type Summary =
  | { kind: 'command'; command: string; workdir?: string }
  | { kind: 'paths'; paths: string[] }
  | null;

/** A readable summary of a tool call's input: the command it runs, or the files it writes. */
function summarize(call: IApprovalCall): Summary {
  const input = call.input ?? {};
  if (typeof input.command === 'string') {
    return {
      kind: 'command',
      command: input.command,
      workdir: typeof input.workdir === 'string' ? input.workdir : undefined
    };
  }
  const paths: string[] = [];
  const add = (p: unknown): void => {
    if (typeof p === 'string' && p !== '' && !paths.includes(p)) {
      paths.push(p);
    }
  };
  add(input.path);
  if (Array.isArray(input.paths)) {
    input.paths.forEach(add);
  }
  if (Array.isArray(input.edits)) {
    for (const edit of input.edits) {
      add(edit?.path);
    }
  }
  return paths.length > 0 ? { kind: 'paths', paths } : null;
}

function prettyJson(value: unknown): string {
  try {
    return JSON.stringify(value, null, 2) ?? '';
  } catch {
    return String(value);
  }
}
