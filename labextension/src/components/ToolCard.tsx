/**
 * One tool call of the conversation: a compact header (tool, one-line summary, spinner,
 * duration, error badge) that expands into a body chosen by the tool: a terminal for commands,
 * a code viewer for reads, diffs for edits, sub-agent cards, the plan, the questions...
 */
import {
  buildIcon,
  caretDownIcon,
  caretRightIcon,
  codeIcon,
  downloadIcon,
  editIcon,
  fileIcon,
  infoIcon,
  LabIcon,
  listIcon,
  notebookIcon,
  terminalIcon,
  usersIcon
} from '@jupyterlab/ui-components';
import { TranslationBundle } from '@jupyterlab/translation';
import React, { useEffect, useId, useRef, useState } from 'react';

import { attachmentUrl, IMAGE_TYPES } from '../api';
import { fenced, fenceLanguage } from '../diff';
import { IToolRun } from '../reducer';
import { IToolCallBlock, IToolResultBlock } from '../types';
import { useAgents } from './context';
import { StatusBadge } from './StatusBadge';
import { DiffView } from './DiffView';
import { Markdown } from './Markdown';

export type ToolCardState =
  'streaming' | 'running' | 'approval' | 'done' | 'error' | 'interrupted';

export interface IToolCardProps {
  call: IToolCallBlock;
  /** The saved or live result. */
  result?: IToolResultBlock;
  /** The live state of the call, when it ran in this session. */
  run?: IToolRun;
  /** The chat's turn is still running. */
  active: boolean;
  /** The call waits for the user's approval. */
  waiting?: boolean;
}

const TERMINAL_TOOLS = new Set([
  'execute',
  'process_output',
  'process_signal',
  'run_in_kernel'
]);
const DIFF_TOOLS = new Set(['write_file', 'edit_files', 'edit_notebook']);
const WORKSPACE_TOOLS = new Set(['create_workspace', 'start_workspace']);
const AGENT_TOOLS = new Set([
  'spawn_agent',
  'wait_agent',
  'message_agent',
  'close_agent'
]);

type Display = Record<string, any> | null;

export function ToolCard(props: IToolCardProps): JSX.Element {
  const { call, run, active } = props;
  const { trans } = useAgents();
  const result: IToolResultBlock | undefined =
    props.result ??
    (run?.result
      ? { type: 'tool_result', tool_call_id: call.id, ...run.result }
      : undefined);
  const name = call.name || run?.name || '';
  const input: Record<string, any> =
    call.input && Object.keys(call.input).length > 0
      ? call.input
      : (run?.input ?? {});
  const display: Display = result?.display ?? null;
  const state = cardState(result, run, active, props.waiting);
  const isError = state === 'error';

  const [override, setOverride] = useState<boolean | null>(null);
  const open = override ?? defaultOpen(name, state, display, run);
  const bodyId = useId();

  const now = useTicker(state === 'running' && run !== undefined);
  const duration = durationOf(display, run, state, now);
  const { icon, label } = toolLabel(name, trans);
  const summary = summarize(name, input, display);
  const exit = TERMINAL_TOOLS.has(name) ? exitCodeOf(display) : undefined;

  const classes = ['jp-CoderAgents-toolCard'];
  if (isError) {
    classes.push('jp-CoderAgents-toolCard--error');
  }
  const Caret = open ? caretDownIcon : caretRightIcon;
  return (
    <div className={classes.join(' ')} data-tool={name} data-state={state}>
      <button
        type="button"
        className="jp-CoderAgents-toolHeader"
        aria-expanded={open}
        aria-controls={bodyId}
        onClick={() => setOverride(!open)}
      >
        <Caret.react tag="span" className="jp-CoderAgents-toolCaret" />
        <icon.react tag="span" className="jp-CoderAgents-toolIcon" />
        <span className="jp-CoderAgents-toolName">{label}</span>
        <span className="jp-CoderAgents-toolSummary" title={summary}>
          {summary}
        </span>
        {(state === 'running' || state === 'streaming') && (
          <span
            className="jp-CoderAgents-toolSpinner"
            role="status"
            aria-label={
              state === 'streaming'
                ? trans.__('Preparing')
                : trans.__('Running')
            }
          />
        )}
        {exit !== undefined && exit !== null && (
          <ExitCode code={exit} compact />
        )}
        {duration !== null && (
          <span className="jp-CoderAgents-toolDuration">
            {formatMs(duration, trans)}
          </span>
        )}
        {isError && (
          <span className="jp-CoderAgents-toolBadge" data-kind="error">
            {trans.__('Error')}
          </span>
        )}
        {state === 'interrupted' && (
          <span className="jp-CoderAgents-toolBadge" data-kind="interrupted">
            {trans.__('Not completed')}
          </span>
        )}
        {state === 'approval' && (
          <span className="jp-CoderAgents-toolBadge" data-kind="approval">
            {trans.__('Waiting for your approval')}
          </span>
        )}
      </button>
      {open && (
        <div className="jp-CoderAgents-toolBody" id={bodyId}>
          <ToolBody
            name={name}
            input={input}
            result={result}
            display={display}
            run={run}
            state={state}
          />
        </div>
      )}
    </div>
  );
}

