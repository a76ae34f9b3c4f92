/** The control plane's REST API, one function per verb (see API.md). */
import { URLExt } from '@jupyterlab/coreutils';
import { ServerConnection } from '@jupyterlab/services';

import { API_PATH, requestAPI, ResponseError } from './request';
import {
  Effort,
  IAttachment,
  IChat,
  IChatDetail,
  IFileDiff,
  IMessage,
  IModel,
  IProvidersReply,
  IQueued,
  IWorkspace
} from './types';

export const MAX_IMAGE_BYTES = 10 * 1024 * 1024;
export const IMAGE_TYPES = [
  'image/png',
  'image/jpeg',
  'image/gif',
  'image/webp'
];

function query(params: Record<string, string | number | undefined>): string {
  const parts = Object.entries(params)
    .filter(([, v]) => v !== undefined)
    .map(([k, v]) => `${k}=${encodeURIComponent(String(v))}`);
  return parts.length ? `?${parts.join('&')}` : '';
}

export const listModels = (): Promise<IModel[]> => requestAPI('models');

export const getProviders = (): Promise<IProvidersReply> =>
  requestAPI('providers');

export const listChats = (
  params: { status?: string; parent_id?: string; limit?: number } = {}
): Promise<IChat[]> => requestAPI(`chats${query(params)}`);

export interface ICreateChat {
  prompt: string;
  model?: string;
  workspace_id?: string;
  plan_mode?: boolean;
  reasoning_effort?: Effort;
  attachments?: string[];
}

export const createChat = (body: ICreateChat): Promise<IChatDetail> =>
  requestAPI('chats', { method: 'POST', body: JSON.stringify(body) });

export const archiveChat = (id: string): Promise<void> =>
  requestAPI(`chats/${id}`, { method: 'DELETE' });

export interface IUpdateChat {
  title?: string;
  model?: string;
  workspace_id?: string;
  plan_mode?: boolean;
  reasoning_effort?: Effort;
  tool_policy?: Record<string, 'auto' | 'ask' | 'deny'>;
  kernel?: { notebook: string } | null;
}

/** The result of a tool call the page ran (`POST chats/{id}/tool-results`). */
export interface IToolResultBody {
  tool_call_id: string;
  content: string;
  is_error: boolean;
}

export interface ISendMessage {
  content: string;
  attachments?: string[];
  reasoning_effort?: Effort;
  plan_mode?: boolean;
}

/** How the API is reached: straight over HTTP, or through a kernel (the chat widget). */
export type Requester = <T>(endpoint: string, init?: RequestInit) => Promise<T>;

/** The verbs of one chat's views, over any `Requester`. */
export function chatApi(request: Requester) {
  const post = <T>(endpoint: string, body: unknown = {}): Promise<T> =>
    request<T>(endpoint, { method: 'POST', body: JSON.stringify(body) });
  return {
    getChat: (id: string): Promise<IChatDetail> => request(`chats/${id}`),
    updateChat: (id: string, body: IUpdateChat): Promise<IChatDetail> =>
      request(`chats/${id}`, { method: 'PATCH', body: JSON.stringify(body) }),
    listMessages: (
      id: string,
      params: { after?: number; before?: number; limit?: number }
    ): Promise<IMessage[]> => request(`chats/${id}/messages${query(params)}`),
    sendMessage: (id: string, body: ISendMessage): Promise<unknown> =>
      post(`chats/${id}/messages`, body),
    listQueue: (id: string): Promise<IQueued[]> => request(`chats/${id}/queue`),
    editQueued: (
      id: string,
      queueId: number,
      content: string
    ): Promise<IQueued> =>
      request(`chats/${id}/queue/${queueId}`, {
        method: 'PATCH',
        body: JSON.stringify({ content })
      }),
    deleteQueued: (id: string, queueId: number): Promise<void> =>
      request(`chats/${id}/queue/${queueId}`, { method: 'DELETE' }),
    sendQueuedNow: (id: string, queueId: number): Promise<IChatDetail> =>
      post(`chats/${id}/queue/${queueId}/send-now`),
    stopChat: (id: string): Promise<IChatDetail> => post(`chats/${id}/stop`),
    retryChat: (id: string): Promise<IChatDetail> => post(`chats/${id}/retry`),
    forkChat: (id: string, messageId: number): Promise<IChatDetail> =>
      post(`chats/${id}/fork`, { message_id: messageId }),
    decidePlan: (
      id: string,
      decision: 'approve' | 'revise',
      feedback?: string
    ): Promise<unknown> => post(`chats/${id}/plan`, { decision, feedback }),
    answerQuestions: (
      id: string,
      questionId: string,
      answers: string[]
    ): Promise<unknown> =>
      post(`chats/${id}/answers`, { question_id: questionId, answers }),
    decideApproval: (
      id: string,
      toolCallId: string,
      decision: 'allow_once' | 'allow_chat' | 'reject',
      reason?: string
    ): Promise<IChatDetail> =>
      post(`chats/${id}/approvals`, {
        tool_call_id: toolCallId,
        decision,
        reason
      }),
    getDiff: (id: string): Promise<{ files: IFileDiff[] }> =>
      request(`chats/${id}/diff`),
    revertFiles: (
      id: string,
      paths: string[],
      workspaceId?: string | null
    ): Promise<{ reverted: string[] }> =>
      post(`chats/${id}/revert`, {
        paths,
        ...(workspaceId ? { workspace_id: workspaceId } : {})
      }),
    postToolResult: (id: string, body: IToolResultBody): Promise<IChatDetail> =>
      post(`chats/${id}/tool-results`, body),
    uploadImage: (file: File): Promise<IAttachment> => {
      const form = new FormData();
      form.append('file', file, file.name);
      return request<IAttachment>('attachments', {
        method: 'POST',
        body: form
      });
    }
  };
}

export type ChatApi = ReturnType<typeof chatApi>;

/** The chat verbs over HTTP, as the panel uses them. */
export const restApi: ChatApi = chatApi(
  <T>(endpoint: string, init?: RequestInit) => requestAPI<T>(endpoint, init)
);

export const {
  getChat,
  updateChat,
  listMessages,
  sendMessage,
  listQueue,
  editQueued,
  deleteQueued,
  sendQueuedNow,
  stopChat,
  retryChat,
  forkChat,
  decidePlan,
  answerQuestions,
  decideApproval,
  getDiff,
  revertFiles,
  uploadImage
} = restApi;

export const listWorkspaces = (): Promise<IWorkspace[]> =>
  requestAPI('workspaces');

/** Check an image before it is uploaded: the server checks again, by content. */
export function imageProblem(file: File): string | null {
  if (!IMAGE_TYPES.includes(file.type)) {
    return `${file.name} is not a PNG, JPEG, GIF or WebP image.`;
  }
  if (file.size > MAX_IMAGE_BYTES) {
    const mb = (file.size / 1024 / 1024).toFixed(1);
    return `${file.name} is ${mb} MB; images may be at most 10 MB.`;
  }
  return null;
}

/** Where an attachment can be downloaded or shown (same-origin, cookie-authenticated). */
export function attachmentUrl(
  id: string,
  settings: ServerConnection.ISettings = ServerConnection.makeSettings()
): string {
  return URLExt.join(settings.baseUrl, API_PATH, 'attachments', id);
}

export { ResponseError };
