/**
 * ChatSocket: the browser end of `WS codeinterp/chat`.
 *
 * - reconnects with exponential backoff (and jitter) after the socket drops;
 * - queues outgoing messages while disconnected and flushes them in order;
 * - gives every request an id and resolves it with the first message that
 *   echoes that id as `reply_to` (or rejects on an `error` reply / timeout);
 * - dispatches incoming messages to typed handlers.
 *
 * The WebSocket constructor and URL are injected so the class is testable
 * against a mock socket (see __tests__/socket.spec.ts).
 */
import { IDisposable } from '@lumino/disposable';
import { ISignal, Signal } from '@lumino/signaling';

import {
  ClientMessage,
  ErrorMsg,
  isServerMessage,
  ServerMessage,
  ServerMessageOf,
  ServerMessageType
} from './protocol';

export type ConnectionStatus = 'connecting' | 'open' | 'closed';

/** The subset of the WebSocket API the chat socket uses. */
export interface IWebSocketLike {
  readyState: number;
  onopen: ((ev: any) => any) | null;
  onclose: ((ev: any) => any) | null;
  onerror: ((ev: any) => any) | null;
  onmessage: ((ev: { data: any }) => any) | null;
  send(data: string): void;
  close(code?: number, reason?: string): void;
}

export type WebSocketFactory = (url: string) => IWebSocketLike;

export interface IChatSocketOptions {
  /** The socket URL, computed at each (re)connection (the token may change). */
  url: () => string;
  /** Creates the socket; defaults to the browser's WebSocket. */
  createSocket?: WebSocketFactory;
  /** First reconnection delay in ms (doubles after each failure). */
  minDelay?: number;
  /** Longest reconnection delay in ms. */
  maxDelay?: number;
  /** Request timeout in ms for `request()` (0: none). */
  requestTimeout?: number;
  /** Random source, for deterministic tests. */
  random?: () => number;
}

/** An `error` message sent in reply to a request. */
export class ChatRequestError extends Error {
  constructor(readonly reply: ErrorMsg) {
    super(reply.message);
  }
}

const OPEN = 1;

type Handler<T extends ServerMessageType> = (msg: ServerMessageOf<T>) => void;

interface IPending {
  resolve: (msg: ServerMessage) => void;
  reject: (reason: unknown) => void;
  timer?: ReturnType<typeof setTimeout>;
}

let idCounter = 0;

/** A request id unique in this page. */
export function newRequestId(prefix = 'r'): string {
  idCounter += 1;
  const rnd = Math.random().toString(36).slice(2, 8);
  return `${prefix}${Date.now().toString(36)}${idCounter}${rnd}`;
}

export class ChatSocket implements IDisposable {
  constructor(options: IChatSocketOptions) {
    this._url = options.url;
    this._createSocket =
      options.createSocket ??
      ((url: string) => new WebSocket(url) as unknown as IWebSocketLike);
    this._minDelay = options.minDelay ?? 500;
    this._maxDelay = options.maxDelay ?? 15000;
    this._requestTimeout = options.requestTimeout ?? 30000;
    this._random = options.random ?? Math.random;
  }

  /** Current connection state. */
  get status(): ConnectionStatus {
    return this._status;
  }

  /** Emitted when the connection state changes. */
  get statusChanged(): ISignal<this, ConnectionStatus> {
    return this._statusChanged;
  }

  /** Emitted for every valid server message (after typed handlers ran). */
  get messageReceived(): ISignal<this, ServerMessage> {
    return this._messageReceived;
  }

  /** Messages waiting for the socket to open. */
  get queued(): number {
    return this._queue.length;
  }

  /** How many times the socket has opened (1 after the first connection). */
  get connectionCount(): number {
    return this._connections;
  }

  get isDisposed(): boolean {
    return this._disposed;
  }

  /** Open the socket (idempotent). */
  connect(): void {
    if (this._disposed || this._socket) {
      return;
    }
    if (this._timer) {
      clearTimeout(this._timer);
      this._timer = undefined;
    }
    this._setStatus('connecting');
    let socket: IWebSocketLike;
    try {
      socket = this._createSocket(this._url());
    } catch (error) {
      console.warn('codeinterp: could not create the chat socket', error);
      this._scheduleReconnect();
      return;
    }
    this._socket = socket;
    socket.onopen = () => {
      if (this._socket !== socket) {
        return;
      }
      this._failures = 0;
      this._connections += 1;
      this._setStatus('open');
      this._flush();
    };
    socket.onmessage = ev => {
      if (this._socket === socket) {
        this._onMessage(ev.data);
      }
    };
    socket.onerror = () => {
      // onclose follows; nothing else to do
    };
    socket.onclose = () => {
      if (this._socket !== socket) {
        return;
      }
      this._socket = null;
      this._rejectInFlight();
      this._setStatus('closed');
      this._scheduleReconnect();
    };
  }

  /** Reconnect now (e.g. after the user clicked "Reconnect"). */
  reconnect(): void {
    this._failures = 0;
    if (this._socket) {
      const s = this._socket;
      this._socket = null;
      s.onclose = null;
      s.close();
      this._setStatus('closed');
    }
    this.connect();
  }

  /** Send a message now, or queue it until the socket is open. */
  send(msg: ClientMessage): void {
    if (this._disposed) {
      return;
    }
    if (
      this._socket &&
      this._socket.readyState === OPEN &&
      this._status === 'open'
    ) {
      this._socket.send(JSON.stringify(msg));
    } else {
      this._queue.push(msg);
      this.connect();
    }
  }

