import { URLExt } from '@jupyterlab/coreutils';
import { ServerConnection } from '@jupyterlab/services';

/** Path of the control plane's REST API, relative to the server's base URL. */
export const API_PATH = 'coder-agents/api/v1';

/** The body of every error the control plane answers: `{"error": {"code", "message"}}`. */
export interface IErrorBody {
  error: { code: string; message: string };
}

/** A non-2xx answer from the API, carrying the server's error code and message. */
export class ResponseError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string
  ) {
    super(message);
    this.name = 'ResponseError';
  }
}

function isErrorBody(value: unknown): value is IErrorBody {
  const error = (value as IErrorBody | null)?.error;
  return (
    typeof error === 'object' &&
    error !== null &&
    typeof error.code === 'string' &&
    typeof error.message === 'string'
  );
}

/**
 * Call the control plane API (`{baseUrl}coder-agents/api/v1/{endpoint}`) and decode its JSON.
 *
 * Throws `ResponseError` for a non-2xx answer and `ServerConnection.NetworkError` when the
 * server cannot be reached.
 */
export async function requestAPI<T>(
  endpoint = '',
  init: RequestInit = {},
  settings: ServerConnection.ISettings = ServerConnection.makeSettings()
): Promise<T> {
  const url = URLExt.join(settings.baseUrl, API_PATH, endpoint);
  if (
    typeof init.body === 'string' &&
    !new Headers(init.headers).has('Content-Type')
  ) {
    init = {
      ...init,
      headers: { ...init.headers, 'Content-Type': 'application/json' }
    };
  }
  let response: Response;
  try {
    response = await ServerConnection.makeRequest(url, init, settings);
  } catch (error) {
    throw new ServerConnection.NetworkError(error as TypeError);
  }
  const text = await response.text();
  let data: unknown = null;
  if (text.length > 0) {
    try {
      data = JSON.parse(text);
    } catch {
      data = null;
    }
  }
  if (!response.ok) {
    if (isErrorBody(data)) {
      throw new ResponseError(
        response.status,
        data.error.code,
        data.error.message
      );
    }
    throw new ResponseError(
      response.status,
      'http_error',
      `${response.status} ${response.statusText || 'error'} for ${endpoint}`
    );
  }
  return data as T;
}
