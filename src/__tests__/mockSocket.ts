/** A WebSocket stand-in for jest tests, driven by hand. */
import { ServerMessage } from '../protocol';
import { IWebSocketLike } from '../socket';

export class MockSocket implements IWebSocketLike {
  static instances: MockSocket[] = [];
  readyState = 0;
  sent: any[] = [];
  closed = false;
  onopen: ((ev: any) => any) | null = null;
  onclose: ((ev: any) => any) | null = null;
  onerror: ((ev: any) => any) | null = null;
  onmessage: ((ev: { data: any }) => any) | null = null;

  constructor(readonly url: string) {
    MockSocket.instances.push(this);
  }
  send(data: string): void {
    if (this.readyState !== 1) {
      throw new Error('not open');
    }
    this.sent.push(JSON.parse(data));
  }
  close(): void {
    this.closed = true;
    this.readyState = 3;
  }
  // test helpers
  open(): void {
    this.readyState = 1;
    this.onopen?.({});
  }
  drop(): void {
    this.readyState = 3;
    this.onclose?.({ code: 1006 });
  }
  receive(msg: ServerMessage | string): void {
    this.onmessage?.({
      data: typeof msg === 'string' ? msg : JSON.stringify(msg)
    });
  }
}

export function latest(): MockSocket {
  return MockSocket.instances[MockSocket.instances.length - 1];
}