// ----- state, summary, duration -----

function cardState(
  result: IToolResultBlock | undefined,
  run: IToolRun | undefined,
  active: boolean,
  waiting = false
): ToolCardState {
  if (result) {
    return result.is_error ? 'error' : 'done';
  }
  if (waiting) {
    return 'approval';
  }
  if (!active) {
    return 'interrupted';
  }
  return run?.state === 'streaming' ? 'streaming' : 'running';
}

function filesOf(display: Display): { path: string; diff: string }[] {
  if (!display) {
    return [];
  }
  if (Array.isArray(display.files)) {
    return display.files.filter(
      (f: any) => f && typeof f.path === 'string'
    ) as { path: string; diff: string }[];
  }
  if (typeof display.path === 'string' && typeof display.diff === 'string') {
    return [{ path: display.path, diff: display.diff }];
  }
  return [];
}

function defaultOpen(
  name: string,
  state: ToolCardState,
  display: Display,
  run: IToolRun | undefined
): boolean {
  if (state === 'error') {
    return true;
  }
  if (state === 'running' && run?.progress) {
    // live output of a command or a workspace build
    return TERMINAL_TOOLS.has(name) || WORKSPACE_TOOLS.has(name);
  }
  if (DIFF_TOOLS.has(name)) {
    return filesOf(display).some(f => !!f.diff);
  }
  if (TERMINAL_TOOLS.has(name)) {
    const code = exitCodeOf(display);
    return code !== undefined && code !== null && code !== 0;
  }
  if (name === 'spawn_agent' || name === 'wait_agent') {
    return state === 'done';
  }
  return false;
}

function exitCodeOf(display: Display): number | null | undefined {
  if (!display || !('exit_code' in display)) {
    return undefined;
  }
  return typeof display.exit_code === 'number' ? display.exit_code : null;
}

function str(value: unknown): string {
  return typeof value === 'string' ? value : '';
}

function firstLine(text: string, max = 120): string {
  const line = text.trim().split('\n')[0] ?? '';
  return line.length > max ? `${line.slice(0, max - 1)}…` : line;
}

function baseName(path: string): string {
  return path.split('/').filter(Boolean).pop() ?? path;
}

