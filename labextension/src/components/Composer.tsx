/**
 * The composer of a chat: the message box, the model / effort / workspace pickers, plan mode,
 * image attachments and the Send / Stop buttons. Without a model it starts a new chat.
 */
import { ISignal } from '@lumino/signaling';
import React, {
  useCallback,
  useEffect,
  useLayoutEffect,
  useReducer,
  useRef,
  useState
} from 'react';

import { imageProblem, uploadImage } from '../api';
import { ChatModel } from '../chatModel';
import { ACTIVE } from '../reducer';
import { Effort, IMessage, IModel } from '../types';
import { useAgents } from './context';

/** The server takes at most this many attachments per message. */
const MAX_ATTACHMENTS = 20;
/** The textarea grows with its content up to this height (px), then scrolls. */
const MAX_INPUT_HEIGHT = 240;
const ACCEPT = 'image/png,image/jpeg,image/gif,image/webp';

/** Prompts sent in this session, per chat (the new-chat composer uses `''`). */
const sessionPrompts = new Map<string, string[]>();

interface IChip {
  key: number;
  file: File;
  name: string;
  url: string;
  status: 'uploading' | 'done' | 'error';
  id?: string;
  error?: string;
}

interface IRecall {
  index: number;
  text: string;
}

let nextChipKey = 1;

