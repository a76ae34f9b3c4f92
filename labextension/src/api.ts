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

function post<T>(endpoint: string, body: unknown = {}): Promise<T> {
  return requestAPI<T>(endpoint, {
    method: 'POST',
    body: JSON.stringify(body)
  });
}

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
  post('chats', body);

export const getChat = (id: string): Promise<IChatDetail> =>
  requestAPI(`chats/${id}`);

export interface IUpdateChat {
  title?: string;
  model?: string;
  workspace_id?: string;
  plan_mode?: boolean;
  reasoning_effort?: Effort;
  tool_policy?: Record<string, 'auto' | 'ask' | 'deny'>;
}

export const updateChat = (
  id: string,
  body: IUpdateChat
): Promise<IChatDetail> =>
  requestAPI(`chats/${id}`, { method: 'PATCH', body: JSON.stringify(body) });

export const archiveChat = (id: string): Promise<void> =>
  requestAPI(`chats/${id}`, { method: 'DELETE' });

export const listMessages = (
  id: string,
  params: { after?: number; before?: number; limit?: number }
): Promise<IMessage[]> => requestAPI(`chats/${id}/messages${query(params)}`);

export interface ISendMessage {
  content: string;
  attachments?: string[];
  reasoning_effort?: Effort;
  plan_mode?: boolean;
}

export const sendMessage = (id: string, body: ISendMessage): Promise<unknown> =>
  post(`chats/${id}/messages`, body);

export const listQueue = (id: string): Promise<IQueued[]> =>
  requestAPI(`chats/${id}/queue`);

export const editQueued = (
  id: string,
  queueId: number,
  content: string
): Promise<IQueued> =>
  requestAPI(`chats/${id}/queue/${queueId}`, {
    method: 'PATCH',
    body: JSON.stringify({ content })
  });

export const deleteQueued = (id: string, queueId: number): Promise<void> =>
  requestAPI(`chats/${id}/queue/${queueId}`, { method: 'DELETE' });

export const sendQueuedNow = (
  id: string,
  queueId: number
): Promise<IChatDetail> => post(`chats/${id}/queue/${queueId}/send-now`);

export const stopChat = (id: string): Promise<IChatDetail> =>
  post(`chats/${id}/stop`);

export const retryChat = (id: string): Promise<IChatDetail> =>
  post(`chats/${id}/retry`);

export const forkChat = (id: string, messageId: number): Promise<IChatDetail> =>
  post(`chats/${id}/fork`, { message_id: messageId });

export const decidePlan = (
  id: string,
  decision: 'approve' | 'revise',
  feedback?: string
): Promise<unknown> => post(`chats/${id}/plan`, { decision, feedback });

export const answerQuestions = (
  id: string,
  questionId: string,
  answers: string[]
): Promise<unknown> =>
  post(`chats/${id}/answers`, { question_id: questionId, answers });

export const decideApproval = (
  id: string,
  toolCallId: string,
  decision: 'allow_once' | 'allow_chat' | 'reject',
  reason?: string
): Promise<IChatDetail> =>
  post(`chats/${id}/approvals`, {
    tool_call_id: toolCallId,
    decision,
    reason
  });

export const getDiff = (id: string): Promise<{ files: IFileDiff[] }> =>
  requestAPI(`chats/${id}/diff`);

export const revertFiles = (
  id: string,
  paths: string[],
  workspaceId?: string | null
): Promise<{ reverted: string[] }> =>
  post(`chats/${id}/revert`, {
    paths,
    ...(workspaceId ? { workspace_id: workspaceId } : {})
  });

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

export async function uploadImage(
  file: File,
  settings: ServerConnection.ISettings = ServerConnection.makeSettings()
): Promise<IAttachment> {
  const form = new FormData();
  form.append('file', file, file.name);
  return requestAPI<IAttachment>(
    'attachments',
    { method: 'POST', body: form },
    settings
  );
}

/** Where an attachment can be downloaded or shown (same-origin, cookie-authenticated). */
export function attachmentUrl(
  id: string,
  settings: ServerConnection.ISettings = ServerConnection.makeSettings()
): string {
  return URLExt.join(settings.baseUrl, API_PATH, 'attachments', id);
}

export { ResponseError };