/** The one-line description of a call shown in its header. */
export function summarize(
  name: string,
  input: Record<string, any>,
  display: Display
): string {
  switch (name) {
    case 'execute':
      return firstLine(str(input.command) || str(display?.command), 200);
    case 'process_output':
    case 'process_signal': {
      const id = str(input.process_id) || str(display?.process_id);
      const command = str(display?.command);
      return command ? `${id}: ${firstLine(command)}` : id;
    }
    case 'read_file': {
      const path = str(input.path);
      const offset = Number(input.offset);
      return offset > 1 ? `${path}:${offset}` : path;
    }
    case 'write_file':
    case 'edit_notebook':
    case 'run_notebook':
    case 'propose_plan':
      return str(input.path) || str(display?.path);
    case 'edit_files': {
      const edits: any[] = Array.isArray(input.edits) ? input.edits : [];
      const paths = [...new Set(edits.map(e => str(e?.path)).filter(Boolean))];
      if (paths.length === 0) {
        return filesOf(display)
          .map(f => f.path)
          .join(', ');
      }
      return paths.length === 1 ? paths[0] : paths.map(baseName).join(', ');
    }
    case 'attach_file':
      return str(display?.name) || str(input.name) || str(input.path);
    case 'create_workspace':
      return (
        str(display?.workspace?.name) || str(input.name) || str(input.template)
      );
    case 'start_workspace':
      return str(display?.workspace?.name);
    case 'read_template':
    case 'read_skill':
      return str(input.name);
    case 'read_skill_file':
      return [str(input.name), str(input.path)].filter(Boolean).join(': ');
    case 'spawn_agent':
      return (
        str(input.title) ||
        str(display?.agent?.title) ||
        firstLine(str(input.prompt))
      );
    case 'wait_agent': {
      const ids: unknown[] = Array.isArray(input.chat_ids)
        ? input.chat_ids
        : [];
      return ids.length === 1 ? '1 agent' : `${ids.length} agents`;
    }
    case 'message_agent':
      return firstLine(str(input.message));
    case 'ask_user_question': {
      const qs: any[] = Array.isArray(input.questions) ? input.questions : [];
      return qs
        .map(q => str(q?.header) || firstLine(str(q?.question), 60))
        .join(' · ');
    }
    default: {
      const value = Object.values(input).find(
        v => typeof v === 'string' && v.trim()
      );
      return typeof value === 'string' ? firstLine(value) : '';
    }
  }
}

function durationOf(
  display: Display,
  run: IToolRun | undefined,
  state: ToolCardState,
  now: number
): number | null {
  if (typeof display?.duration_ms === 'number') {
    return display.duration_ms;
  }
  if (run === undefined || state === 'streaming') {
    return null;
  }
  if (run.endedAt !== undefined) {
    return Math.max(0, run.endedAt - run.startedAt);
  }
  return state === 'running' ? Math.max(0, now - run.startedAt) : null;
}

function formatMs(ms: number, trans: TranslationBundle): string {
  if (ms < 1000) {
    return trans.__('%1 ms', Math.round(ms));
  }
  const s = ms / 1000;
  if (s < 60) {
    return trans.__('%1 s', s.toFixed(s < 10 ? 1 : 0));
  }
  const m = Math.floor(s / 60);
  return trans.__('%1 min %2 s', m, Math.round(s - m * 60));
}

function formatBytes(n: number): string {
  if (n < 1024) {
    return `${n} B`;
  }
  if (n < 1024 * 1024) {
    return `${(n / 1024).toFixed(1)} KB`;
  }
  return `${(n / 1024 / 1024).toFixed(1)} MB`;
}

/** The current time, every second while `enabled` (a running call's elapsed time). */
function useTicker(enabled: boolean): number {
  const [now, setNow] = useState(() => Date.now());
  useEffect(() => {
    if (!enabled) {
      return;
    }
    setNow(Date.now());
    const timer = setInterval(() => setNow(Date.now()), 1000);
    return () => clearInterval(timer);
  }, [enabled]);
  return now;
}

