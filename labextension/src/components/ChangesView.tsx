/**
 * The chat's "Changes": every file its agents changed (net of all their writes), each with
 * its diff, "Open in editor" and "Revert" (with an inline confirmation).
 */
import {
  caretDownIcon,
  caretRightIcon,
  closeIcon,
  refreshIcon
} from '@jupyterlab/ui-components';
import React, { useCallback, useEffect, useId, useRef, useState } from 'react';

import { ResponseError, restApi } from '../api';
import { IFileDiff } from '../types';
import { useAgents } from './context';
import { DiffCounts, DiffView } from './DiffView';

function keyOf(file: IFileDiff): string {
  return `${file.workspace_id ?? ''}\u0000${file.path}`;
}

function describeError(error: unknown): string {
  if (error instanceof ResponseError) {
    return error.message;
  }
  return error instanceof Error ? error.message : String(error);
}

export function ChangesView(props: {
  chatId: string;
  onClose?: () => void;
}): JSX.Element {
  const { trans, api = restApi } = useAgents();
  const { chatId, onClose } = props;
  const [files, setFiles] = useState<IFileDiff[] | null>(null);
  const [loading, setLoading] = useState(false);
  const [problem, setProblem] = useState<string | null>(null);
  const [expanded, setExpanded] = useState<Set<string>>(new Set());
  const request = useRef(0);
  const mounted = useRef(true);

  useEffect(() => {
    mounted.current = true;
    return () => {
      mounted.current = false;
    };
  }, []);

  const load = useCallback(async (): Promise<void> => {
    const mine = ++request.current;
    setLoading(true);
    try {
      const reply = await api.getDiff(chatId);
      if (mounted.current && mine === request.current) {
        setFiles(reply.files);
        setProblem(null);
      }
    } catch (error) {
      if (mounted.current && mine === request.current) {
        setProblem(describeError(error));
      }
    } finally {
      if (mounted.current && mine === request.current) {
        setLoading(false);
      }
    }
  }, [chatId]);

  useEffect(() => {
    setFiles(null);
    setExpanded(new Set());
    void load();
  }, [load]);

  const toggle = (key: string): void => {
    setExpanded(old => {
      const next = new Set(old);
      if (next.has(key)) {
        next.delete(key);
      } else {
        next.add(key);
      }
      return next;
    });
  };

  const list = files ?? [];
  const workspaces = new Set(list.map(f => f.workspace_id ?? ''));
  const additions = list.reduce((n, f) => n + f.additions, 0);
  const deletions = list.reduce((n, f) => n + f.deletions, 0);
  // a lone file opens by itself
  const single = list.length === 1 ? keyOf(list[0]) : null;

  return (
    <section
      className="jp-CoderAgents-changes"
      aria-label={trans.__('Changes')}
      aria-busy={loading}
    >
      <div className="jp-CoderAgents-changesHeader">
        <h3 className="jp-CoderAgents-changesTitle">{trans.__('Changes')}</h3>
        {list.length > 0 && (
          <span className="jp-CoderAgents-changesSummary">
            {trans._n('%1 file', '%1 files', list.length)}{' '}
            <DiffCounts additions={additions} deletions={deletions} />
          </span>
        )}
        <span className="jp-CoderAgents-changesActions">
          <button
            type="button"
            className="jp-CoderAgents-iconButton"
            onClick={() => void load()}
            disabled={loading}
            title={trans.__('Refresh')}
            aria-label={trans.__('Refresh')}
          >
            <refreshIcon.react tag="span" />
          </button>
          {onClose && (
            <button
              type="button"
              className="jp-CoderAgents-iconButton"
              onClick={onClose}
              title={trans.__('Back to the conversation')}
              aria-label={trans.__('Close changes')}
            >
              <closeIcon.react tag="span" />
            </button>
          )}
        </span>
      </div>
      {problem && (
        <div className="jp-CoderAgents-error" role="alert">
          {trans.__('Could not load the changes: %1', problem)}
        </div>
      )}
      {files === null && !problem && (
        <p className="jp-CoderAgents-empty">{trans.__('Loading changes…')}</p>
      )}
      {files !== null && files.length === 0 && (
        <p className="jp-CoderAgents-empty">
          {trans.__('No file changes in this chat yet.')}
        </p>
      )}
      {list.length > 0 && (
        <ul className="jp-CoderAgents-changesList">
          {list.map(file => {
            const key = keyOf(file);
            return (
              <ChangeItem
                key={key}
                chatId={chatId}
                file={file}
                open={expanded.has(key) !== (key === single)}
                onToggle={() => toggle(key)}
                showWorkspace={workspaces.size > 1}
                onReverted={() => void load()}
              />
            );
          })}
        </ul>
      )}
    </section>
  );
}

