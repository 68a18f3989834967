import {
  CLIENT_MESSAGE_TYPES,
  isServerMessage,
  SERVER_MESSAGE_TYPES,
  ServerMessage
} from '../protocol';

describe('protocol', () => {
  it('recognises every server message type and nothing else', () => {
    for (const type of SERVER_MESSAGE_TYPES) {
      expect(isServerMessage({ type })).toBe(true);
    }
    expect(isServerMessage({ type: 'prompt' })).toBe(false);
    expect(isServerMessage({})).toBe(false);
    expect(isServerMessage(null)).toBe(false);
    expect(isServerMessage('hello')).toBe(false);
  });

  it('keeps client and server message types apart', () => {
    const server = new Set<string>(SERVER_MESSAGE_TYPES);
    for (const type of CLIENT_MESSAGE_TYPES) {
      expect(server.has(type)).toBe(false);
    }
  });

  it('narrows a server message by its type', () => {
    const msg: ServerMessage = {
      type: 'step',
      chat_id: 'c',
      turn: 1,
      step_id: 's1',
      tool: 'run_code',
      state: 'running'
    };
    if (msg.type === 'step') {
      expect(msg.step_id).toBe('s1');
    }
  });
});
