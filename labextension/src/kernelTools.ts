/**
 * Client-side tools: the agent's calls that run in the user's live kernel of an open notebook
 * (`inspect_kernel`, `run_in_kernel`). The chat waits (`requires_action`, `awaiting.kind ===
 * 'client_tool'`) until this page posted each call's result. Every failure (notebook not
 * open, no kernel, an error in the code, a timeout) becomes a readable result for the model.
 */
import { INotebookTracker, NotebookPanel } from '@jupyterlab/notebook';
import { Kernel, KernelMessage } from '@jupyterlab/services';

import { IToolResultBody } from './api';
import { Awaiting, IClientToolCall } from './types';
import { ResponseError } from './request';

/** What a client-side tool call produced. */
export interface IClientToolResult {
  content: string;
  is_error: boolean;
}

/** `awaiting` of a chat that waits for client-side tools. */
export type IClientToolAwaiting = Extract<Awaiting, { kind: 'client_tool' }>;

/** The most text a result carries to the server (which bounds it again for the model). */
export const MAX_RESULT_CHARS = 200_000;
const DEFAULT_TIMEOUT_SECONDS = 30;
const MAX_TIMEOUT_SECONDS = 600;
/** How long to wait for a notebook's kernel session to be ready. */
const READY_MS = 10_000;
const MARKER = '__coder_agents__:';
const ESC = String.fromCharCode(27);
/** Terminal colour codes in tracebacks. */
const ANSI = new RegExp(`${ESC}\\[[0-9;?]*[ -/]*[@-~]`, 'g');

/**
 * Python that prints (after `MARKER`) a JSON summary of the named variables, or of the user's
 * public variables: name, type, a bounded repr, and shape / dtypes for numpy and pandas
 * objects. It defines one helper and deletes it again: the user's namespace is unchanged.
 */
const INSPECT_SOURCE = [
  'def __coder_agents_inspect(names):',
  '    import json, re, reprlib, types',
  '    ip = get_ipython()',
  '    ns, hidden = ip.user_ns, ip.user_ns_hidden',
  '    limit, width = 50, 200',
  '    r = reprlib.Repr()',
  '    r.maxstring = r.maxother = width',
  '    r.maxlist = r.maxtuple = r.maxset = r.maxfrozenset = r.maxdict = r.maxdeque = 20',
  '    r.maxlevel = 3',
  '    def kind(v):',
  '        t = type(v)',
  '        if t.__module__ == "builtins":',
  '            return t.__qualname__',
  '        return t.__module__ + "." + t.__qualname__',
  '    def describe(name, v):',
  '        out = {"name": name, "type": kind(v)}',
  '        try:',
  '            shape = getattr(v, "shape", None)',
  '            if isinstance(shape, tuple):',
  '                out["shape"] = [s if isinstance(s, int) else str(s) for s in shape]',
  '            lib = type(v).__module__.split(".")[0]',
  '            if lib == "pandas" and hasattr(v, "dtypes"):',
  '                dt = v.dtypes',
  '                if hasattr(dt, "items"):',
  '                    out["dtypes"] = {str(k): str(d) for k, d in list(dt.items())[:limit]}',
  '                else:',
  '                    out["dtype"] = str(dt)',
  '            elif lib == "numpy" and hasattr(v, "dtype"):',
  '                out["dtype"] = str(v.dtype)',
  '            elif isinstance(v, (str, bytes, list, tuple, dict, set, frozenset)):',
  '                out["len"] = len(v)',
  '            text = r.repr(v)',
  '        except Exception as e:',
  '            text = "<repr failed: %s: %s>" % (type(e).__name__, e)',
  '        out["repr"] = text if len(text) <= width else text[: width - 3] + "..."',
  '        return out',
  '    result = {"variables": [], "missing": []}',
  '    if names is None:',
  '        public = [',
  '            n for n, v in ns.items()',
  '            if not n.startswith("_") and n not in hidden',
  '            and not isinstance(v, types.ModuleType)',
  '        ]',
  '        result["total"] = len(public)',
  '        names = public',
  '    for name in names[:limit]:',
  '        parts = name.split(".")',
  '        if not all(re.fullmatch(r"[A-Za-z_]\\w*", p) for p in parts):',
  '            reason = "not a variable name or dotted attribute; use run_in_kernel"',
  '            result["missing"].append({"name": name, "reason": reason})',
  '            continue',
  '        if parts[0] not in ns:',
  '            result["missing"].append({"name": name, "reason": "not defined in the kernel"})',
  '            continue',
  '        v = ns[parts[0]]',
  '        try:',
  '            for p in parts[1:]:',
  '                v = getattr(v, p)',
  '        except Exception as e:',
  '            reason = "%s: %s" % (type(e).__name__, e)',
  '            result["missing"].append({"name": name, "reason": reason})',
  '            continue',
  '        result["variables"].append(describe(name, v))',
  '    if len(names) > limit:',
  '        result["not_shown"] = len(names) - limit',
  `    print(${pyString(MARKER)} + json.dumps(result, default=str))`,
  'try:',
  '    __coder_agents_inspect(NAMES)',
  'finally:',
  '    del __coder_agents_inspect'
].join('\n');

