import React, { act } from 'react';
import { createRoot, Root } from 'react-dom/client';

import { uploadImage } from '../src/api';
import { ChatModel } from '../src/chatModel';
import {
  ApprovalCard,
  PlanCard,
  QuestionCard
} from '../src/components/Awaiting';
import { Composer } from '../src/components/Composer';
import { QueueList } from '../src/components/QueueList';
import { AgentsContext, IAgentsContext } from '../src/components/context';
import { ChatStatus, IChatDetail, IMessage, IModel } from '../src/types';

// JupyterLab's translation package ships ES modules, which jest does not transform.
jest.mock('@jupyterlab/translation', () => ({
  nullTranslator: { load: () => ({}) }
}));
// rendermime ships ES modules too: show the plan's Markdown as plain text
jest.mock('../src/components/Markdown', () => ({
  Markdown: (props: { text: string }) => props.text
}));
// keep the real `imageProblem`, fake the upload
jest.mock('../src/api', () => ({
  ...jest.requireActual('../src/api'),
  uploadImage: jest.fn()
}));

(globalThis as any).IS_REACT_ACT_ENVIRONMENT = true;

const uploadMock = uploadImage as jest.MockedFunction<typeof uploadImage>;

const MODEL: IModel = {
  id: 'prov/model-a',
  provider: 'prov',
  display_name: 'Model A',
  context_window: 100000,
  supports_images: true,
  default: true,
  reasoning_efforts: [],
  default_reasoning_effort: null,
  prices: null,
  web_search: false
};

const trans = {
  __: (msg: string, ...args: unknown[]) =>
    msg.replace(/%(\d+)/g, (_, i) => String(args[Number(i) - 1])),
  _n: (one: string, many: string, n: number, ...args: unknown[]) =>
    (n === 1 ? one : many).replace(/%(\d+)/g, (_, i) =>
      String([n, ...args][Number(i) - 1])
    )
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
    created_at: '2024-01-01T00:00:00Z'
  };
}

function chatDetail(status: ChatStatus): IChatDetail {
  return {
    id: 'c1',
    title: 'A chat',
    status,
    model: MODEL.id,
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
    usage: {},
    message_count: 3,
    created_at: '2024-01-01T00:00:00Z',
    updated_at: '2024-01-01T00:00:00Z',
    children: [],
    tree_usage: {}
  };
}

let chatCount = 0;

function fakeModel(status: ChatStatus = 'completed') {
  return {
    // each test its own chat: prompts sent in this session are recalled per chat
    id: `c${++chatCount}`,
    state: {
      chat: chatDetail(status),
      messages: [
        message(1, 'user', 'first prompt'),
        message(2, 'assistant', 'an answer'),
        message(3, 'user', 'second prompt')
      ],
      queue: []
    },
    problem: null,
    send: jest.fn().mockResolvedValue(true),
    stop: jest.fn().mockResolvedValue(true),
    update: jest.fn().mockResolvedValue(true)
  };
}

function fakeService(sendKey: 'Enter' | 'Ctrl+Enter' = 'Enter') {
  return {
    models: [MODEL],
    workspaces: [],
    preferences: { defaultModel: '', sendKey, openChatsIn: 'sidebar' },
    hint: null,
    loaded: true,
    defaultModel: MODEL,
    create: jest.fn().mockResolvedValue({ id: 'new-chat' })
  };
}

let container: HTMLDivElement;
let root: Root;

beforeEach(() => {
  container = document.createElement('div');
  document.body.appendChild(container);
  root = createRoot(container);
  uploadMock.mockReset();
});

afterEach(() => {
  act(() => root.unmount());
  container.remove();
});

function render(
  element: JSX.Element,
  service: ReturnType<typeof fakeService> = fakeService()
): void {
  const ctx = {
    service,
    rendermime: null,
    trans,
    openChat: () => undefined
  } as unknown as IAgentsContext;
  act(() => {
    root.render(
      <AgentsContext.Provider value={ctx}>{element}</AgentsContext.Provider>
    );
  });
}

const textarea = (): HTMLTextAreaElement =>
  container.querySelector('textarea[aria-label="Message"]')!;
const button = (label: string): HTMLButtonElement | null =>
  container.querySelector(`button[aria-label="${label}"]`);
const buttonWithText = (text: string): HTMLButtonElement | undefined =>
  Array.from(container.querySelectorAll('button')).find(
    b => b.textContent === text
  );

function type(value: string): void {
  const el = textarea();
  const setter = Object.getOwnPropertyDescriptor(
    HTMLTextAreaElement.prototype,
    'value'
  )!.set!;
  act(() => {
    setter.call(el, value);
    el.dispatchEvent(new Event('input', { bubbles: true }));
  });
}