export function Composer(props: {
  model: ChatModel | null;
  onCreated?: (chatId: string) => void;
  initialText?: string;
  initialImages?: File[];
  autoFocus?: boolean;
}): JSX.Element {
  const { model, onCreated } = props;
  const { service, trans, api: ctxApi } = useAgents();
  useRerenderOn(service, model);

  const chat = model?.state.chat ?? null;
  const active = chat !== null && ACTIVE.has(chat.status);
  const isNew = model === null;

  const [text, setText] = useState(props.initialText ?? '');
  const textRef = useRef(text);
  textRef.current = text;
  const [chips, setChipsState] = useState<IChip[]>([]);
  const chipsRef = useRef<IChip[]>([]);
  const uploads = useRef(new Map<number, Promise<void>>());
  const [attachProblem, setAttachProblem] = useState<string | null>(null);
  const [localProblem, setLocalProblem] = useState<string | null>(null);
  const [sending, setSending] = useState(false);
  const sendingRef = useRef(false);
  const [dragging, setDragging] = useState(false);
  const dragDepth = useRef(0);
  const recall = useRef<IRecall | null>(null);
  const caret = useRef<number | null>(null);
  const input = useRef<HTMLTextAreaElement>(null);
  const fileInput = useRef<HTMLInputElement>(null);

  // ----- pickers -----
  const models = service.models ?? [];
  const noModels = models.length === 0;
  const [newModelId, setNewModelId] = useState('');
  const [modelOverride, setModelOverride] = useState<string | null>(null);
  const chatModelId = chat?.model ?? '';
  useEffect(() => setModelOverride(null), [chatModelId]);

  let chosenId: string;
  let chosen: IModel | undefined;
  if (isNew) {
    chosen =
      models.find(m => m.id === newModelId) ??
      service.defaultModel ??
      models[0];
    chosenId = chosen?.id ?? '';
  } else {
    chosenId = modelOverride ?? chatModelId;
    chosen = models.find(m => m.id === chosenId);
  }
  const chatModelMissing =
    !isNew && chosenId !== '' && chosen === undefined && !noModels;
  const imagesRefused = chosen?.supports_images === false;

  const [effortOverride, setEffortOverride] = useState<Effort | null>(null);
  const efforts = chosen?.reasoning_efforts ?? [];
  let effort: Effort | undefined;
  if (efforts.length > 0) {
    if (effortOverride !== null && efforts.includes(effortOverride)) {
      effort = effortOverride;
    } else if (
      chat?.reasoning_effort &&
      efforts.includes(chat.reasoning_effort)
    ) {
      effort = chat.reasoning_effort;
    } else if (
      chosen?.default_reasoning_effort &&
      efforts.includes(chosen.default_reasoning_effort)
    ) {
      effort = chosen.default_reasoning_effort;
    } else {
      effort = efforts[0];
    }
  }

  const [workspaceId, setWorkspaceId] = useState('');
  const workspaces = (service.workspaces ?? []).filter(
    w => w.status === 'ready'
  );

  const [newPlanMode, setNewPlanMode] = useState(false);
  const [planPending, setPlanPending] = useState<boolean | null>(null);
  const planMode = isNew
    ? newPlanMode
    : (planPending ?? chat?.plan_mode ?? false);

  const chooseModel = async (id: string): Promise<void> => {
    if (isNew) {
      setNewModelId(id);
      return;
    }
    if (model === null || id === chosenId) {
      return;
    }
    setModelOverride(id);
    const ok = await model.update({ model: id });
    if (!ok) {
      setModelOverride(null);
    }
  };

  const togglePlan = async (): Promise<void> => {
    if (isNew) {
      setNewPlanMode(!newPlanMode);
      return;
    }
    if (model === null || planPending !== null) {
      return;
    }
    const next = !planMode;
    setPlanPending(next);
    try {
      await model.update({ plan_mode: next });
    } finally {
      setPlanPending(null);
    }
  };

  // ----- attachments -----
  const setChips = useCallback((fn: (current: IChip[]) => IChip[]) => {
    chipsRef.current = fn(chipsRef.current);
    setChipsState(chipsRef.current);
  }, []);

  const refusal = (): string =>
    trans.__(
      '%1 does not accept images. Choose another model to attach images.',
      chosen?.display_name ?? chosenId
    );

  const addFiles = (files: File[]): void => {
    if (files.length === 0) {
      return;
    }
    if (imagesRefused) {
      setAttachProblem(refusal());
      return;
    }
    const problems: string[] = [];
    const added: IChip[] = [];
    let count = chipsRef.current.length;
    for (const file of files) {
      const problem = imageProblem(file);
      if (problem !== null) {
        problems.push(problem);
        continue;
      }
      if (count >= MAX_ATTACHMENTS) {
        problems.push(
          trans.__('A message can carry at most %1 images.', MAX_ATTACHMENTS)
        );
        break;
      }
      count++;
      added.push({
        key: nextChipKey++,
        file,
        name: file.name || trans.__('image'),
        url: objectUrl(file),
        status: 'uploading'
      });
    }
    setAttachProblem(problems.length > 0 ? problems.join(' ') : null);
    if (added.length === 0) {
      return;
    }
    setChips(current => [...current, ...added]);
    for (const chip of added) {
      const update = (patch: Partial<IChip>): void =>
        setChips(current =>
          current.map(c => (c.key === chip.key ? { ...c, ...patch } : c))
        );
      const upload = (ctxApi?.uploadImage ?? uploadImage)(chip.file)
        .then(
          attachment => update({ status: 'done', id: attachment.id }),
          error =>
            update({
              status: 'error',
              error: error instanceof Error ? error.message : String(error)
            })
        )
        .finally(() => uploads.current.delete(chip.key));
      uploads.current.set(chip.key, upload);
    }
  };

  const removeChip = (key: number): void => {
    const chip = chipsRef.current.find(c => c.key === key);
    if (chip !== undefined) {
      revoke(chip.url);
    }
    uploads.current.delete(key);
    setChips(current => current.filter(c => c.key !== key));
    input.current?.focus();
  };

  // initial images (a "new chat" started from elsewhere), once
  const initialDone = useRef(false);
  useEffect(() => {
    if (!initialDone.current && props.initialImages?.length) {
      initialDone.current = true;
      addFiles(props.initialImages);
    }
  }, []);

  // revoke thumbnails on unmount
  useEffect(
    () => () => {
      for (const chip of chipsRef.current) {
        revoke(chip.url);
      }
    },
    []
  );

  useEffect(() => {
    if (props.autoFocus) {
      input.current?.focus();
    }
  }, []);

  // ----- the textarea grows with its content -----
  useLayoutEffect(() => {
    const el = input.current;
    if (el === null) {
      return;
    }
    el.style.height = 'auto';
    const height = Math.min(el.scrollHeight, MAX_INPUT_HEIGHT);
    if (height > 0) {
      el.style.height = `${height}px`;
    } else {
      el.style.removeProperty('height');
    }
    el.style.overflowY = el.scrollHeight > MAX_INPUT_HEIGHT ? 'auto' : 'hidden';
    if (caret.current !== null) {
      el.setSelectionRange(caret.current, caret.current);
      caret.current = null;
    }
  }, [text]);

  // ----- sending -----
  const hasContent = text.trim() !== '' || chips.length > 0;
  const failedChips = chips.some(c => c.status === 'error');
  const imagesBlocked = imagesRefused && chips.length > 0;
  const canSend =
    hasContent && !noModels && !sending && !failedChips && !imagesBlocked;

  const send = async (): Promise<void> => {
    if (sendingRef.current || noModels) {
      return;
    }
    if (textRef.current.trim() === '' && chipsRef.current.length === 0) {
      return;
    }
    if (imagesRefused && chipsRef.current.length > 0) {
      setAttachProblem(refusal());
      return;
    }
    sendingRef.current = true;
    setSending(true);
    try {
      await Promise.all([...uploads.current.values()]);
      const sentChips = chipsRef.current;
      if (sentChips.some(c => c.status !== 'done')) {
        setAttachProblem(
          trans.__(
            'Some images could not be uploaded. Remove them, then send again.'
          )
        );
        return;
      }
      const draft = textRef.current;
      const content = draft.trim();
      const attachments = sentChips.map(c => c.id as string);
      setText('');
      setChips(() => []);
      recall.current = null;

      let ok = false;
      let createdId: string | null = null;
      if (model === null) {
        try {
          const created = await service.create({
            prompt: content,
            model: chosenId || undefined,
            workspace_id: workspaceId || undefined,
            plan_mode: planMode,
            reasoning_effort: effort,
            attachments
          });
          createdId = created.id;
          ok = true;
          setLocalProblem(null);
        } catch (error) {
          setLocalProblem(
            error instanceof Error ? error.message : String(error)
          );
        }
      } else {
        ok = await model.send(content, {
          attachments,
          effort,
          planMode: chat?.plan_mode
        });
      }

      if (ok) {
        for (const chip of sentChips) {
          revoke(chip.url);
        }
        setAttachProblem(null);
        if (content !== '') {
          const key = model?.id ?? '';
          sessionPrompts.set(key, [
            ...(sessionPrompts.get(key) ?? []),
            content
          ]);
        }
        if (createdId !== null) {
          onCreated?.(createdId);
        }
      } else {
        // give the message back, keeping anything typed meanwhile
        setText(current =>
          current.trim() === '' ? draft : `${draft}\n${current}`
        );
        setChips(current => [...sentChips, ...current]);
      }
    } finally {
      sendingRef.current = false;
      setSending(false);
    }
  };

  const stop = (): void => {
    void model?.stop();
  };

  // ----- keys -----
  const history = (): string[] => {
    const all = [
      ...(model?.state.messages ?? [])
        .filter(m => m.role === 'user' && !m.is_summary)
        .map(textOf),
      ...(sessionPrompts.get(model?.id ?? '') ?? [])
    ].filter(t => t.trim() !== '');
    const seen = new Set<string>();
    const out: string[] = [];
    for (let i = all.length - 1; i >= 0; i--) {
      if (!seen.has(all[i])) {
        seen.add(all[i]);
        out.push(all[i]);
      }
    }
    return out;
  };

  const showRecalled = (next: IRecall | null): void => {
    recall.current = next;
    const value = next?.text ?? '';
    caret.current = value.length;
    setText(value);
  };

  const onKeyDown = (e: React.KeyboardEvent<HTMLTextAreaElement>): void => {
    if (e.nativeEvent.isComposing || e.keyCode === 229) {
      return; // an IME is composing: Enter picks a candidate
    }
    const el = e.currentTarget;
    const plain = !e.shiftKey && !e.altKey && !e.ctrlKey && !e.metaKey;
    if (e.key === 'Enter') {
      const wantsSend =
        service.preferences?.sendKey === 'Ctrl+Enter'
          ? (e.ctrlKey || e.metaKey) && !e.shiftKey
          : !e.shiftKey && !e.altKey;
      if (wantsSend) {
        e.preventDefault();
        if (canSend) {
          void send();
        }
      }
      return;
    }
    if (!plain) {
      return;
    }
    const browsing =
      recall.current !== null && el.value === recall.current.text;
    if (e.key === 'ArrowUp') {
      const before = el.value.slice(0, el.selectionStart ?? 0);
      if (el.value === '' || (browsing && !before.includes('\n'))) {
        const list = history();
        const index = browsing && recall.current ? recall.current.index + 1 : 0;
        if (index < list.length) {
          e.preventDefault();
          showRecalled({ index, text: list[index] });
        }
      }
    } else if (e.key === 'ArrowDown' && browsing && recall.current) {
      const after = el.value.slice(el.selectionEnd ?? el.value.length);
      if (!after.includes('\n')) {
        e.preventDefault();
        const index = recall.current.index - 1;
        const list = history();
        showRecalled(
          index >= 0 && index < list.length
            ? { index, text: list[index] }
            : null
        );
      }
    }
  };

  const onPaste = (e: React.ClipboardEvent<HTMLTextAreaElement>): void => {
    const files = filesOf(e.clipboardData);
    // text copied from office apps often comes with a picture of itself: keep the text
    const plain = e.clipboardData?.getData('text/plain') ?? '';
    if (files.length > 0 && plain.trim() === '') {
      e.preventDefault();
      addFiles(files);
    }
  };

  // ----- drag and drop -----
  const carriesFiles = (e: React.DragEvent): boolean =>
    Array.from(e.dataTransfer?.types ?? []).includes('Files');

  const onDragEnter = (e: React.DragEvent): void => {
    if (!carriesFiles(e)) {
      return;
    }
    e.preventDefault();
    dragDepth.current++;
    setDragging(true);
  };
  const onDragOver = (e: React.DragEvent): void => {
    if (!carriesFiles(e)) {
      return;
    }
    e.preventDefault();
    e.dataTransfer.dropEffect = 'copy';
  };
  const onDragLeave = (e: React.DragEvent): void => {
    if (!carriesFiles(e)) {
      return;
    }
    dragDepth.current = Math.max(0, dragDepth.current - 1);
    if (dragDepth.current === 0) {
      setDragging(false);
    }
  };
  const onDrop = (e: React.DragEvent): void => {
    dragDepth.current = 0;
    setDragging(false);
    const files = Array.from(e.dataTransfer?.files ?? []);
    if (files.length > 0) {
      e.preventDefault();
      addFiles(files);
    }
  };

  // ----- render -----
  const ctrlSends = service.preferences?.sendKey === 'Ctrl+Enter';
  const placeholder = isNew
    ? ctrlSends
      ? trans.__('Ask the agent to do something… (Ctrl+Enter to send)')
      : trans.__(
          'Ask the agent to do something… (Enter to send, Shift+Enter for a new line)'
        )
    : active
      ? trans.__('Add a follow-up; it is sent when the current turn ends')
      : ctrlSends
        ? trans.__('Reply… (Ctrl+Enter to send)')
        : trans.__('Reply… (Enter to send, Shift+Enter for a new line)');

  let sendTitle: string;
  if (noModels) {
    sendTitle = trans.__('No model is enabled');
  } else if (failedChips) {
    sendTitle = trans.__('Remove the images that could not be uploaded');
  } else if (imagesBlocked) {
    sendTitle = trans.__('This model does not accept images');
  } else if (!hasContent) {
    sendTitle = trans.__('Type a message to send');
  } else if (active) {
    sendTitle = trans.__(
      'Queue this message: it is sent when the current turn ends'
    );
  } else {
    sendTitle = trans.__('Send');
  }

  const classes = ['jp-CoderAgents-composer'];
  if (dragging) {
    classes.push('jp-mod-dragging');
  }
  if (active) {
    classes.push('jp-mod-active');
  }

  return (
    <div
      className={classes.join(' ')}
      onDragEnter={onDragEnter}
      onDragOver={onDragOver}
      onDragLeave={onDragLeave}
      onDrop={onDrop}
    >
      {model?.problem ? (
        <div className="jp-CoderAgents-composerError" role="alert">
          {model.problem}
        </div>
      ) : null}
      {localProblem !== null ? (
        <div className="jp-CoderAgents-composerError" role="alert">
          {localProblem}
        </div>
      ) : null}
      {attachProblem !== null ? (
        <div className="jp-CoderAgents-composerError" role="alert">
          <span>{attachProblem}</span>
          <button
            type="button"
            className="jp-CoderAgents-iconButton"
            aria-label={trans.__('Dismiss')}
            title={trans.__('Dismiss')}
            onClick={() => setAttachProblem(null)}
          >
            <CloseIcon />
          </button>
        </div>
      ) : null}
      {imagesBlocked && attachProblem === null ? (
        <div className="jp-CoderAgents-composerError" role="alert">
          {refusal()}
        </div>
      ) : null}

      <div className="jp-CoderAgents-composerBox">
        {chips.length > 0 ? (
          <ul className="jp-CoderAgents-chips">
            {chips.map(chip => (
              <li
                key={chip.key}
                className={`jp-CoderAgents-chip jp-mod-${chip.status}`}
                title={
                  chip.status === 'error'
                    ? trans.__(
                        '%1 could not be uploaded: %2',
                        chip.name,
                        chip.error ?? ''
                      )
                    : chip.name
                }
              >
                {chip.url ? (
                  <img
                    className="jp-CoderAgents-chipThumb"
                    src={chip.url}
                    alt=""
                  />
                ) : null}
                <span className="jp-CoderAgents-chipBody">
                  <span className="jp-CoderAgents-chipName">{chip.name}</span>
                  {chip.status === 'error' ? (
                    <span className="jp-CoderAgents-chipError">
                      {chip.error || trans.__('Upload failed')}
                    </span>
                  ) : null}
                </span>
                {chip.status === 'uploading' ? (
                  <span
                    className="jp-CoderAgents-spinner"
                    role="status"
                    aria-label={trans.__('Uploading %1', chip.name)}
                  />
                ) : null}
                <button
                  type="button"
                  className="jp-CoderAgents-iconButton jp-CoderAgents-chipRemove"
                  aria-label={trans.__('Remove %1', chip.name)}
                  title={trans.__('Remove %1', chip.name)}
                  onClick={() => removeChip(chip.key)}
                >
                  <CloseIcon />
                </button>
              </li>
            ))}
          </ul>
        ) : null}
        <textarea
          ref={input}
          className="jp-CoderAgents-composerInput"
          aria-label={trans.__('Message')}
          placeholder={placeholder}
          rows={1}
          value={text}
          onChange={e => {
            setText(e.target.value);
          }}
          onKeyDown={onKeyDown}
          onPaste={onPaste}
        />

        <div className="jp-CoderAgents-composerBar">
          <div className="jp-CoderAgents-composerTools">
            <button
              type="button"
              className="jp-CoderAgents-iconButton"
              aria-label={trans.__('Attach image')}
              title={
                imagesRefused
                  ? refusal()
                  : trans.__(
                      'Attach images (PNG, JPEG, GIF or WebP, at most 10 MB each); you can also paste or drop them'
                    )
              }
              onClick={() => {
                if (imagesRefused) {
                  setAttachProblem(refusal());
                } else {
                  fileInput.current?.click();
                }
              }}
            >
              <PaperclipIcon />
            </button>
            <input
              ref={fileInput}
              type="file"
              accept={ACCEPT}
              multiple
              hidden
              style={{ display: 'none' }}
              tabIndex={-1}
              aria-hidden="true"
              onChange={e => {
                const files = Array.from(e.target.files ?? []);
                e.target.value = '';
                addFiles(files);
              }}
            />
            <button
              type="button"
              className={`jp-CoderAgents-toggle${planMode ? ' jp-mod-pressed' : ''}`}
              aria-pressed={planMode}
              disabled={!isNew && (planPending !== null || chat === null)}
              title={trans.__(
                'Plan mode: the agent explores and proposes a plan for your approval before it changes any files'
              )}
              onClick={() => void togglePlan()}
            >
              {trans.__('Plan')}
            </button>
            {noModels ? (
              <span className="jp-CoderAgents-composerHint">
                {service.loaded === false
                  ? trans.__('Loading models…')
                  : service.hint ||
                    trans.__(
                      'No model is enabled. Ask an administrator to set up a provider.'
                    )}
              </span>
            ) : (
              <>
                <select
                  className="jp-CoderAgents-select"
                  aria-label={trans.__('Model')}
                  title={trans.__('Model')}
                  value={chosenId}
                  onChange={e => void chooseModel(e.target.value)}
                >
                  {chatModelMissing ? (
                    <option value={chosenId} disabled>
                      {trans.__('%1 (not available)', chosenId)}
                    </option>
                  ) : null}
                  {models.map(m => (
                    <option key={m.id} value={m.id}>
                      {m.display_name || m.id}
                    </option>
                  ))}
                </select>
                {efforts.length > 0 ? (
                  <select
                    className="jp-CoderAgents-select"
                    aria-label={trans.__('Reasoning effort')}
                    title={trans.__('Reasoning effort')}
                    value={effort}
                    onChange={e => setEffortOverride(e.target.value as Effort)}
                  >
                    {efforts.map(level => (
                      <option key={level} value={level}>
                        {effortLabel(level, trans.__.bind(trans))}
                      </option>
                    ))}
                  </select>
                ) : null}
                {isNew ? (
                  <select
                    className="jp-CoderAgents-select"
                    aria-label={trans.__('Workspace')}
                    title={trans.__('Workspace')}
                    value={workspaceId}
                    onChange={e => setWorkspaceId(e.target.value)}
                  >
                    <option value="">
                      {trans.__('New workspace (default)')}
                    </option>
                    {workspaces.map(w => (
                      <option key={w.id} value={w.id}>
                        {w.name || w.id}
                      </option>
                    ))}
                  </select>
                ) : null}
              </>
            )}
          </div>
          <div className="jp-CoderAgents-composerActions">
            {active ? (
              <button
                type="button"
                className="jp-mod-styled jp-mod-reject jp-CoderAgents-button jp-CoderAgents-stop"
                aria-label={trans.__('Stop')}
                title={trans.__('Stop the running turn')}
                onClick={stop}
              >
                <StopIcon />
              </button>
            ) : null}
            <button
              type="button"
              className="jp-mod-styled jp-mod-accept jp-CoderAgents-button jp-CoderAgents-send"
              aria-label={trans.__('Send')}
              title={sendTitle}
              disabled={!canSend}
              onClick={() => void send()}
            >
              {sending ? (
                <span className="jp-CoderAgents-spinner" />
              ) : (
                <SendIcon />
              )}
            </button>
          </div>
        </div>
      </div>
      {dragging ? (
        <div className="jp-CoderAgents-dropHint" aria-hidden="true">
          {imagesRefused ? refusal() : trans.__('Drop images to attach them')}
        </div>
      ) : null}
    </div>
  );
}

