import { ChatRequestError, ChatSocket } from '../socket';
import { HistoryMsg } from '../protocol';
import { latest, MockSocket } from './mockSocket';

function makeSocket(): ChatSocket {
  let n = 0;
  return new ChatSocket({
    url: () => `ws://test/codeinterp/chat?n=${++n}`,
    createSocket: url => new MockSocket(url),
    minDelay: 100,
    maxDelay: 1000,
    requestTimeout: 5000,
    random: () => 0.5
  });
}

describe('ChatSocket', () => {
  beforeEach(() => {
    jest.useFakeTimers();
    MockSocket.instances = [];
  });
  afterEach(() => {
    jest.useRealTimers();
  });

  it('queues messages while connecting and flushes them in order', () => {
    const socket = makeSocket();
    socket.send({ type: 'stop', chat_id: 'a' });
    socket.send({ type: 'stop', chat_id: 'b' });
    expect(socket.status).toBe('connecting');
    expect(socket.queued).toBe(2);
    latest().open();
    expect(socket.status).toBe('open');
    expect(latest().sent.map(m => m.chat_id)).toEqual(['a', 'b']);
    expect(socket.queued).toBe(0);
    socket.dispose();
  });

  it('reconnects with exponential backoff and resets it after success', () => {
    const socket = makeSocket();
    socket.connect();
    latest().open();
    latest().drop();
    expect(socket.status).toBe('closed');
    expect(MockSocket.instances).toHaveLength(1);
    jest.advanceTimersByTime(99);
    expect(MockSocket.instances).toHaveLength(1);
    jest.advanceTimersByTime(1);
    expect(MockSocket.instances).toHaveLength(2); // after 100 ms
    latest().drop(); // failed attempt: next waits 200 ms
    jest.advanceTimersByTime(199);
    expect(MockSocket.instances).toHaveLength(2);
    jest.advanceTimersByTime(1);
    expect(MockSocket.instances).toHaveLength(3);
    latest().drop(); // 400 ms
    jest.advanceTimersByTime(400);
    expect(MockSocket.instances).toHaveLength(4);
    latest().drop(); // 800, then capped at 1000
    jest.advanceTimersByTime(800);
    latest().drop();
    jest.advanceTimersByTime(1000);
    expect(MockSocket.instances).toHaveLength(6);
    latest().open();
    expect(socket.connectionCount).toBe(2);
    latest().drop(); // back to the first delay
    jest.advanceTimersByTime(100);
    expect(MockSocket.instances).toHaveLength(7);
    // each attempt recomputes the URL (the token may have changed)
    expect(latest().url).toContain('n=7');
    socket.dispose();
  });

  it('matches replies to requests by id and leaves others alone', async () => {
    const socket = makeSocket();
    socket.connect();
    latest().open();
    const first = socket.request<HistoryMsg>({
      type: 'history_request',
      notebook_path: 'a.ipynb'
    });
    const second = socket.request<HistoryMsg>({
      type: 'history_request',
      notebook_path: 'b.ipynb'
    });
    const [m1, m2] = latest().sent;
    expect(m1.id).toBeTruthy();
    expect(m1.id).not.toEqual(m2.id);
    const seen: string[] = [];
    socket.on('history', msg => seen.push(msg.notebook_path));
    // answer out of order
    latest().receive({
      type: 'history',
      notebook_path: 'b.ipynb',
      reply_to: m2.id,
      chats: []
    });
    latest().receive({
      type: 'history',
      notebook_path: 'a.ipynb',
      reply_to: m1.id,
      chats: [{ id: 'c1' }]
    });
    await expect(first).resolves.toMatchObject({ notebook_path: 'a.ipynb' });
    await expect(second).resolves.toMatchObject({ notebook_path: 'b.ipynb' });
    expect(seen).toEqual(['b.ipynb', 'a.ipynb']);
    socket.dispose();
  });

  it('rejects a request answered by an error', async () => {
    const socket = makeSocket();
    socket.connect();
    latest().open();
    const p = socket.request({
      type: 'prompt',
      chat_id: 'c',
      notebook_path: 'n.ipynb',
      text: 'hi'
    });
    const id = latest().sent[0].id;
    latest().receive({
      type: 'error',
      code: 'busy',
      message: 'a turn is already running',
      reply_to: id
    });
    await expect(p).rejects.toBeInstanceOf(ChatRequestError);
    await expect(p).rejects.toMatchObject({ reply: { code: 'busy' } });
    socket.dispose();
  });

  it('times out requests nobody answers', async () => {
    const socket = makeSocket();
    socket.connect();
    latest().open();
    const p = socket.request({ type: 'stop', chat_id: 'c' }, { timeout: 1000 });
    jest.advanceTimersByTime(1000);
    await expect(p).rejects.toThrow(/within 1s/);
    socket.dispose();
  });

  it('keeps requests made while offline and answers them after reconnecting', async () => {
    const socket = makeSocket();
    socket.connect();
    latest().open();
    latest().drop();
    const p = socket.request<HistoryMsg>({
      type: 'history_request',
      notebook_path: 'x.ipynb'
    });
    expect(socket.queued).toBe(1);
    jest.advanceTimersByTime(100);
    latest().open();
    const sent = latest().sent[0];
    expect(sent.type).toBe('history_request');
    latest().receive({
      type: 'history',
      notebook_path: 'x.ipynb',
      reply_to: sent.id
    });
    await expect(p).resolves.toMatchObject({ notebook_path: 'x.ipynb' });
    socket.dispose();
  });

  it('fails a request sent on a socket that closes before the answer', async () => {
    const socket = makeSocket();
    socket.connect();
    latest().open();
    const sent = socket.request({
      type: 'history_request',
      notebook_path: 'a'
    });
    latest().drop();
    const queued = socket.request({
      type: 'history_request',
      notebook_path: 'b'
    });
    // the one that went out gets no reply on a new connection: fail it now
    await expect(sent).rejects.toThrow(/closed before it answered/);
    // the one still queued goes out on the next connection
    jest.advanceTimersByTime(100);
    latest().open();
    const out = latest().sent;
    expect(out.map(m => m.notebook_path)).toEqual(['b']);
    latest().receive({
      type: 'history',
      notebook_path: 'b',
      reply_to: out[0].id
    });
    await expect(queued).resolves.toMatchObject({ notebook_path: 'b' });
    socket.dispose();
  });

  it('dispatches typed handlers and ignores junk frames', () => {
    const socket = makeSocket();
    const warn = jest.spyOn(console, 'warn').mockImplementation(() => {});
    socket.connect();
    latest().open();
    const deltas: string[] = [];
    const all: string[] = [];
    const handle = socket.on('text_delta', msg => deltas.push(msg.text));
    socket.messageReceived.connect((_, msg) => all.push(msg.type));
    latest().receive({
      type: 'text_delta',
      chat_id: 'c',
      turn: 1,
      text: 'Hel'
    });
    latest().receive('not json');
    latest().receive(JSON.stringify({ type: 'nonsense' }));
    latest().receive({ type: 'text_delta', chat_id: 'c', turn: 1, text: 'lo' });
    handle.dispose();
    latest().receive({ type: 'text_delta', chat_id: 'c', turn: 1, text: '!' });
    expect(deltas.join('')).toBe('Hello');
    expect(all).toEqual(['text_delta', 'text_delta', 'text_delta']);
    expect(warn).toHaveBeenCalledTimes(2);
    warn.mockRestore();
    socket.dispose();
  });

  it('stops reconnecting once disposed and rejects pending requests', async () => {
    const socket = makeSocket();
    socket.connect();
    latest().open();
    const p = socket.request({ type: 'stop', chat_id: 'c' });
    socket.dispose();
    await expect(p).rejects.toThrow(/closed/);
    jest.advanceTimersByTime(10000);
    expect(MockSocket.instances).toHaveLength(1);
  });
});