async function key(
  name: string,
  init: KeyboardEventInit = {}
): Promise<KeyboardEvent> {
  const event = new KeyboardEvent('keydown', {
    key: name,
    bubbles: true,
    cancelable: true,
    ...init
  });
  await act(async () => {
    textarea().dispatchEvent(event);
  });
  return event;
}

function chooseFiles(files: File[]): void {
  const input =
    container.querySelector<HTMLInputElement>('input[type="file"]')!;
  Object.defineProperty(input, 'files', { value: files, configurable: true });
  act(() => {
    input.dispatchEvent(new Event('change', { bubbles: true }));
  });
}

describe('Composer', () => {
  it('sends on Enter and clears the text', async () => {
    const model = fakeModel();
    render(<Composer model={model as unknown as ChatModel} />);
    type('hello agent');
    const event = await key('Enter');
    expect(event.defaultPrevented).toBe(true);
    expect(model.send).toHaveBeenCalledTimes(1);
    expect(model.send.mock.calls[0][0]).toBe('hello agent');
    expect(model.send.mock.calls[0][1]).toMatchObject({ attachments: [] });
    expect(textarea().value).toBe('');
  });

  it('does not send on Shift+Enter', async () => {
    const model = fakeModel();
    render(<Composer model={model as unknown as ChatModel} />);
    type('line one');
    const event = await key('Enter', { shiftKey: true });
    expect(event.defaultPrevented).toBe(false);
    expect(model.send).not.toHaveBeenCalled();
    expect(textarea().value).toBe('line one');
  });

  it('sends on Ctrl+Enter only when that is the send key', async () => {
    const model = fakeModel();
    render(
      <Composer model={model as unknown as ChatModel} />,
      fakeService('Ctrl+Enter')
    );
    type('hello');
    await key('Enter');
    expect(model.send).not.toHaveBeenCalled();
    await key('Enter', { ctrlKey: true });
    expect(model.send).toHaveBeenCalledWith('hello', expect.anything());
  });

  it('never sends while an IME composes', async () => {
    const model = fakeModel();
    render(<Composer model={model as unknown as ChatModel} />);
    type('こんにちは');
    await key('Enter', { isComposing: true });
    expect(model.send).not.toHaveBeenCalled();
  });

  it('restores the text when sending failed', async () => {
    const model = fakeModel();
    model.send.mockResolvedValue(false);
    render(<Composer model={model as unknown as ChatModel} />);
    type('try this');
    await key('Enter');
    expect(model.send).toHaveBeenCalled();
    expect(textarea().value).toBe('try this');
  });

  it('recalls earlier prompts with ArrowUp and goes forward with ArrowDown', async () => {
    const model = fakeModel();
    render(<Composer model={model as unknown as ChatModel} />);
    const up = await key('ArrowUp');
    expect(up.defaultPrevented).toBe(true);
    expect(textarea().value).toBe('second prompt');
    await key('ArrowUp');
    expect(textarea().value).toBe('first prompt');
    await key('ArrowDown');
    expect(textarea().value).toBe('second prompt');
    await key('ArrowDown');
    expect(textarea().value).toBe('');
  });

  it('does not recall over typed text', async () => {
    const model = fakeModel();
    render(<Composer model={model as unknown as ChatModel} />);
    type('draft');
    await key('ArrowUp');
    expect(textarea().value).toBe('draft');
  });

  it('shows Stop while the chat runs and calls model.stop', async () => {
    const model = fakeModel('running');
    render(<Composer model={model as unknown as ChatModel} />);
    const stop = button('Stop');
    expect(stop).not.toBeNull();
    expect(stop!.disabled).toBe(false);
    await act(async () => {
      stop!.click();
    });
    expect(model.stop).toHaveBeenCalledTimes(1);
    // Send stays usable: the message is queued
    type('next');
    expect(button('Send')!.disabled).toBe(false);
    expect(button('Send')!.title).toMatch(/queue/i);
  });

  it('shows no Stop button when the chat is idle', () => {
    render(<Composer model={fakeModel() as unknown as ChatModel} />);
    expect(button('Stop')).toBeNull();
    expect(button('Send')!.disabled).toBe(true); // nothing to send
  });

  it('refuses a non-image file with an alert and does not upload it', () => {
    render(<Composer model={fakeModel() as unknown as ChatModel} />);
    chooseFiles([new File(['hi'], 'notes.txt', { type: 'text/plain' })]);
    const alert = container.querySelector('[role="alert"]');
    expect(alert?.textContent).toContain('notes.txt');
    expect(uploadMock).not.toHaveBeenCalled();
    expect(container.querySelector('.jp-CoderAgents-chip')).toBeNull();
  });

  it('refuses a too-large image with an alert and does not upload it', () => {
    render(<Composer model={fakeModel() as unknown as ChatModel} />);
    const big = new File(['x'], 'huge.png', { type: 'image/png' });
    Object.defineProperty(big, 'size', { value: 11 * 1024 * 1024 });
    chooseFiles([big]);
    const alert = container.querySelector('[role="alert"]');
    expect(alert?.textContent).toContain('huge.png');
    expect(alert?.textContent).toContain('10 MB');
    expect(uploadMock).not.toHaveBeenCalled();
  });

  it('uploads an image and sends its id', async () => {
    const createUrl = jest.fn(() => 'blob:thumb');
    (URL as any).createObjectURL = createUrl;
    (URL as any).revokeObjectURL = jest.fn();
    uploadMock.mockResolvedValue({
      id: 'att-1',
      name: 'shot.png',
      media_type: 'image/png',
      size: 3
    });
    const model = fakeModel();
    render(<Composer model={model as unknown as ChatModel} />);
    await act(async () => {
      chooseFiles([new File(['png'], 'shot.png', { type: 'image/png' })]);
    });
    expect(uploadMock).toHaveBeenCalledTimes(1);
    expect(button('Remove shot.png')).not.toBeNull();
    type('look at this');
    await key('Enter');
    expect(model.send).toHaveBeenCalledWith(
      'look at this',
      expect.objectContaining({ attachments: ['att-1'] })
    );
    expect(container.querySelector('.jp-CoderAgents-chip')).toBeNull();
  });

  it('refuses images when the model does not accept them', () => {
    const service = fakeService();
    service.models = [{ ...MODEL, supports_images: false }];
    service.defaultModel = service.models[0];
    render(<Composer model={fakeModel() as unknown as ChatModel} />, service);
    chooseFiles([new File(['png'], 'shot.png', { type: 'image/png' })]);
    expect(container.querySelector('[role="alert"]')?.textContent).toContain(
      'does not accept images'
    );
    expect(uploadMock).not.toHaveBeenCalled();
  });

  it('starts a new chat without a model', async () => {
    const service = fakeService();
    const onCreated = jest.fn();
    render(<Composer model={null} onCreated={onCreated} />, service);
    expect(
      container.querySelector('select[aria-label="Workspace"]')
    ).not.toBeNull();
    const plan = buttonWithText('Plan')!;
    expect(plan.getAttribute('aria-pressed')).toBe('false');
    act(() => plan.click());
    expect(plan.getAttribute('aria-pressed')).toBe('true');
    type('build a thing');
    await key('Enter');
    expect(service.create).toHaveBeenCalledWith(
      expect.objectContaining({
        prompt: 'build a thing',
        model: MODEL.id,
        plan_mode: true,
        attachments: []
      })
    );
    expect(onCreated).toHaveBeenCalledWith('new-chat');
  });

  it('attaches a pasted image', async () => {
    (URL as any).createObjectURL = jest.fn(() => 'blob:thumb');
    uploadMock.mockResolvedValue({
      id: 'att-2',
      name: 'pasted.png',
      media_type: 'image/png',
      size: 3
    });
    render(<Composer model={fakeModel() as unknown as ChatModel} />);
    const file = new File(['png'], 'pasted.png', { type: 'image/png' });
    const event = new Event('paste', { bubbles: true, cancelable: true });
    Object.defineProperty(event, 'clipboardData', {
      value: { files: [file], items: [], getData: () => '' }
    });
    await act(async () => {
      textarea().dispatchEvent(event);
    });
    expect(event.defaultPrevented).toBe(true);
    expect(uploadMock).toHaveBeenCalledWith(file);
    expect(button('Remove pasted.png')).not.toBeNull();
  });

  it('shows the hint and cannot send when no model is enabled', () => {
    const service = fakeService();
    service.models = [];
    (service as any).defaultModel = undefined;
    (service as any).hint = 'Configure a provider first.';
    render(<Composer model={fakeModel() as unknown as ChatModel} />, service);
    expect(container.textContent).toContain('Configure a provider first.');
    expect(container.querySelector('select[aria-label="Model"]')).toBeNull();
    type('hello');
    expect(button('Send')!.disabled).toBe(true);
  });
});