/** Re-render when the service (models, workspaces) or the chat changes. */
function useRerenderOn(
  service: { changed?: ISignal<any, any> },
  model: ChatModel | null
): void {
  const [, bump] = useReducer((n: number) => n + 1, 0);
  useEffect(() => {
    const onChange = (): void => bump();
    const signals: ISignal<any, any>[] = [];
    for (const signal of [service.changed, model?.changed]) {
      if (signal && typeof signal.connect === 'function') {
        signals.push(signal);
        signal.connect(onChange);
      }
    }
    return () => {
      for (const signal of signals) {
        signal.disconnect(onChange);
      }
    };
  }, [service, model]);
}

function textOf(message: IMessage): string {
  return message.content
    .map(b => (b.type === 'text' ? b.text : ''))
    .filter(t => t !== '')
    .join('\n');
}

function filesOf(data: DataTransfer | null): File[] {
  if (data === null) {
    return [];
  }
  const files = Array.from(data.files ?? []);
  if (files.length > 0) {
    return files;
  }
  const out: File[] = [];
  for (const item of Array.from(data.items ?? [])) {
    if (item.kind === 'file') {
      const file = item.getAsFile();
      if (file !== null) {
        out.push(file);
      }
    }
  }
  return out;
}

function objectUrl(file: File): string {
  try {
    return typeof URL.createObjectURL === 'function'
      ? URL.createObjectURL(file)
      : '';
  } catch {
    return '';
  }
}