function toolLabel(
  name: string,
  trans: TranslationBundle
): { icon: LabIcon; label: string } {
  switch (name) {
    case 'execute':
      return { icon: terminalIcon, label: trans.__('Run') };
    case 'process_output':
      return { icon: terminalIcon, label: trans.__('Process output') };
    case 'process_list':
      return { icon: terminalIcon, label: trans.__('Processes') };
    case 'process_signal':
      return { icon: terminalIcon, label: trans.__('Stop process') };
    case 'read_file':
      return { icon: fileIcon, label: trans.__('Read') };
    case 'write_file':
      return { icon: editIcon, label: trans.__('Write') };
    case 'edit_files':
      return { icon: editIcon, label: trans.__('Edit') };
    case 'attach_file':
      return { icon: downloadIcon, label: trans.__('Attach') };
    case 'edit_notebook':
      return { icon: notebookIcon, label: trans.__('Edit notebook') };
    case 'run_notebook':
      return { icon: notebookIcon, label: trans.__('Run notebook') };
    case 'create_workspace':
      return { icon: buildIcon, label: trans.__('Create workspace') };
    case 'start_workspace':
      return { icon: buildIcon, label: trans.__('Start workspace') };
    case 'list_templates':
      return { icon: buildIcon, label: trans.__('Templates') };
    case 'read_template':
      return { icon: buildIcon, label: trans.__('Template') };
    case 'read_skill':
    case 'read_skill_file':
      return { icon: fileIcon, label: trans.__('Skill') };
    case 'spawn_agent':
      return { icon: usersIcon, label: trans.__('Sub-agent') };
    case 'wait_agent':
      return { icon: usersIcon, label: trans.__('Wait for agents') };
    case 'message_agent':
      return { icon: usersIcon, label: trans.__('Message agent') };
    case 'close_agent':
      return { icon: usersIcon, label: trans.__('Close agent') };
    case 'propose_plan':
      return { icon: listIcon, label: trans.__('Plan') };
    case 'ask_user_question':
      return { icon: infoIcon, label: trans.__('Question') };
    case 'inspect_kernel':
      return { icon: notebookIcon, label: trans.__('Inspect kernel') };
    case 'run_in_kernel':
      return { icon: notebookIcon, label: trans.__('Run in kernel') };
    default:
      return { icon: codeIcon, label: name };
  }
}

// ----- bodies -----

interface IBodyProps {
  name: string;
  input: Record<string, any>;
  result: IToolResultBlock | undefined;
  display: Display;
  run: IToolRun | undefined;
  state: ToolCardState;
}

function ToolBody(props: IBodyProps): JSX.Element {
  const { name, result, display } = props;
  if (TERMINAL_TOOLS.has(name)) {
    return <TerminalBody {...props} />;
  }
  // Other tools fail without a display: their error text is what there is to show.
  if (result?.is_error && !display) {
    return <ErrorBody {...props} />;
  }
  if (name === 'read_file') {
    return <ReadFileBody {...props} />;
  }
  if (DIFF_TOOLS.has(name)) {
    return <DiffBody {...props} />;
  }
  if (name === 'attach_file' && display?.attachment_id) {
    return <AttachmentBody display={display} />;
  }
  if (WORKSPACE_TOOLS.has(name)) {
    return <WorkspaceBody {...props} />;
  }
  if (AGENT_TOOLS.has(name)) {
    return <AgentBody {...props} />;
  }
  if (name === 'propose_plan') {
    return <PlanBody {...props} />;
  }
  if (name === 'ask_user_question') {
    return <QuestionsBody {...props} />;
  }
  return <GenericBody {...props} />;
}

function Pending(props: { state: ToolCardState }): JSX.Element {
  const { trans } = useAgents();
  const text =
    props.state === 'interrupted'
      ? trans.__('This call did not complete.')
      : props.state === 'approval'
        ? trans.__('Waiting for your approval (below).')
        : props.state === 'streaming'
          ? trans.__('Preparing…')
          : trans.__('Running…');
  return <div className="jp-CoderAgents-toolPending">{text}</div>;
}

function ErrorText(props: { text: string }): JSX.Element {
  return (
    <pre className="jp-CoderAgents-toolError" role="alert">
      {props.text}
    </pre>
  );
}

function ErrorBody(props: IBodyProps): JSX.Element {
  const { trans } = useAgents();
  return (
    <>
      <ErrorText text={props.result?.content ?? ''} />
      {Object.keys(props.input).length > 0 && (
        <details className="jp-CoderAgents-toolDetails">
          <summary>{trans.__('Arguments')}</summary>
          <pre className="jp-CoderAgents-toolPre">
            {JSON.stringify(props.input, null, 2)}
          </pre>
        </details>
      )}
    </>
  );
}

function OpenInEditor(props: { path: string }): JSX.Element | null {
  const { openFile, trans } = useAgents();
  if (!openFile || !props.path) {
    return null;
  }
  return (
    <button
      type="button"
      className="jp-CoderAgents-linkButton"
      onClick={() => openFile(props.path)}
      title={trans.__('Open %1 in the editor', props.path)}
    >
      {trans.__('Open in editor')}
    </button>
  );
}

