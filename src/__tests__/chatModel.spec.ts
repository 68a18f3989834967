import { ChatModel, newChatId } from '../chat/model';
import { ServerMessage } from '../protocol';

const CHAT = 'c1';

function turnMessages(): ServerMessage[] {
  return [
    {
      type: 'turn_start',
      chat_id: CHAT,
      turn: 1,
      mode: 'chat',
      prompt: 'sum prices',
      reply_to: 'p1'
    },
    {
      type: 'context_note',
      chat_id: CHAT,
      turn: 1,
      tokens: 120,
      notes: ['kernel busy']
    },
    { type: 'text_delta', chat_id: CHAT, turn: 1, text: 'Let me ' },
    { type: 'text_delta', chat_id: CHAT, turn: 1, text: 'sum.' },
    {
      type: 'step',
      chat_id: CHAT,
      turn: 1,
      step_id: 's1',
      tool: 'run_code',
      state: 'running',
      code: 'bad'
    },
    {
      type: 'step',
      chat_id: CHAT,
      turn: 1,
      step_id: 's1',
      tool: 'run_code',
      state: 'error',
      code: 'bad',
      cell_id: 'cell-1'
    },
    { type: 'text_delta', chat_id: CHAT, turn: 1, text: 'Fixing.' },
    {
      type: 'step',
      chat_id: CHAT,
      turn: 1,
      step_id: 's1',
      tool: 'run_code',
      state: 'ok',
      code: 'good',
      attempt: 2,
      max_attempts: 4,
      cell_id: 'cell-1',
      files: ['out.png']
    },
    { type: 'text_delta', chat_id: CHAT, turn: 1, text: 'The total is 7.0.' },
    {
      type: 'turn_end',
      chat_id: CHAT,
      turn: 1,
      status: 'done',
      answer: 'The total is 7.0.',
      usage: { total_tokens: 50 },
      chat_usage: { total_tokens: 50 }
    }
  ];
}

