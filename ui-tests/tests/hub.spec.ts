/**
 * The chat flow with the server under a base URL prefix, as JupyterHub serves
 * it (/user/NAME/). Run by playwright-hub.config.js. Galata's server-file
 * fixtures assume "/", so this test sets its notebook up through the REST API
 * itself.
 */
import { expect, test } from '@jupyterlab/galata';

import { askForTheRepairedTotal, runCode, scriptModel, text } from './helpers';

test.use({
  autoGoto: false,
  serverFiles: 'off',
  // eslint-disable-next-line no-empty-pattern
  waitForApplication: async ({}, use) => {
    await use(async page => {
      await page.locator('#jupyterlab-splash').waitFor({ state: 'detached' });
    });
  }
});

const FIX = 'total = sum([1.5, 2.5, 3.0])\nprint(total)';

test('chat repair flow under a /user/NAME/ prefix', async ({
  page,
  request,
  baseURL
}, testInfo) => {
  const prefix = new URL(`${baseURL}/`).pathname;
  expect(prefix).not.toBe('/');
  const name = `hub-${Date.now()}.ipynb`;
  const created = await request.put(`${baseURL}/api/contents/${name}`, {
    data: {
      type: 'notebook',
      content: {
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
      }
    }
  });
  expect(created.ok(), await created.text()).toBeTruthy();
  // the extension's routes answer under the prefix only
  const config = await request.get(`${baseURL}/codeinterp/config`);
  expect(config.ok()).toBeTruthy();

  await scriptModel(request, [
    runCode('total = sum([1.5, 2.5, 3.0)\nprint(total)'),
    runCode(FIX),
    text('The total is 7.0.')
  ]);
  const sockets: string[] = [];
  page.on('websocket', ws => sockets.push(ws.url()));
  await page.goto(`${baseURL}/lab/tree/${name}`);
  await page.locator('#jupyterlab-splash').waitFor({ state: 'detached' });
  await page.waitForFunction(
    () => {
      const panel = (window as any).jupyterapp?.shell?.currentWidget;
      return panel?.sessionContext?.session?.kernel?.status === 'idle';
    },
    undefined,
    { timeout: 60000 }
  );
  await page.evaluate(async () => {
    await (window as any).jupyterapp.commands.execute('codeinterp:open-chat');
  });
  const chat = page.locator('#jp-codeinterp-chat');
  await expect(chat.locator('.jp-codeinterp-conn-open')).toBeVisible();
  await askForTheRepairedTotal(chat);
  expect(sockets.some(url => url.includes(`${prefix}codeinterp/chat`))).toBe(
    true
  );
  const shot = testInfo.outputPath('hub-light.png');
  await page.screenshot({ path: shot, animations: 'disabled' });
  await testInfo.attach('hub-light', { path: shot, contentType: 'image/png' });
  await request.delete(`${baseURL}/api/contents/${name}`);
});