function ExitCode(props: { code: number; compact?: boolean }): JSX.Element {
  const { trans } = useAgents();
  const ok = props.code === 0;
  return (
    <span
      className="jp-CoderAgents-exitCode"
      data-ok={ok ? 'true' : 'false'}
      title={trans.__('Exit code %1', props.code)}
    >
      {props.compact ? props.code : trans.__('exit %1', props.code)}
    </span>
  );
}

function TerminalBody(props: IBodyProps): JSX.Element {
  const { trans } = useAgents();
  const { name, input, result, display, run, state } = props;
  const command =
    str(display?.command) ||
    str(input.command) ||
    str(input.code) ||
    (name === 'execute' ? '' : str(input.process_id));
  let output: string;
  if (typeof display?.output === 'string') {
    output = display.output;
  } else if (result) {
    output = result.content;
  } else {
    output = run?.progress ?? '';
  }
  const exit = exitCodeOf(display);
  const live = state === 'running';
  return (
    <div className="jp-CoderAgents-terminal">
      {command && (
        <div className="jp-CoderAgents-terminalCommand">
          <span className="jp-CoderAgents-terminalPrompt" aria-hidden="true">
            ${' '}
          </span>
          {command}
        </div>
      )}
      <TerminalOutput
        text={output}
        live={live}
        error={!!result?.is_error && typeof display?.output !== 'string'}
      />
      <div className="jp-CoderAgents-terminalFooter">
        {typeof exit === 'number' && <ExitCode code={exit} />}
        {display?.running === true && (
          <span className="jp-CoderAgents-terminalNote">
            {trans.__('still running as %1', str(display.process_id))}
          </span>
        )}
        {live && !output && (
          <span className="jp-CoderAgents-terminalNote">
            {trans.__('waiting for output…')}
          </span>
        )}
        {state === 'interrupted' && (
          <span className="jp-CoderAgents-terminalNote">
            {trans.__('did not complete')}
          </span>
        )}
      </div>
    </div>
  );
}

/** Terminal text that follows its end while it grows (unless scrolled up). */
function TerminalOutput(props: {
  text: string;
  live: boolean;
  error?: boolean;
}): JSX.Element | null {
  const ref = useRef<HTMLPreElement>(null);
  const pinned = useRef(true);
  useEffect(() => {
    const el = ref.current;
    if (el && props.live && pinned.current) {
      el.scrollTop = el.scrollHeight;
    }
  }, [props.text, props.live]);
  if (!props.text) {
    return null;
  }
  return (
    <pre
      ref={ref}
      className="jp-CoderAgents-terminalOutput"
      data-error={props.error ? 'true' : undefined}
      tabIndex={0}
      onScroll={e => {
        const el = e.currentTarget;
        pinned.current = el.scrollHeight - el.scrollTop - el.clientHeight < 8;
      }}
    >
      {props.text}
    </pre>
  );
}

const NUMBERED = /^\s*(\d+)\t(.*)$/;
const PAGE_HEADER = /^(.*) \((.*)\); lines (\d+)-(\d+):$/;

/** read_file's page: `path (N lines, size); lines a-b:`, numbered lines, a `[...]` footer. */
export function parseReadPage(
  content: string
): { code: string; caption: string; footer: string } | null {
  const lines = content.split('\n');
  const header = PAGE_HEADER.exec(lines[0] ?? '');
  if (!header) {
    return null;
  }
  let end = lines.length;
  let footer = '';
  if (end > 1 && lines[end - 1].startsWith('[')) {
    footer = lines[end - 1].replace(/^\[|\]$/g, '');
    end--;
  }
  const code: string[] = [];
  for (let i = 1; i < end; i++) {
    const m = NUMBERED.exec(lines[i]);
    if (!m) {
      return null;
    }
    code.push(m[2]);
  }
  return {
    code: code.join('\n'),
    caption: `${header[2]}; lines ${header[3]}–${header[4]}`,
    footer
  };
}