/** A Python string literal of `text` (a JSON string literal is one). */
function pyString(text: string): string {
  return JSON.stringify(text);
}

function inspectCode(names: unknown): string {
  const list = Array.isArray(names)
    ? `__import__("json").loads(${pyString(JSON.stringify(names.map(String)))})`
    : 'None';
  return INSPECT_SOURCE.replace('NAMES', () => list);
}

/** Keep the head and tail of a long text, saying how much was left out. */
export function bound(text: string, limit = MAX_RESULT_CHARS): string {
  if (text.length <= limit) {
    return text;
  }
  const head = Math.floor((limit * 2) / 3);
  const tail = limit - head;
  const omitted = text.length - head - tail;
  return `${text.slice(0, head)}\n[... ${omitted} characters of ${text.length} left out ...]\n${text.slice(text.length - tail)}`;
}

function stripAnsi(text: string): string {
  return text.replace(ANSI, '');
}

function errorResult(content: string): IClientToolResult {
  return { content, is_error: true };
}

/** What one execution printed, returned and raised. */
interface IExecution {
  output: string;
  error: string | null;
  timedOut: boolean;
}

/**
 * Run `code` in `kernel` without touching its history, collecting stream output, the
 * text of results and displays, and the error (traceback without colours).
 */
async function execute(
  kernel: Kernel.IKernelConnection,
  code: string,
  timeoutSeconds: number,
  silent: boolean
): Promise<IExecution> {
  const parts: string[] = [];
  const seen: { error: string | null } = { error: null };
  const future = kernel.requestExecute(
    {
      code,
      silent,
      store_history: false,
      allow_stdin: false,
      stop_on_error: true
    },
    true
  );
  future.onIOPub = msg => {
    if (KernelMessage.isStreamMsg(msg)) {
      parts.push(msg.content.text);
    } else if (
      KernelMessage.isExecuteResultMsg(msg) ||
      KernelMessage.isDisplayDataMsg(msg)
    ) {
      const data = msg.content.data;
      const plain = data['text/plain'];
      if (typeof plain === 'string') {
        parts.push(plain.endsWith('\n') ? plain : `${plain}\n`);
      } else {
        const kinds = Object.keys(data).join(', ') || 'empty';
        parts.push(`[display output of type ${kinds}, not shown]\n`);
      }
    } else if (KernelMessage.isErrorMsg(msg)) {
      const { ename, evalue, traceback } = msg.content;
      const trace = stripAnsi((traceback ?? []).join('\n'));
      seen.error = trace.trim() ? trace : `${ename}: ${evalue}`;
    }
  };
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<'timeout'>(resolve => {
    timer = setTimeout(() => resolve('timeout'), timeoutSeconds * 1000);
  });
  // Never rejects: a kernel that died or restarted mid-call is an outcome like any other.
  const finished = future.done.then(
    () => ({ failed: null }),
    (reason: unknown) => ({
      failed: reason instanceof Error ? reason.message : String(reason)
    })
  );
  try {
    const outcome = await Promise.race([finished, timeout]);
    const output = stripAnsi(parts.join(''));
    if (outcome === 'timeout') {
      return { output, error: seen.error, timedOut: true };
    }
    const stopped =
      outcome.failed === null
        ? null
        : `The kernel stopped before the code finished: ${outcome.failed}`;
    return { output, error: seen.error ?? stopped, timedOut: false };
  } finally {
    clearTimeout(timer);
    if (!future.isDisposed) {
      future.dispose(); // stop listening; code that outlived the timeout keeps running
    }
  }
}

async function findKernel(
  notebooks: INotebookTracker,
  path: string
): Promise<Kernel.IKernelConnection | string> {
  const panel: NotebookPanel | undefined = notebooks.find(
    p => p.context.path === path
  );
  if (panel === undefined) {
    return (
      `The notebook ${path} is not open in the user's JupyterLab, so its kernel cannot be ` +
      'used. Ask the user to open it (and run it), or work in the workspace instead.'
    );
  }
  const ready = await Promise.race([
    panel.sessionContext.ready.then(() => true),
    new Promise<boolean>(resolve => setTimeout(() => resolve(false), READY_MS))
  ]);
  const kernel = panel.sessionContext.session?.kernel;
  if (!ready || !kernel || kernel.status === 'dead') {
    return (
      `The notebook ${path} is open but has no running kernel. Ask the user to start or ` +
      'restart its kernel (and run the cells you need).'
    );
  }
  return kernel;
}

async function language(kernel: Kernel.IKernelConnection): Promise<string> {
  try {
    return (await kernel.info).language_info.name.toLowerCase();
  } catch {
    return 'python';
  }
}

function timedOutNote(seconds: number, busy: boolean): string {
  const why = busy
    ? ' (the kernel was busy with other work when the call started)'
    : '';
  return (
    `[Timed out after ${seconds} s${why}. The code may still be running in the user's ` +
    'kernel; the user can interrupt it.]'
  );
}