function revoke(url: string): void {
  if (url && typeof URL.revokeObjectURL === 'function') {
    URL.revokeObjectURL(url);
  }
}

function effortLabel(level: Effort, __: (s: string) => string): string {
  switch (level) {
    case 'none':
      return __('No reasoning');
    case 'minimal':
      return __('Minimal reasoning');
    case 'low':
      return __('Low reasoning');
    case 'medium':
      return __('Medium reasoning');
    case 'high':
      return __('High reasoning');
    case 'xhigh':
      return __('Extra-high reasoning');
    case 'max':
      return __('Maximum reasoning');
  }
}

/** An icon in the text colour, 16 px unless told (inline: the composer's tests load no icon
 * registry). */
function SvgIcon(props: {
  children: React.ReactNode;
  size?: number;
}): JSX.Element {
  const size = props.size ?? 16;
  return (
    <svg viewBox="0 0 24 24" width={size} height={size} aria-hidden="true">
      {props.children}
    </svg>
  );
}

const PaperclipIcon = (): JSX.Element => (
  <SvgIcon>
    <path
      fill="currentColor"
      d="M16.5 6v11.5a4 4 0 0 1-8 0V5a2.5 2.5 0 0 1 5 0v10.5a1 1 0 0 1-2 0V6H10v9.5a2.5 2.5 0 0 0 5 0V5a4 4 0 0 0-8 0v12.5a5.5 5.5 0 0 0 11 0V6h-1.5z"
    />
  </SvgIcon>
);

const SendIcon = (): JSX.Element => (
  <SvgIcon>
    <path
      fill="currentColor"
      d="M12 4l-7 7 1.41 1.41L11 7.83V20h2V7.83l4.59 4.58L19 11z"
    />
  </SvgIcon>
);

const StopIcon = (): JSX.Element => (
  <SvgIcon>
    <rect fill="currentColor" x="6" y="6" width="12" height="12" rx="1.5" />
  </SvgIcon>
);

const CloseIcon = (): JSX.Element => (
  <SvgIcon size={14}>
    <path
      fill="currentColor"
      d="M19 6.41L17.59 5 12 10.59 6.41 5 5 6.41 10.59 12 5 17.59 6.41 19 12 13.41 17.59 19 19 17.59 13.41 12z"
    />
  </SvgIcon>
);