function ReadFileBody(props: IBodyProps): JSX.Element {
  const { input, result, state } = props;
  const path = str(input.path);
  if (!result) {
    return <Pending state={state} />;
  }
  const page = parseReadPage(result.content);
  return (
    <div className="jp-CoderAgents-codeViewer">
      <div className="jp-CoderAgents-toolToolbar">
        <span className="jp-CoderAgents-toolCaption">
          {page ? page.caption : ''}
        </span>
        <OpenInEditor path={path} />
      </div>
      {page ? (
        <>
          <div className="jp-CoderAgents-codeScroll">
            <Markdown text={fenced(page.code, fenceLanguage(path))} />
          </div>
          {page.footer && (
            <div className="jp-CoderAgents-toolCaption">{page.footer}</div>
          )}
        </>
      ) : (
        <pre className="jp-CoderAgents-toolPre">{result.content}</pre>
      )}
    </div>
  );
}

function DiffBody(props: IBodyProps): JSX.Element {
  const { trans } = useAgents();
  const { result, display, state } = props;
  const files = filesOf(display);
  if (!result) {
    return <Pending state={state} />;
  }
  if (files.length === 0) {
    return <pre className="jp-CoderAgents-toolPre">{result.content}</pre>;
  }
  return (
    <div className="jp-CoderAgents-diffList">
      {files.map((f, i) => (
        <div key={`${i}:${f.path}`} className="jp-CoderAgents-diffItem">
          {f.diff ? (
            <DiffView diff={f.diff} path={f.path} />
          ) : (
            <div className="jp-CoderAgents-toolCaption">
              {files.length === 1
                ? firstLine(result.content, 300)
                : trans.__('%1: no diff to show', f.path)}
            </div>
          )}
          <div className="jp-CoderAgents-toolToolbar">
            <OpenInEditor path={f.path} />
          </div>
        </div>
      ))}
    </div>
  );
}

function AttachmentBody(props: { display: Record<string, any> }): JSX.Element {
  const { trans } = useAgents();
  const { attachment_id: id, name, media_type: type, size } = props.display;
  const url = attachmentUrl(String(id));
  const image = IMAGE_TYPES.includes(String(type));
  return (
    <div className="jp-CoderAgents-attachment">
      <a
        className="jp-CoderAgents-attachmentLink"
        href={url}
        download={str(name) || undefined}
        title={trans.__('Download %1', str(name))}
      >
        <downloadIcon.react tag="span" className="jp-CoderAgents-toolIcon" />
        {str(name) || trans.__('attachment')}
      </a>
      <span className="jp-CoderAgents-toolCaption">
        {[str(type), typeof size === 'number' ? formatBytes(size) : '']
          .filter(Boolean)
          .join(', ')}
      </span>
      {image && (
        <img
          className="jp-CoderAgents-attachmentPreview"
          src={url}
          alt={str(name)}
          loading="lazy"
        />
      )}
    </div>
  );
}

function WorkspaceBody(props: IBodyProps): JSX.Element {
  const { trans } = useAgents();
  const { result, display, run, state } = props;
  const workspace = display?.workspace ?? null;
  const log =
    state === 'running' || !result
      ? (run?.progress ?? '')
      : str(workspace?.build_log) || (workspace ? '' : result.content);
  return (
    <div className="jp-CoderAgents-workspaceBody">
      {workspace && (
        <div className="jp-CoderAgents-toolToolbar">
          <span className="jp-CoderAgents-toolCaption">
            {[str(workspace.name), str(workspace.kind), str(workspace.path)]
              .filter(Boolean)
              .join(' · ')}
          </span>
          {workspace.status && (
            <span
              className="jp-CoderAgents-status"
              data-status={
                workspace.status === 'failed' ? 'error' : workspace.status
              }
            >
              {str(workspace.status)}
            </span>
          )}
        </div>
      )}
      <div className="jp-CoderAgents-terminal">
        {log ? (
          <TerminalOutput text={log} live={state === 'running'} />
        ) : (
          <div className="jp-CoderAgents-terminalNote">
            {state === 'running'
              ? trans.__('waiting for the build log…')
              : trans.__('No build log.')}
          </div>
        )}
      </div>
    </div>
  );
}

// ----- sub-agents -----

interface IAgentInfo {
  chat_id: string;
  title?: string;
  type?: string;
  status?: string;
  report?: string;
  error?: string;
}