  /**
   * Send a message with an id and wait for the first reply echoing it.
   * An `error` reply rejects with ChatRequestError.
   */
  request<T extends ServerMessage = ServerMessage>(
    msg: ClientMessage & { id?: string | null },
    options: { timeout?: number } = {}
  ): Promise<T> {
    const id = msg.id || newRequestId();
    const withId = { ...msg, id } as ClientMessage;
    const timeout = options.timeout ?? this._requestTimeout;
    const promise = new Promise<T>((resolve, reject) => {
      const pending: IPending = {
        resolve: resolve as (m: ServerMessage) => void,
        reject
      };
      if (timeout > 0) {
        pending.timer = setTimeout(() => {
          this._pending.delete(id);
          reject(
            new Error(`no answer from the server within ${timeout / 1000}s`)
          );
        }, timeout);
      }
      this._pending.set(id, pending);
    });
    this.send(withId);
    return promise;
  }

  /** Register a handler for one message type; dispose the result to remove it. */
  on<T extends ServerMessageType>(type: T, handler: Handler<T>): IDisposable {
    let set = this._handlers.get(type);
    if (!set) {
      set = new Set();
      this._handlers.set(type, set);
    }
    set.add(handler as Handler<any>);
    let disposed = false;
    return {
      get isDisposed() {
        return disposed;
      },
      dispose: () => {
        disposed = true;
        set!.delete(handler as Handler<any>);
      }
    };
  }

  dispose(): void {
    if (this._disposed) {
      return;
    }
    this._disposed = true;
    if (this._timer) {
      clearTimeout(this._timer);
    }
    for (const pending of this._pending.values()) {
      if (pending.timer) {
        clearTimeout(pending.timer);
      }
      pending.reject(new Error('the chat socket was closed'));
    }
    this._pending.clear();
    this._queue = [];
    if (this._socket) {
      const s = this._socket;
      this._socket = null;
      s.onclose = null;
      s.close();
    }
    this._setStatus('closed');
    Signal.clearData(this);
  }

  /** The delay before the next reconnection attempt, in ms. */
  nextDelay(): number {
    const base = Math.min(
      this._maxDelay,
      this._minDelay * Math.pow(2, Math.max(0, this._failures - 1))
    );
    // +/- 20% jitter so many tabs do not reconnect in lockstep
    return Math.round(base * (0.8 + 0.4 * this._random()));
  }

  private _scheduleReconnect(): void {
    if (this._disposed || this._timer) {
      return;
    }
    this._failures += 1;
    const delay = this.nextDelay();
    this._timer = setTimeout(() => {
      this._timer = undefined;
      this.connect();
    }, delay);
  }

  /**
   * Fail the requests that went out on a socket that just closed: the server
   * answers on the connection a request came in on, so no reply will come.
   * Requests still queued (never sent) wait for the next connection.
   */
  private _rejectInFlight(): void {
    const queued = new Set(
      this._queue.map(msg => (msg as { id?: string | null }).id)
    );
    for (const [id, pending] of Array.from(this._pending)) {
      if (queued.has(id)) {
        continue;
      }
      this._pending.delete(id);
      if (pending.timer) {
        clearTimeout(pending.timer);
      }
      pending.reject(
        new Error('the connection to the server closed before it answered')
      );
    }
  }

  private _flush(): void {
    const queue = this._queue;
    this._queue = [];
    for (const msg of queue) {
      this.send(msg);
    }
  }

  private _onMessage(data: unknown): void {
    let msg: unknown;
    try {
      msg = typeof data === 'string' ? JSON.parse(data) : data;
    } catch {
      console.warn('codeinterp: ignoring a chat frame that is not JSON');
      return;
    }
    if (!isServerMessage(msg)) {
      console.warn('codeinterp: ignoring an unknown chat message', msg);
      return;
    }
    const replyTo = (msg as { reply_to?: string | null }).reply_to;
    if (replyTo) {
      const pending = this._pending.get(replyTo);
      if (pending) {
        this._pending.delete(replyTo);
        if (pending.timer) {
          clearTimeout(pending.timer);
        }
        if (msg.type === 'error') {
          pending.reject(new ChatRequestError(msg));
        } else {
          pending.resolve(msg);
        }
      }
    }
    const handlers = this._handlers.get(msg.type);
    if (handlers) {
      for (const handler of Array.from(handlers)) {
        try {
          handler(msg as any);
        } catch (error) {
          console.error(`codeinterp: handler for ${msg.type} failed`, error);
        }
      }
    }
    this._messageReceived.emit(msg);
  }

  private _setStatus(status: ConnectionStatus): void {
    if (this._status !== status) {
      this._status = status;
      this._statusChanged.emit(status);
    }
  }

  private _url: () => string;
  private _createSocket: WebSocketFactory;
  private _minDelay: number;
  private _maxDelay: number;
  private _requestTimeout: number;
  private _random: () => number;
  private _socket: IWebSocketLike | null = null;
  private _status: ConnectionStatus = 'closed';
  private _queue: ClientMessage[] = [];
  private _pending = new Map<string, IPending>();
  private _handlers = new Map<string, Set<Handler<any>>>();
  private _failures = 0;
  private _connections = 0;
  private _timer: ReturnType<typeof setTimeout> | undefined;
  private _disposed = false;
  private _statusChanged = new Signal<this, ConnectionStatus>(this);
  private _messageReceived = new Signal<this, ServerMessage>(this);
}