describe('QueueList and the awaiting cards', () => {
  const click = async (el: HTMLElement | undefined | null): Promise<void> => {
    expect(el).toBeTruthy();
    await act(async () => {
      el!.click();
    });
  };

  it('lists queued messages and acts on them', async () => {
    const model = {
      ...fakeModel('running'),
      state: {
        ...fakeModel('running').state,
        queue: [
          {
            id: 7,
            content: [
              { type: 'text', text: 'queued text' },
              { type: 'image', attachment_id: 'a' }
            ],
            created_at: ''
          }
        ]
      },
      editQueued: jest.fn().mockResolvedValue(true),
      deleteQueued: jest.fn().mockResolvedValue(true),
      sendQueuedNow: jest.fn().mockResolvedValue(true)
    };
    render(<QueueList model={model as unknown as ChatModel} />);
    expect(container.textContent).toContain('Queued (1)');
    expect(container.textContent).toContain('1 image');
    expect(container.querySelectorAll('.jp-CoderAgents-queueItem').length).toBe(
      1
    );
    await click(buttonWithText('Send now'));
    expect(model.sendQueuedNow).toHaveBeenCalledWith(7);
    await click(buttonWithText('Delete'));
    expect(model.deleteQueued).toHaveBeenCalledWith(7);
    await click(buttonWithText('Edit'));
    const area = container.querySelector<HTMLTextAreaElement>(
      '.jp-CoderAgents-queueItem textarea'
    )!;
    const setter = Object.getOwnPropertyDescriptor(
      HTMLTextAreaElement.prototype,
      'value'
    )!.set!;
    act(() => {
      setter.call(area, 'edited');
      area.dispatchEvent(new Event('input', { bubbles: true }));
    });
    await click(buttonWithText('Save'));
    expect(model.editQueued).toHaveBeenCalledWith(7, 'edited');
  });

  it('renders nothing for an empty queue', () => {
    render(<QueueList model={fakeModel() as unknown as ChatModel} />);
    expect(container.innerHTML).toBe('');
  });

  it('approves a plan or asks for changes', async () => {
    const model = { decidePlan: jest.fn().mockResolvedValue(true) };
    render(
      <PlanCard
        model={model as unknown as ChatModel}
        plan="# Plan"
        path="plans/p.md"
      />
    );
    expect(container.textContent).toContain('plans/p.md');
    await click(buttonWithText('Request changes'));
    expect(buttonWithText('Send feedback')!.disabled).toBe(true);
    await click(buttonWithText('Cancel'));
    await click(buttonWithText('Approve'));
    expect(model.decidePlan).toHaveBeenCalledWith('approve', undefined);
  });

  it('answers questions with an option or free text', async () => {
    const model = { answer: jest.fn().mockResolvedValue(true) };
    render(
      <QuestionCard
        model={model as unknown as ChatModel}
        questionId="q1"
        questions={[
          {
            header: 'Scope',
            question: 'Which part?',
            options: [{ label: 'All', description: 'everything' }]
          },
          { question: 'Anything else?', options: [] }
        ]}
      />
    );
    const send = buttonWithText('Send answers')!;
    expect(send.disabled).toBe(true);
    const all = container.querySelector<HTMLButtonElement>(
      '.jp-CoderAgents-option'
    )!;
    await click(all);
    expect(all.getAttribute('aria-pressed')).toBe('true');
    const inputs = container.querySelectorAll<HTMLInputElement>('input');
    const setter = Object.getOwnPropertyDescriptor(
      HTMLInputElement.prototype,
      'value'
    )!.set!;
    act(() => {
      setter.call(inputs[1], 'no');
      inputs[1].dispatchEvent(new Event('input', { bubbles: true }));
    });
    expect(send.disabled).toBe(false);
    await click(send);
    expect(model.answer).toHaveBeenCalledWith('q1', ['All', 'no']);
  });

  it('allows or rejects tool calls not yet decided', async () => {
    const model = { decideApproval: jest.fn().mockResolvedValue(true) };
    render(
      <ApprovalCard
        model={model as unknown as ChatModel}
        calls={[
          { tool_call_id: 't1', name: 'execute', input: { command: 'ls -la' } },
          { tool_call_id: 't2', name: 'write_file', input: { path: 'a.py' } }
        ]}
        decided={{ t2: { decision: 'allow_once' } }}
      />
    );
    expect(container.textContent).toContain('ls -la');
    expect(container.textContent).not.toContain('a.py');
    await click(buttonWithText('Reject'));
    await click(
      Array.from(container.querySelectorAll('button')).find(
        b => b.textContent === 'Reject' && b.className.includes('jp-mod-warn')
      )
    );
    expect(model.decideApproval).toHaveBeenCalledWith(
      't1',
      'reject',
      undefined
    );
  });
});
