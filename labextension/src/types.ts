/**
 * The shapes of the control plane's REST API and live events (see API.md and openapi.json).
 * Only what the panel reads is typed; unknown fields pass through untouched.
 */

export type ChatStatus =
  | 'pending'
  | 'running'
  | 'waiting'
  | 'requires_action'
  | 'paused'
  | 'error'
  | 'completed';

export type Effort =
  'none' | 'minimal' | 'low' | 'medium' | 'high' | 'xhigh' | 'max';

export interface IUsage {
  input_tokens?: number;
  output_tokens?: number;
  cache_read_tokens?: number;
  cache_write_tokens?: number;
  reasoning_tokens?: number;
  cost_micros?: number;
}

export interface IModel {
  id: string;
  provider: string;
  display_name: string;
  context_window: number;
  supports_images: boolean;
  default: boolean;
  reasoning_efforts: Effort[];
  default_reasoning_effort: Effort | null;
  prices: Record<string, number> | null;
  web_search: boolean;
}

export interface IProvider {
  name: string;
  type: string;
  available: boolean;
  reason?: string | null;
}

export interface IProvidersReply {
  providers: IProvider[];
  /** A set-up hint for the admin when no model can be used, else null. */
  hint: string | null;
}

export interface IChatError {
  kind?: string;
  message: string;
  provider?: string;
  retryable?: boolean;
}

/** What a chat waits for from its user. */
export type Awaiting =
  | { kind: 'plan'; tool_call_id: string; path: string }
  | { kind: 'question'; question_id: string; questions: IQuestion[] }
  | {
      kind: 'approval';
      calls: IApprovalCall[];
      decisions: Record<string, { decision: string; reason?: string }>;
    }
  | {
      /** Tool calls the page runs (the user's live kernel); see kernelTools.ts. */
      kind: 'client_tool';
      calls: IClientToolCall[];
      results: Record<string, { content: string; is_error: boolean }>;
    };

/** A call the chat waits for the page to run, in the kernel of `notebook`. */
export interface IClientToolCall {
  tool_call_id: string;
  name: string;
  input: Record<string, any>;
  notebook: string;
}

export interface IChat {
  id: string;
  title: string;
  status: ChatStatus;
  model: string;
  owner: string;
  parent_id: string | null;
  root_id: string | null;
  agent_type: 'general' | 'explore' | null;
  forked_from: string | null;
  workspace_id: string | null;
  plan_mode: boolean;
  reasoning_effort: Effort | null;
  awaiting: Awaiting | null;
  tool_policy: Record<string, string> | null;
  /** The notebook whose live kernel the user lets the agent use, if any. */
  kernel: { notebook: string } | null;
  archived: boolean;
  error: IChatError | null;
  usage: IUsage;
  message_count: number;
  created_at: string;
  updated_at: string;
}

export interface IChatDetail extends IChat {
  children: IChat[];
  tree_usage: IUsage;
}

export interface ITextBlock {
  type: 'text';
  text: string;
}
export interface IImageBlock {
  type: 'image';
  attachment_id: string;
  media_type?: string | null;
}
export interface IReasoningBlock {
  type: 'reasoning';
  text: string;
  duration_ms?: number | null;
  redacted_data?: string | null;
}
export interface IToolCallBlock {
  type: 'tool_call';
  id: string;
  name: string;
  input: Record<string, any>;
}
export interface IToolResultBlock {
  type: 'tool_result';
  tool_call_id: string;
  content: string;
  is_error: boolean;
  display?: Record<string, any> | null;
}
export interface ISource {
  url: string;
  title?: string | null;
}
export interface ISourcesBlock {
  type: 'sources';
  query?: string | null;
  sources: ISource[];
}
export type ContentBlock =
  | ITextBlock
  | IImageBlock
  | IReasoningBlock
  | IToolCallBlock
  | IToolResultBlock
  | ISourcesBlock;

export interface IMessage {
  id: number;
  seq: number;
  role: 'user' | 'assistant' | 'tool';
  content: ContentBlock[];
  usage: IUsage | null;
  model: string | null;
  is_summary: boolean;
  created_at: string;
}

export interface IQueued {
  id: number;
  content: ContentBlock[];
  created_at: string;
}

export interface IAttachment {
  id: string;
  name: string;
  media_type: string;
  size: number;
}

export interface IWorkspace {
  id: string;
  name: string;
  kind: string;
  path: string;
  status: 'provisioning' | 'ready' | 'failed' | 'stopped' | 'deleted';
  template: string | null;
  parameters: Record<string, unknown> | null;
  build_log: string;
  created_at: string;
}

export interface IFileDiff {
  workspace_id: string | null;
  path: string;
  status: 'added' | 'modified' | 'deleted';
  diff: string;
  additions: number;
  deletions: number;
  binary: boolean;
  before_size?: number | null;
  after_size?: number | null;
}

export interface IQuestionOption {
  label: string;
  description?: string;
}
export interface IQuestion {
  header?: string;
  question: string;
  options: IQuestionOption[];
}
export interface IApprovalCall {
  tool_call_id: string;
  name: string;
  input: Record<string, any>;
}

// ----- live events (WebSocket frames) -----

interface IEventBase {
  seq: number;
  chat_id: string;
}

export type ChatEvent = IEventBase &
  (
    | { type: 'status'; status: ChatStatus; error?: IChatError | null }
    | { type: 'message_start'; role: string }
    | { type: 'text_delta'; text: string }
    | { type: 'reasoning_delta'; text: string }
    | {
        type: 'tool_call';
        id: string;
        name: string;
        input?: Record<string, any> | null;
        state: 'started' | 'running';
      }
    | { type: 'tool_progress'; tool_call_id: string; text: string }
    | {
        type: 'tool_result';
        tool_call_id: string;
        content: string;
        is_error: boolean;
        display?: Record<string, any> | null;
      }
    | { type: 'message_end'; message: IMessage }
    | { type: 'queue'; queue: IQueued[] }
    | {
        type: 'usage';
        usage: IUsage;
        context_tokens: number;
        context_window: number;
      }
    | { type: 'error'; error: IChatError }
    | {
        type: 'retry';
        attempt: number;
        delay_seconds: number;
        reason: string;
      }
    | { type: 'plan'; tool_call_id: string; plan: string; path: string }
    | { type: 'question'; question_id: string; questions: IQuestion[] }
    | {
        type: 'approval';
        tool_call_id: string;
        name: string;
        input: Record<string, any>;
      }
    | { type: 'notice'; message: string }
    | ({ type: 'client_tool' } & IClientToolCall)
    | { type: 'child'; child_id: string; status: ChatStatus }
  );

export type EventOfType<T extends ChatEvent['type']> = Extract<
  ChatEvent,
  { type: T }
>;
