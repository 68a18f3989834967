import { URLExt } from '@jupyterlab/coreutils';
import { ServerConnection } from '@jupyterlab/services';

/** The server routes live under `{base_url}codeinterp/`. */
export const API_NAMESPACE = 'codeinterp';

/** An HTTP error from a codeinterp route, with the server's message when it sent one. */
export class APIError extends Error {
  constructor(
    message: string,
    readonly status: number
  ) {
    super(message);
  }
}

/**
 * Call a codeinterp route through jupyter_server's authenticated connection
 * (token, XSRF and base URL handled by ServerConnection).
 */
export async function requestAPI<T>(
  endPoint = '',
  init: RequestInit = {},
  settings: ServerConnection.ISettings = ServerConnection.makeSettings()
): Promise<T> {
  const requestUrl = URLExt.join(settings.baseUrl, API_NAMESPACE, endPoint);
  let response: Response;
  try {
    response = await ServerConnection.makeRequest(requestUrl, init, settings);
  } catch (error) {
    throw new ServerConnection.NetworkError(error as TypeError);
  }
  const text = await response.text();
  let data: any = text;
  if (text.length > 0) {
    try {
      data = JSON.parse(text);
    } catch {
      // not JSON: keep the text for the error message
    }
  }
  if (!response.ok) {
    const message =
      (data && typeof data === 'object' && (data.message || data.reason)) ||
      (typeof data === 'string' && data) ||
      response.statusText;
    throw new APIError(String(message), response.status);
  }
  return data as T;
}

/** The WebSocket URL of the chat socket, with the token as JupyterLab's own sockets add it. */
export function chatSocketUrl(
  settings: ServerConnection.ISettings = ServerConnection.makeSettings()
): string {
  let url = URLExt.join(settings.wsUrl, API_NAMESPACE, 'chat');
  const token = settings.token;
  if (settings.appendToken && token !== '') {
    url = url + `?token=${encodeURIComponent(token)}`;
  }
  return url;
}