function ChangeItem(props: {
  chatId: string;
  file: IFileDiff;
  open: boolean;
  onToggle: () => void;
  showWorkspace: boolean;
  onReverted: () => void;
}): JSX.Element {
  const { trans, openFile, api = restApi } = useAgents();
  const { file, open } = props;
  const [confirming, setConfirming] = useState(false);
  const [busy, setBusy] = useState(false);
  const [problem, setProblem] = useState<string | null>(null);
  const bodyId = useId();
  const Caret = open ? caretDownIcon : caretRightIcon;
  const statusLabel =
    file.status === 'added'
      ? trans.__('added')
      : file.status === 'deleted'
        ? trans.__('deleted')
        : trans.__('modified');

  const revert = async (): Promise<void> => {
    setBusy(true);
    setProblem(null);
    try {
      await api.revertFiles(props.chatId, [file.path], file.workspace_id);
      setConfirming(false);
      props.onReverted();
    } catch (error) {
      setProblem(describeError(error));
    } finally {
      setBusy(false);
    }
  };

  return (
    <li className="jp-CoderAgents-changeItem" data-status={file.status}>
      <div className="jp-CoderAgents-changeRow">
        <button
          type="button"
          className="jp-CoderAgents-changeToggle"
          aria-expanded={open}
          aria-controls={bodyId}
          onClick={props.onToggle}
        >
          <Caret.react tag="span" className="jp-CoderAgents-toolCaret" />
          <span
            className="jp-CoderAgents-changeStatus"
            data-status={file.status}
          >
            {statusLabel}
          </span>
          <span className="jp-CoderAgents-changePath" title={file.path}>
            {file.path}
          </span>
          {file.binary ? (
            <span className="jp-CoderAgents-toolCaption">
              {trans.__('binary or large')}
            </span>
          ) : (
            <DiffCounts additions={file.additions} deletions={file.deletions} />
          )}
          {props.showWorkspace && file.workspace_id && (
            <span
              className="jp-CoderAgents-tag"
              title={trans.__('Workspace %1', file.workspace_id)}
            >
              {file.workspace_id}
            </span>
          )}
        </button>
        <span className="jp-CoderAgents-changeActions">
          {openFile && file.status !== 'deleted' && (
            <button
              type="button"
              className="jp-CoderAgents-linkButton"
              onClick={() => openFile(file.path)}
            >
              {trans.__('Open in editor')}
            </button>
          )}
          {!confirming && (
            <button
              type="button"
              className="jp-CoderAgents-linkButton"
              onClick={() => {
                setProblem(null);
                setConfirming(true);
              }}
            >
              {trans.__('Revert')}
            </button>
          )}
        </span>
      </div>
      {confirming && (
        <div className="jp-CoderAgents-confirm" role="group">
          <span>
            {file.status === 'added'
              ? trans.__('Delete %1, which this chat created?', file.path)
              : trans.__('Restore %1 as it was before this chat?', file.path)}
          </span>
          <button
            type="button"
            className="jp-CoderAgents-dangerButton"
            onClick={() => void revert()}
            disabled={busy}
          >
            {busy ? trans.__('Reverting…') : trans.__('Revert')}
          </button>
          <button
            type="button"
            className="jp-CoderAgents-linkButton"
            onClick={() => setConfirming(false)}
            disabled={busy}
          >
            {trans.__('Cancel')}
          </button>
        </div>
      )}
      {problem && (
        <div className="jp-CoderAgents-error" role="alert">
          {trans.__('Could not revert %1: %2', file.path, problem)}
        </div>
      )}
      {open && (
        <div className="jp-CoderAgents-changeBody" id={bodyId}>
          <DiffView diff={file.diff} path="" />
        </div>
      )}
    </li>
  );
}
