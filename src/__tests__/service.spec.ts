/**
 * CodeInterpService: which chat the sidebar shows, and how a notebook's saved
 * history is fetched, over a hand-driven socket.
 */
import { ServerConnection } from '@jupyterlab/services';
import { Signal } from '@lumino/signaling';

import { CodeInterpService } from '../service';
import { latest, MockSocket } from './mockSocket';

/** Just what the service reads of a NotebookPanel. */
function fakePanel(path: string): any {
  const panel: any = { isDisposed: false };
  panel.context = { path, pathChanged: new Signal<any, string>(panel) };
  panel.disposed = new Signal<any, void>(panel);
  return panel;
}

function fakeTracker(current: any = null): any {
  const tracker: any = { currentWidget: current };
  tracker.currentChanged = new Signal<any, any>(tracker);
  return tracker;
}

function makeService(
  tracker: any,
  restored?: Promise<void>
): CodeInterpService {
  return new CodeInterpService({
    notebookTracker: tracker,
    serverSettings: ServerConnection.makeSettings({
      baseUrl: 'http://localhost:8888/',
      wsUrl: 'ws://localhost:8888/'
    }),
    createSocket: url => new MockSocket(url),
    restored
  });
}

/** Let queued promise callbacks run. */
const settle = () => new Promise(resolve => setTimeout(resolve, 0));

describe('CodeInterpService', () => {
  beforeEach(() => {
    MockSocket.instances = [];
  });

  it('binds to a notebook that was current before it started', async () => {
    // a notebook restored before the plugin activated never emits currentChanged
    const panel = fakePanel('work/a.ipynb');
    const service = makeService(fakeTracker(panel));
    const chat = service.current!;
    expect(chat).not.toBeNull();
    expect(chat.notebookPath).toBe('work/a.ipynb');
    expect(chat.loading).toBe(true);

    // the history request waits for the socket, then is sent
    const socket = latest();
    socket.open();
    const request = socket.sent.find(m => m.type === 'history_request');
    expect(request).toMatchObject({ notebook_path: 'work/a.ipynb' });
    expect(request.chat_id).toBeUndefined();

    socket.receive({
      type: 'history',
      notebook_path: 'work/a.ipynb',
      reply_to: request.id,
      chats: [{ id: 'old-chat', title: 'Growth by region' }]
    });
    await settle();
    const open = socket.sent.find(
      m => m.type === 'history_request' && m.chat_id === 'old-chat'
    );
    expect(open).toBeDefined();
    socket.receive({
      type: 'history',
      notebook_path: 'work/a.ipynb',
      reply_to: open.id,
      chat_id: 'old-chat',
      messages: [
        {
          type: 'turn_start',
          chat_id: 'old-chat',
          turn: 1,
          mode: 'chat',
          prompt: 'plot growth'
        }
      ]
    });
    await settle();
    expect(chat.loading).toBe(false);
    expect(chat.chatId).toBe('old-chat');
    expect(chat.turns.map(t => t.prompt)).toEqual(['plot growth']);
    expect(service.chatById('old-chat')).toBe(chat);
    service.dispose();
  });

  it('shows nothing without a notebook, then follows currentChanged', () => {
    const tracker = fakeTracker();
    const service = makeService(tracker);
    expect(service.current).toBeNull();
    const seen: any[] = [];
    service.currentChanged.connect((_, chat) => seen.push(chat));

    const a = fakePanel('a.ipynb');
    tracker.currentWidget = a;
    tracker.currentChanged.emit(a);
    const b = fakePanel('b.ipynb');
    tracker.currentWidget = b;
    tracker.currentChanged.emit(b);
    tracker.currentWidget = a;
    tracker.currentChanged.emit(a);

    expect(seen.map(c => c.notebookPath)).toEqual([
      'a.ipynb',
      'b.ipynb',
      'a.ipynb'
    ]);
    // switching back finds the same chat, not a new one
    expect(seen[2]).toBe(seen[0]);

    // closing the notebook unbinds the sidebar
    a.disposed.emit();
    expect(service.current).toBeNull();
    service.dispose();
  });

  it('re-binds once the layout is restored', async () => {
    let restore!: () => void;
    const restored = new Promise<void>(resolve => (restore = resolve));
    const tracker = fakeTracker();
    const service = makeService(tracker, restored);
    expect(service.current).toBeNull();
    // the tracker settled without a signal the service saw
    tracker.currentWidget = fakePanel('late.ipynb');
    restore();
    await settle();
    expect(service.current?.notebookPath).toBe('late.ipynb');
    service.dispose();
  });

  it('never opens a chat from an earlier version by itself', async () => {
    const service = makeService(fakeTracker(fakePanel('t.ipynb')));
    const chat = service.current!;
    const socket = latest();
    socket.open();
    const request = socket.sent.find(m => m.type === 'history_request');
    const chats = [
      { id: 'other-project', title: 'Weather', earlier_version: true }
    ];
    socket.receive({
      type: 'history',
      notebook_path: 't.ipynb',
      reply_to: request.id,
      chats
    });
    await settle();
    expect(chat.loading).toBe(false);
    expect(socket.sent.filter(m => m.type === 'history_request')).toHaveLength(
      1
    );
    expect(chat.chatId).not.toBe('other-project');
    // the history panel lists it, saying where it comes from
    const listing = service.listChats(chat);
    const ask = socket.sent[socket.sent.length - 1];
    socket.receive({
      type: 'history',
      notebook_path: 't.ipynb',
      reply_to: ask.id,
      chats
    });
    expect((await listing).map(c => c.title)).toEqual([
      'Weather (from an earlier version)'
    ]);
    service.dispose();
  });

  it('a renamed notebook keeps its chat, under the new path', async () => {
    const panel = fakePanel('a.ipynb');
    const service = makeService(fakeTracker(panel));
    const chat = service.current!;
    const socket = latest();
    socket.open();
    const id = chat.chatId;
    panel.context.pathChanged.emit('sub/b.ipynb');
    expect(service.current).toBe(chat);
    expect(chat.chatId).toBe(id);
    await service.sendPrompt(chat, 'go on');
    const prompt = socket.sent.find(m => m.type === 'prompt');
    expect(prompt).toMatchObject({ chat_id: id, notebook_path: 'sub/b.ipynb' });
    service.dispose();
  });

  it('fetches the history again when the socket drops mid-request', async () => {
    const service = makeService(fakeTracker(fakePanel('a.ipynb')));
    const chat = service.current!;
    const first = latest();
    first.open();
    expect(first.sent.filter(m => m.type === 'history_request')).toHaveLength(
      1
    );
    // the reply never comes: the socket drops
    first.drop();
    await settle();
    service.socket.reconnect();
    const second = latest();
    expect(second).not.toBe(first);
    second.open();
    await settle();
    const retry = second.sent.find(m => m.type === 'history_request');
    expect(retry).toMatchObject({ notebook_path: 'a.ipynb' });
    second.receive({
      type: 'history',
      notebook_path: 'a.ipynb',
      reply_to: retry.id,
      chats: []
    });
    await settle();
    expect(chat.loading).toBe(false);
    expect(chat.turns).toHaveLength(0);
    service.dispose();
  });
});
