/**
 * The extension behind a real JupyterHub (run by playwright-hub.config.js):
 * users log in on the hub's page, the hub spawns each one's single-user server
 * (with the extension, pointed at the scripted model through the spawner's
 * environment), and everything goes through configurable-http-proxy and the
 * hub's OAuth. The chat repairs a failing cell and answers, Stop ends a slow
 * turn, the model key never reaches the browser, and a second user can reach
 * neither the first user's chat socket, context route nor chat history.
 */
import * as crypto from 'crypto';
import * as fs from 'fs';
import * as http from 'http';
import * as path from 'path';
import {
  APIRequestContext,
  expect,
  Locator,
  Page,
  test,
  TestInfo
} from '@playwright/test';

import {
  askForTheRepairedTotal,
  MODEL_URL,
  outputText,
  Reply,
  runCode,
  scriptModel,
  source,
  text
} from './helpers';

test.describe.configure({ mode: 'serial' });

const STATE = process.env.CODEINTERP_HUB_STATE!;
const PASSWORD = process.env.CODEINTERP_HUB_PASSWORD!;
const MODEL_KEY = process.env.CODEINTERP_HUB_MODEL_KEY!;
/** One notebook per attempt: a retried run starts with a fresh chat and kernel. */
let NOTEBOOK = 'hub-0.ipynb';
// eslint-disable-next-line no-empty-pattern
test.beforeEach(async ({}, testInfo) => {
  NOTEBOOK = `hub-${testInfo.retry}.ipynb`;
});
const PROMPT = 'add up 1.5, 2.5 and 3.0';
const SLOW =
  'import time\nfor i in range(1200):\n    time.sleep(0.1)\nprint("finished")';

/** A user's home, where SimpleLocalProcessSpawner starts their server. */
function home(user: string): string {
  return path.join(STATE, 'users', user);
}

/** Where the extension keeps a user's chats: its default, the user's Jupyter data dir. */
function chatsDir(user: string): string {
  return path.join(
    home(user),
    '.local',
    'share',
    'jupyter',
    'codeinterp',
    'chats'
  );
}

/** Every chat file of a user, as text. */
function savedChats(user: string): string[] {
  const root = chatsDir(user);
  if (!fs.existsSync(root)) {
    return [];
  }
  return fs
    .readdirSync(root, { recursive: true, encoding: 'utf-8' })
    .filter(name => name.endsWith('.json'))
    .map(name => fs.readFileSync(path.join(root, name), 'utf-8'));
}

/**
 * Before the user's server starts: an empty Python notebook in their home (a
 * real file), and their JupyterLab told not to ask about Jupyter news (the
 * question's toast would cover the chat's buttons).
 */
function prepareHome(user: string): void {
  const settings = path.join(
    home(user),
    '.jupyter/lab/user-settings/@jupyterlab/apputils-extension'
  );
  fs.mkdirSync(settings, { recursive: true });
  fs.writeFileSync(
    path.join(settings, 'notification.jupyterlab-settings'),
    JSON.stringify({ fetchNews: 'false' })
  );
  const file = path.join(home(user), NOTEBOOK);
  if (fs.existsSync(file)) {
    return;
  }
  fs.writeFileSync(
    file,
    JSON.stringify({
      cells: [],
      metadata: {
        kernelspec: {
          name: 'python3',
          display_name: 'Python 3',
          language: 'python'
        }
      },
      nbformat: 4,
      nbformat_minor: 5
    })
  );
}

/** Log in on the hub's page; the hub starts the user's server (or finds it running). */
async function logIn(page: Page, user: string): Promise<void> {
  await page.goto('/hub/login');
  await page.locator('#username_input').fill(user);
  await page.locator('#password_input').fill(PASSWORD);
  await page.locator('#login_submit').click();
  await page.waitForURL(`**/user/${user}/lab**`, { timeout: 200000 });
  await page.locator('#jupyterlab-splash').waitFor({ state: 'detached' });
}

/** Open the user's notebook in their server, wait for its kernel, open the chat. */
async function openNotebookChat(page: Page, user: string): Promise<Locator> {
  await page.goto(`/user/${user}/lab/tree/${NOTEBOOK}`);
  await page.locator('#jupyterlab-splash').waitFor({ state: 'detached' });
  await page.waitForFunction(
    () => {
      const panel = (window as any).jupyterapp?.shell?.currentWidget;
      return panel?.sessionContext?.session?.kernel?.status === 'idle';
    },
    undefined,
    { timeout: 90000 }
  );
  await page.evaluate(async () => {
    await (window as any).jupyterapp.commands.execute('codeinterp:open-chat');
  });
  const chat = page.locator('#jp-codeinterp-chat');
  await expect(chat.locator('.jp-codeinterp-conn-open')).toBeVisible();
  return chat;
}

async function notebookCells(page: Page): Promise<any[]> {
  return page.evaluate(
    () =>
      (window as any).jupyterapp.shell.currentWidget.content.model.toJSON()
        .cells
  );
}