describe('ChatModel', () => {
  it('folds a turn into text, one repaired step and an end state', () => {
    const chat = new ChatModel('nb.ipynb', CHAT);
    chat.addPending('p1', { text: 'sum prices', mode: 'chat' });
    expect(chat.isRunning).toBe(true);
    for (const msg of turnMessages()) {
      expect(chat.apply(msg)).toBe(true);
    }
    expect(chat.isRunning).toBe(false);
    const turn = chat.turns[0];
    expect(turn.items.map(i => i.kind)).toEqual([
      'text',
      'step',
      'text',
      'text'
    ]);
    expect(turn.items[0]).toEqual({ kind: 'text', text: 'Let me sum.' });
    const step = chat.step('s1')!;
    expect(step.state).toBe('ok');
    expect(step.attempt).toBe(2);
    expect(step.cell_id).toBe('cell-1');
    expect(turn.context).toEqual({ tokens: 120, notes: ['kernel busy'] });
    expect(turn.request).toEqual({ text: 'sum prices', mode: 'chat' });
    expect(chat.chatUsage?.total_tokens).toBe(50);
    // the streamed answer is not repeated
    expect(chat.toMarkdown('nb.ipynb').match(/The total is 7.0/g)).toHaveLength(
      1
    );
  });

  it('replays a stored display log like the live chat', () => {
    const live = new ChatModel('nb.ipynb', CHAT);
    turnMessages().forEach(m => live.apply(m));
    const replayed = new ChatModel('nb.ipynb', 'other');
    let changes = 0;
    replayed.changed.connect(() => changes++);
    replayed.replay(CHAT, turnMessages() as any[]);
    expect(changes).toBe(1);
    expect(replayed.chatId).toBe(CHAT);
    expect(replayed.turns).toEqual(
      live.turns.map(t => ({
        ...t,
        request: { text: 'sum prices', mode: 'chat' }
      }))
    );
  });

  it('keeps what turn_end says of grounding and of the notebook changes, live and replayed', () => {
    const messages = turnMessages();
    const end = messages[messages.length - 1] as any;
    Object.assign(end, {
      grounding: 'unverified',
      cells_run: 1,
      changes: {
        cells: [
          { kind: 'added', cell_id: 'cell-1', step_id: 's1', source: 'good' }
        ],
        files: ['out.png']
      }
    });
    const live = new ChatModel('nb.ipynb', CHAT);
    messages.forEach(m => live.apply(m));
    const turn = live.turns[0];
    expect(turn.grounding).toBe('unverified');
    expect(turn.cellsRun).toBe(1);
    expect(turn.changes?.cells?.[0].cell_id).toBe('cell-1');
    const replayed = new ChatModel('nb.ipynb', CHAT);
    replayed.replay(CHAT, messages as any[]);
    expect(replayed.turns[0].changes).toEqual(turn.changes);
    expect(replayed.turns[0].grounding).toBe('unverified');
    const markdown = live.toMarkdown('nb.ipynb');
    expect(markdown).toContain('Numbers not found in any output of this turn');
    expect(markdown).toContain('*Notebook: 1 cell added*');
  });

  it('closes turns that never ended when replayed', () => {
    const chat = new ChatModel('nb.ipynb', CHAT);
    chat.replay(CHAT, turnMessages().slice(0, 5) as any[]);
    expect(chat.turns[0].status).toBe('stopped');
    expect(chat.step('s1')!.state).toBe('aborted');
    expect(chat.isRunning).toBe(false);
  });

  it('ignores messages of other chats', () => {
    const chat = new ChatModel('nb.ipynb', CHAT);
    expect(
      chat.apply({ type: 'text_delta', chat_id: 'zzz', turn: 1, text: 'x' })
    ).toBe(false);
    expect(chat.turns).toHaveLength(0);
  });

  it('turns a refused prompt into a notice that can be retried', () => {
    const chat = new ChatModel('nb.ipynb', CHAT);
    chat.addPending('p9', { text: 'again', mode: 'fix', cell_id: 'abc' });
    chat.apply({
      type: 'error',
      code: 'busy',
      message: 'a turn is already running',
      reply_to: 'p9',
      chat_id: CHAT
    });
    expect(chat.isRunning).toBe(false);
    expect(chat.notices).toHaveLength(1);
    expect(chat.notices[0].request).toEqual({
      text: 'again',
      mode: 'fix',
      cell_id: 'abc'
    });
  });

  it('attaches a provider error to the running turn', () => {
    const chat = new ChatModel('nb.ipynb', CHAT);
    chat.apply({
      type: 'turn_start',
      chat_id: CHAT,
      turn: 1,
      mode: 'chat',
      prompt: 'hi'
    });
    chat.apply({
      type: 'error',
      code: 'auth',
      message: 'bad key',
      chat_id: CHAT,
      retryable: false
    });
    chat.apply({ type: 'turn_end', chat_id: CHAT, turn: 1, status: 'failed' });
    expect(chat.turns[0].items).toEqual([
      { kind: 'error', error: expect.objectContaining({ code: 'auth' }) }
    ]);
  });

  it('keeps approvals until decided and drops them when the step moves on', () => {
    const chat = new ChatModel('nb.ipynb', CHAT);
    chat.apply({
      type: 'turn_start',
      chat_id: CHAT,
      turn: 1,
      mode: 'fix',
      prompt: 'fix'
    });
    chat.apply({
      type: 'step',
      chat_id: CHAT,
      turn: 1,
      step_id: 's',
      tool: 'run_code',
      state: 'waiting_approval',
      code: 'x = 1',
      cell_id: 'u1'
    });
    chat.apply({
      type: 'approval_request',
      chat_id: CHAT,
      turn: 1,
      step_id: 's',
      kind: 'fix',
      code: 'x = 1',
      original: 'x = ',
      cell_id: 'u1'
    });
    expect(chat.pendingApprovals().map(s => s.step_id)).toEqual(['s']);
    chat.decide('s', 'accept');
    expect(chat.pendingApprovals()).toHaveLength(0);
    chat.apply({
      type: 'step',
      chat_id: CHAT,
      turn: 1,
      step_id: 's',
      tool: 'run_code',
      state: 'running',
      code: 'x = 1',
      cell_id: 'u1'
    });
    expect(chat.step('s')!.approval).toBeUndefined();
  });

  it('makes chat ids the server accepts', () => {
    for (let i = 0; i < 50; i++) {
      expect(newChatId()).toMatch(/^[A-Za-z0-9_-]{1,64}$/);
    }
  });

  it('streams code_delta into a preview until the step starts', () => {
    const chat = new ChatModel('nb.ipynb', CHAT);
    chat.apply({
      type: 'turn_start',
      chat_id: CHAT,
      turn: 1,
      mode: 'generate',
      prompt: 'p'
    });
    chat.apply({ type: 'code_delta', chat_id: CHAT, turn: 1, text: 'print(' });
    chat.apply({ type: 'code_delta', chat_id: CHAT, turn: 1, text: '1)' });
    expect(chat.turns[0].codePreview).toBe('print(1)');
    chat.apply({
      type: 'step',
      chat_id: CHAT,
      turn: 1,
      step_id: 's',
      tool: 'run_code',
      state: 'running',
      code: 'print(1)'
    });
    expect(chat.turns[0].codePreview).toBeUndefined();
  });

  it('shows notices as one updating line', () => {
    const chat = new ChatModel('nb.ipynb', CHAT);
    chat.apply({
      type: 'turn_start',
      chat_id: CHAT,
      turn: 1,
      mode: 'chat',
      prompt: 'p'
    });
    chat.apply({
      type: 'notice',
      chat_id: CHAT,
      turn: 1,
      text: 'retrying in 2 s'
    });
    chat.apply({
      type: 'notice',
      chat_id: CHAT,
      turn: 1,
      text: 'retrying in 4 s'
    });
    expect(chat.turns[0].items).toEqual([
      { kind: 'note', text: 'retrying in 4 s' }
    ]);
  });
  it("a lost connection stops this tab's turn, not one another tab runs", () => {
    const start = (turn: number, replyTo: string): ServerMessage => ({
      type: 'turn_start',
      chat_id: CHAT,
      turn,
      mode: 'chat',
      prompt: `prompt ${turn}`,
      reply_to: replyTo
    });
    const running = (turn: number): ServerMessage => ({
      type: 'step',
      chat_id: CHAT,
      turn,
      step_id: `s${turn}`,
      tool: 'run_code',
      state: 'running',
      code: 'x'
    });

    // a turn started from this tab
    const own = new ChatModel('nb.ipynb', CHAT);
    own.addPending('mine', { text: 'prompt 1', mode: 'chat' });
    own.apply(start(1, 'mine'));
    own.apply(running(1));
    own.interruptRunning('lost');
    expect(own.turns[0].status).toBe('stopped');
    expect(own.step('s1')?.state).toBe('aborted');
    expect(own.isRunning).toBe(false);

    // the same turn seen from a tab that only shows the chat
    const watcher = new ChatModel('nb.ipynb', CHAT);
    watcher.apply(start(1, 'someone-elses'));
    watcher.apply(running(1));
    expect(watcher.turns[0].ownedHere).toBe(false);
    watcher.interruptRunning('lost');
    expect(watcher.turns[0].status).toBeUndefined();
    expect(watcher.step('s1')?.state).toBe('running');
    expect(watcher.isRunning).toBe(true);
  });
});