function parseJson(text: string | undefined): any {
  if (!text) {
    return null;
  }
  try {
    return JSON.parse(text);
  } catch {
    return null;
  }
}

function AgentLink(props: { agent: IAgentInfo }): JSX.Element {
  const { openChat, service, trans, chatInfo } = useAgents();
  const { agent } = props;
  const known =
    chatInfo?.(agent.chat_id) ??
    (service?.chats ?? []).find(c => c.id === agent.chat_id);
  const title = agent.title || known?.title || agent.chat_id;
  const status = known?.status ?? agent.status;
  const type = agent.type ?? known?.agent_type ?? undefined;
  return (
    <button
      type="button"
      className="jp-CoderAgents-agentLink"
      onClick={() => openChat(agent.chat_id)}
      title={trans.__('Open the sub-agent’s chat')}
    >
      <usersIcon.react tag="span" className="jp-CoderAgents-toolIcon" />
      <span className="jp-CoderAgents-agentTitle">{title}</span>
      {type && <span className="jp-CoderAgents-tag">{type}</span>}
      {status && <StatusBadge status={status} />}
    </button>
  );
}

function AgentReport(props: { agent: IAgentInfo }): JSX.Element {
  const { trans } = useAgents();
  const { agent } = props;
  return (
    <li className="jp-CoderAgents-agentItem">
      <AgentLink agent={agent} />
      {agent.error && <ErrorText text={agent.error} />}
      {agent.report ? (
        <details className="jp-CoderAgents-toolDetails">
          <summary>{trans.__('Report')}</summary>
          <Markdown text={agent.report} />
        </details>
      ) : null}
    </li>
  );
}

function AgentBody(props: IBodyProps): JSX.Element {
  const { trans } = useAgents();
  const { name, input, result, display, state } = props;
  if (name === 'spawn_agent') {
    const agent: IAgentInfo | null = display?.agent?.chat_id
      ? display.agent
      : null;
    return (
      <div className="jp-CoderAgents-agentBody">
        {agent ? <AgentLink agent={agent} /> : <Pending state={state} />}
        {str(input.prompt) && (
          <details className="jp-CoderAgents-toolDetails">
            <summary>{trans.__('Task')}</summary>
            <Markdown text={str(input.prompt)} />
          </details>
        )}
      </div>
    );
  }
  if (name === 'wait_agent') {
    const agents = display?.agents;
    if (!agents) {
      return (
        <div className="jp-CoderAgents-agentBody">
          <ul className="jp-CoderAgents-agentList">
            {(Array.isArray(input.chat_ids) ? input.chat_ids : []).map(
              (id: string) => (
                <li key={id} className="jp-CoderAgents-agentItem">
                  <AgentLink agent={{ chat_id: String(id) }} />
                </li>
              )
            )}
          </ul>
          {result ? (
            <pre className="jp-CoderAgents-toolPre">{result.content}</pre>
          ) : (
            <Pending state={state} />
          )}
        </div>
      );
    }
    const finished: IAgentInfo[] = Array.isArray(agents.finished)
      ? agents.finished
      : [];
    const running: IAgentInfo[] = Array.isArray(agents.still_running)
      ? agents.still_running
      : [];
    return (
      <div className="jp-CoderAgents-agentBody">
        {agents.timed_out && (
          <div className="jp-CoderAgents-toolCaption">
            {trans.__('Stopped waiting: the time limit passed.')}
          </div>
        )}
        <ul className="jp-CoderAgents-agentList">
          {finished.map(a => (
            <AgentReport key={a.chat_id} agent={a} />
          ))}
          {running.map(a => (
            <AgentReport key={a.chat_id} agent={a} />
          ))}
        </ul>
      </div>
    );
  }
  // message_agent, close_agent: the reply is JSON about one agent
  const reply = parseJson(result?.content);
  const agent: IAgentInfo = {
    chat_id: str(reply?.chat_id) || str(input.chat_id),
    title: str(reply?.title) || undefined,
    status: str(reply?.status) || undefined,
    report: str(reply?.report) || undefined,
    error: str(reply?.error) || undefined
  };
  return (
    <div className="jp-CoderAgents-agentBody">
      {agent.chat_id && (
        <ul className="jp-CoderAgents-agentList">
          <AgentReport agent={agent} />
        </ul>
      )}
      {name === 'message_agent' && str(input.message) && (
        <blockquote className="jp-CoderAgents-agentMessage">
          {str(input.message)}
        </blockquote>
      )}
      {name === 'message_agent' && reply && (
        <div className="jp-CoderAgents-toolCaption">
          {reply.queued
            ? trans.__('Queued behind its current work.')
            : input.interrupt
              ? trans.__('Sent, interrupting its work.')
              : trans.__('Sent.')}
        </div>
      )}
      {!result && <Pending state={state} />}
      {result && !reply && (
        <pre className="jp-CoderAgents-toolPre">{result.content}</pre>
      )}
    </div>
  );
}