/** Script the model; it answers only requests that carry the deployment's key. */
async function scriptKeyedModel(
  request: APIRequestContext,
  script: { scenario: string } | { replies: Reply[] }
): Promise<void> {
  await scriptModel(request, { ...script, quirks: { api_key: MODEL_KEY } });
}

/**
 * Record everything the page receives as text (API answers, pages, socket
 * frames), to check that the model key is never among it, and the sockets it opens.
 */
function recordWhatTheBrowserGets(page: Page): {
  texts: string[];
  sockets: string[];
} {
  const seen = { texts: [] as string[], sockets: [] as string[] };
  page.on('response', async response => {
    const type = response.headers()['content-type'] ?? '';
    if (/json|html|text\/plain/.test(type)) {
      seen.texts.push(await response.text().catch(() => ''));
    }
  });
  page.on('websocket', ws => {
    seen.sockets.push(ws.url());
    ws.on('framereceived', frame => seen.texts.push(String(frame.payload)));
  });
  return seen;
}

/** The status a websocket upgrade gets: 101 when it would open. */
function upgradeStatus(
  url: string,
  headers: Record<string, string>
): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = http.request(url, {
      headers: {
        Connection: 'Upgrade',
        Upgrade: 'websocket',
        'Sec-WebSocket-Version': '13',
        'Sec-WebSocket-Key': crypto.randomBytes(16).toString('base64'),
        Origin: new URL(url).origin,
        ...headers
      }
    });
    req.on('upgrade', (_res, socket) => {
      socket.destroy();
      resolve(101);
    });
    req.on('response', res => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on('error', reject);
    req.end();
  });
}

async function attachScreenshot(
  page: Page,
  testInfo: TestInfo,
  name: string
): Promise<void> {
  const file = testInfo.outputPath(`${name}.png`);
  await page.screenshot({ path: file, animations: 'disabled' });
  await testInfo.attach(name, { path: file, contentType: 'image/png' });
}

test('a user logs in, the hub spawns her server with the extension, and the chat repairs a failing cell', async ({
  page,
  request
}, testInfo) => {
  prepareHome('alice');
  const received = recordWhatTheBrowserGets(page);
  await logIn(page, 'alice');
  const chat = await openNotebookChat(page, 'alice');

  // the extension's configuration as the browser sees it: the model, never the key
  const config = await page.request.get('/user/alice/codeinterp/config');
  expect(config.status()).toBe(200);
  const body = await config.json();
  expect(body.model).toBe('scripted-model');
  expect(body.has_api_key).toBe(true);

  await scriptKeyedModel(request, { scenario: 'repair' });
  await askForTheRepairedTotal(chat);
  await attachScreenshot(page, testInfo, 'hub-alice-repaired');

  // the failing cell was repaired in place and ran in alice's kernel
  const generated = (await notebookCells(page)).filter(
    c => c.metadata?.codeinterp?.generated
  );
  expect(generated.length).toBeGreaterThan(0);
  const last = generated[generated.length - 1];
  expect(source(last)).toContain('df["price"].sum()');
  expect(outputText(last)).toContain('7.0');

  // the model got the traceback of the failing cell, each time with the key from the
  // single-user server's environment
  const log = (
    await (await request.get(`${MODEL_URL}/_control/requests`)).json()
  ).log as any[];
  const chats = log.filter(entry => entry.path.endsWith('/chat/completions'));
  expect(chats.length).toBeGreaterThanOrEqual(3);
  for (const entry of chats) {
    expect(entry.headers.Authorization).toBe(`Bearer ${MODEL_KEY}`);
  }
  expect(
    chats.some(entry =>
      JSON.stringify(entry.body.messages).includes('KeyError')
    )
  ).toBe(true);

  // and the key never reached the browser
  expect(received.texts.length).toBeGreaterThan(0);
  expect(received.texts.filter(s => s.includes(MODEL_KEY))).toEqual([]);
  // the chat socket went through the proxy under alice's prefix
  expect(
    received.sockets.some(url => url.includes('/user/alice/codeinterp/chat'))
  ).toBe(true);
  expect(await page.content()).not.toContain(MODEL_KEY);

  // the chat is saved in alice's own Jupyter data dir
  expect(savedChats('alice').some(s => s.includes(PROMPT))).toBe(true);
});