async function inspectKernel(
  kernel: Kernel.IKernelConnection,
  input: any,
  path: string
): Promise<IClientToolResult> {
  const lang = await language(kernel);
  if (lang !== 'python') {
    return errorResult(
      `inspect_kernel supports Python kernels; the kernel of ${path} runs ${lang}. ` +
        `Use run_in_kernel with ${lang} code instead.`
    );
  }
  const busy = kernel.status === 'busy';
  const run = await execute(
    kernel,
    inspectCode(input?.names),
    DEFAULT_TIMEOUT_SECONDS,
    true
  );
  if (run.error !== null) {
    return errorResult(bound(`Inspecting the kernel failed:\n${run.error}`));
  }
  if (run.timedOut) {
    return errorResult(timedOutNote(DEFAULT_TIMEOUT_SECONDS, busy));
  }
  const line = run.output
    .split('\n')
    .reverse()
    .find(l => l.startsWith(MARKER));
  if (line === undefined) {
    return errorResult(
      bound(`The kernel did not answer the inspection.\n${run.output}`)
    );
  }
  try {
    const summary = JSON.parse(line.slice(MARKER.length));
    return {
      content: bound(JSON.stringify(summary)),
      is_error: false
    };
  } catch {
    return errorResult(bound(`The kernel's answer was not JSON:\n${line}`));
  }
}

async function runInKernel(
  kernel: Kernel.IKernelConnection,
  input: any
): Promise<IClientToolResult> {
  const code = typeof input?.code === 'string' ? input.code : '';
  if (!code.trim()) {
    return errorResult('run_in_kernel needs code to run.');
  }
  const requested = Number(input?.timeout_seconds);
  const seconds =
    Number.isFinite(requested) && requested > 0
      ? Math.min(requested, MAX_TIMEOUT_SECONDS)
      : DEFAULT_TIMEOUT_SECONDS;
  const busy = kernel.status === 'busy';
  const run = await execute(kernel, code, seconds, false);
  const sections: string[] = [];
  if (run.output) {
    sections.push(run.output.replace(/\s+$/, ''));
  }
  if (run.error !== null) {
    sections.push(run.error.replace(/\s+$/, ''));
  }
  if (run.timedOut) {
    sections.push(timedOutNote(seconds, busy));
  }
  const content = sections.join('\n\n') || '(no output)';
  return {
    content: bound(content),
    is_error: run.error !== null || run.timedOut
  };
}

/**
 * Run one client-side tool call in the live kernel of `call.notebook` (found among the open
 * notebooks by `context.path`). Never throws: every failure is a readable error result.
 */
export async function executeClientTool(
  notebooks: INotebookTracker,
  call: IClientToolCall
): Promise<IClientToolResult> {
  try {
    if (call.name !== 'inspect_kernel' && call.name !== 'run_in_kernel') {
      return errorResult(`This page cannot run the tool ${call.name}.`);
    }
    const kernel = await findKernel(notebooks, call.notebook);
    if (typeof kernel === 'string') {
      return errorResult(kernel);
    }
    return call.name === 'inspect_kernel'
      ? await inspectKernel(kernel, call.input, call.notebook)
      : await runInKernel(kernel, call.input);
  } catch (reason) {
    const why = reason instanceof Error ? reason.message : String(reason);
    return errorResult(`The user's page failed to run ${call.name}: ${why}`);
  }
}

/** Calls this page has taken on (`chatId:tool_call_id`): each runs at most once per page. */
const started = new Set<string>();

function isClientToolAwaiting(value: any): value is IClientToolAwaiting {
  return (
    typeof value === 'object' &&
    value !== null &&
    value.kind === 'client_tool' &&
    Array.isArray(value.calls)
  );
}

async function deliver(
  post: (body: IToolResultBody) => Promise<unknown>,
  body: IToolResultBody
): Promise<void> {
  for (let attempt = 1; ; attempt++) {
    try {
      await post(body);
      return;
    } catch (reason) {
      // The server refused it (the turn was stopped, or another page answered): done.
      if (reason instanceof ResponseError || attempt >= 3) {
        console.warn('coder-agents: a tool result was not delivered', reason);
        return;
      }
      await new Promise(resolve => setTimeout(resolve, 1000 * attempt));
    }
  }
}

/**
 * Run, in order, every call of a chat's `awaiting` (when it waits for client-side tools)
 * that has no result yet and that this page has not taken on, and post each result with
 * `post` (e.g. `body => postToolResult(chatId, body)`). Safe to call on every chat update.
 */
export async function handleClientTools(
  chatId: string,
  awaiting: any,
  notebooks: INotebookTracker,
  post: (body: IToolResultBody) => Promise<unknown>
): Promise<void> {
  if (!isClientToolAwaiting(awaiting)) {
    return;
  }
  const results = awaiting.results ?? {};
  const calls = awaiting.calls.filter(
    call =>
      !(call.tool_call_id in results) &&
      !started.has(`${chatId}:${call.tool_call_id}`)
  );
  for (const call of calls) {
    started.add(`${chatId}:${call.tool_call_id}`);
  }
  for (const call of calls) {
    const result = await executeClientTool(notebooks, call);
    await deliver(post, { tool_call_id: call.tool_call_id, ...result });
  }
}