// ----- plan and questions -----

function PlanBody(props: IBodyProps): JSX.Element {
  const { display, result, state } = props;
  const plan = str(display?.plan);
  if (!plan) {
    return result ? (
      <pre className="jp-CoderAgents-toolPre">{result.content}</pre>
    ) : (
      <Pending state={state} />
    );
  }
  return (
    <div className="jp-CoderAgents-toolPlan">
      {str(display?.path) && (
        <div className="jp-CoderAgents-toolCaption">{str(display?.path)}</div>
      )}
      <Markdown text={plan} />
    </div>
  );
}

/** The tool's own reply: the answers come later, as the user's next message. */
const SENT_QUESTIONS = /^The questions were sent/;

function QuestionsBody(props: IBodyProps): JSX.Element {
  const { trans } = useAgents();
  const { display, input, result } = props;
  const questions: any[] = Array.isArray(display?.questions)
    ? display.questions
    : Array.isArray(input.questions)
      ? input.questions
      : [];
  return (
    <div className="jp-CoderAgents-toolQuestions">
      <ol className="jp-CoderAgents-toolQuestionList">
        {questions.map((q, i) => (
          <li key={i} className="jp-CoderAgents-toolQuestion">
            {str(q?.header) && (
              <span className="jp-CoderAgents-tag">{str(q.header)}</span>
            )}{' '}
            <span className="jp-CoderAgents-toolQuestionText">
              {str(q?.question)}
            </span>
            {Array.isArray(q?.options) && q.options.length > 0 && (
              <ul className="jp-CoderAgents-toolQuestionOptions">
                {q.options.map((o: any, k: number) => (
                  <li key={k}>
                    <strong>{str(o?.label)}</strong>
                    {str(o?.description) ? ` — ${str(o.description)}` : ''}
                  </li>
                ))}
              </ul>
            )}
          </li>
        ))}
      </ol>
      {result?.content &&
        (SENT_QUESTIONS.test(result.content) ? (
          <div className="jp-CoderAgents-toolCaption">{result.content}</div>
        ) : (
          <div className="jp-CoderAgents-toolQuestionAnswers">
            <span className="jp-CoderAgents-toolCaption">
              {trans.__('Answers')}
            </span>
            <pre className="jp-CoderAgents-toolPre">{result.content}</pre>
          </div>
        ))}
    </div>
  );
}

function GenericBody(props: IBodyProps): JSX.Element {
  const { trans } = useAgents();
  const { input, result, state, display, name } = props;
  const path = name === 'run_notebook' ? str(display?.path ?? input.path) : '';
  return (
    <div className="jp-CoderAgents-genericBody">
      {Object.keys(input).length > 0 && (
        <>
          <div className="jp-CoderAgents-toolCaption">
            {trans.__('Arguments')}
          </div>
          <pre className="jp-CoderAgents-toolPre">
            {JSON.stringify(input, null, 2)}
          </pre>
        </>
      )}
      {result ? (
        <>
          <div className="jp-CoderAgents-toolCaption">{trans.__('Result')}</div>
          <pre className="jp-CoderAgents-toolPre">{result.content}</pre>
        </>
      ) : (
        <Pending state={state} />
      )}
      {path && (
        <div className="jp-CoderAgents-toolToolbar">
          <OpenInEditor path={path} />
        </div>
      )}
    </div>
  );
}