test("Stop ends a slow turn in the user's server", async ({
  page,
  request
}, testInfo) => {
  await logIn(page, 'alice');
  const chat = await openNotebookChat(page, 'alice');
  await scriptKeyedModel(request, {
    replies: [runCode(SLOW, 'This takes a while.'), text('done')]
  });
  await chat.locator('.jp-codeinterp-input').fill('run something slow');
  await chat.locator('.jp-codeinterp-input').press('Enter');
  const badge = chat.locator('.jp-codeinterp-step .jp-codeinterp-badge').last();
  await expect(badge).toHaveText(/running/, { timeout: 60000 });

  await chat.locator('.jp-codeinterp-stop').click();
  await expect(chat.locator('.jp-codeinterp-send')).toBeVisible();
  await expect(chat.locator('.jp-codeinterp-turn-status').last()).toContainText(
    'Stopped'
  );
  await attachScreenshot(page, testInfo, 'hub-alice-stopped');

  // the kernel was interrupted: the slow cell ended with KeyboardInterrupt
  await expect
    .poll(async () => {
      const cells = (await notebookCells(page)).filter(c =>
        source(c).includes('range(1200)')
      );
      return cells.length ? outputText(cells[cells.length - 1]) : '';
    })
    .toContain('KeyboardInterrupt');
  expect(
    (await notebookCells(page)).some(c => outputText(c).includes('finished'))
  ).toBe(false);
});

test('a second user reaches neither the chat socket, the context route nor the chats of the first', async ({
  page,
  browser,
  request,
  baseURL
}, testInfo) => {
  const aliceContextUrl = `/user/alice/codeinterp/context?path=${NOTEBOOK}`;
  const aliceSocket = `${baseURL}/user/alice/codeinterp/chat`;

  // alice herself: the context route shows her kernel's variables, her socket opens
  await logIn(page, 'alice');
  const own = await page.request.get(aliceContextUrl);
  expect(own.status()).toBe(200);
  expect((await own.json()).text).toContain('total');
  const aliceCookies = (await page.context().cookies(aliceSocket))
    .map(c => `${c.name}=${c.value}`)
    .join('; ');
  expect(await upgradeStatus(aliceSocket, { Cookie: aliceCookies })).toBe(101);

  // bob logs in; the hub spawns his own server
  prepareHome('bob');
  const bobContext = await browser.newContext({ baseURL });
  try {
    const bob = await bobContext.newPage();
    await logIn(bob, 'bob');
    await bobRefused(bob, request, aliceContextUrl, aliceSocket, testInfo);

    // bob's own chat for a notebook of the same name starts empty
    const chat = await openNotebookChat(bob, 'bob');
    await chat.getByRole('button', { name: 'Chat history' }).click();
    await expect(chat.locator('.jp-codeinterp-history')).toContainText(
      'No saved chats yet.'
    );
    await expect(chat).not.toContainText(PROMPT);
    await expect(chat).not.toContainText('7.0');
    expect(savedChats('bob').some(s => s.includes(PROMPT))).toBe(false);
    expect(savedChats('alice').some(s => s.includes(PROMPT))).toBe(true);
  } finally {
    await bobContext.close();
  }
});

/** Everything bob may try with his session and a token of his own is refused. */
async function bobRefused(
  bob: Page,
  request: APIRequestContext,
  aliceContextUrl: string,
  aliceSocket: string,
  testInfo: TestInfo
): Promise<void> {
  // his browser session: the REST route and the socket
  const viaSession = await bob.request.get(aliceContextUrl, {
    maxRedirects: 0
  });
  expect(viaSession.status()).toBe(403);
  expect(await viaSession.text()).not.toContain('total');
  const opened = await bob.evaluate(
    url =>
      new Promise<string>(resolve => {
        const ws = new WebSocket(url);
        ws.onopen = () => {
          ws.close();
          resolve('open');
        };
        ws.onclose = () => resolve('refused');
      }),
    aliceSocket.replace(/^http/, 'ws')
  );
  expect(opened).toBe('refused');

  // every cookie bob has, whatever its path, sent to alice's socket
  const bobCookies = (await bob.context().cookies())
    .map(c => `${c.name}=${c.value}`)
    .join('; ');
  expect(await upgradeStatus(aliceSocket, { Cookie: bobCookies })).toBe(403);

  // a hub API token of bob's own (sent without cookies): valid on his server, refused on alice's
  await bob.goto('/hub/token');
  await bob.locator('#token-note').fill('bob tries alice');
  await bob.getByRole('button', { name: 'Request new API token' }).click();
  await expect(bob.locator('#token-result')).not.toBeEmpty();
  const token = (await bob.locator('#token-result').textContent())!.trim();
  const auth = { Authorization: `token ${token}` };
  const onOwn = await request.get(
    `/user/bob/codeinterp/context?path=${NOTEBOOK}`,
    { headers: auth }
  );
  expect(onOwn.status()).toBe(200);
  expect((await onOwn.json()).notebook_path).toBe(NOTEBOOK);
  const onAlice = await request.get(aliceContextUrl, {
    headers: auth,
    maxRedirects: 0
  });
  expect(onAlice.status()).toBe(403);
  expect(await upgradeStatus(aliceSocket, auth)).toBe(403);

  // in the browser, alice's JupyterLab is refused too (the hub's OAuth says no)
  const page = await bob.goto('/user/alice/lab');
  expect(page?.status()).toBe(403);
  expect(page?.url()).toContain('/hub/api/oauth2/authorize');
  await attachScreenshot(bob, testInfo, 'hub-bob-refused');
}
