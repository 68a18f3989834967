/**
 * The chat in Jupyter Notebook 7 (its notebook page has a right sidebar too).
 */
import { expect, test } from '@jupyterlab/galata';

import { askForTheRepairedTotal, runCode, scriptModel, text } from './helpers';

test.use({
  autoGoto: false,
  // Notebook 7 has no Launcher tab to wait for
  // eslint-disable-next-line no-empty-pattern
  waitForApplication: async ({}, use) => {
    await use(async page => {
      await page.waitForSelector('#main-panel, .jp-NotebookPanel', {
        timeout: 60000
      });
    });
  }
});

const FIX = 'total = sum([1.5, 2.5, 3.0])\nprint(total)';

test('chat repair flow in Notebook 7', async ({
  page,
  request,
  tmpPath,
  baseURL
}, testInfo) => {
  const path = `${tmpPath}/nb7.ipynb`;
  await page.contents.uploadContent(
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
    }),
    'text',
    path
  );
  await scriptModel(request, [
    runCode('total = sum([1.5, 2.5, 3.0)\nprint(total)'),
    runCode(FIX),
    text('The total is 7.0.')
  ]);
  await page.goto(`${baseURL}/notebooks/${path}`);
  await page.waitForSelector('.jp-NotebookPanel');
  await page.waitForFunction(
    () => {
      const app = (window as any).jupyterapp;
      const panel = app?.shell?.currentWidget;
      return panel?.sessionContext?.session?.kernel?.status === 'idle';
    },
    undefined,
    { timeout: 60000 }
  );
  await page.evaluate(async () => {
    await (window as any).jupyterapp.commands.execute('codeinterp:open-chat');
  });
  const chat = page.locator('#jp-codeinterp-chat');
  await expect(chat).toBeVisible();
  await expect(chat.locator('.jp-codeinterp-conn-open')).toBeVisible();
  await askForTheRepairedTotal(chat);
  const cells = await page.evaluate(() => {
    const panel = (window as any).jupyterapp.shell.currentWidget;
    return panel.content.model.toJSON().cells;
  });
  const generated = cells.filter((c: any) => c.metadata?.codeinterp?.generated);
  expect(generated).toHaveLength(1);
  expect([].concat(generated[0].source).join('')).toBe(FIX);
  const shot = testInfo.outputPath('notebook7-light.png');
  await page.screenshot({ path: shot, animations: 'disabled' });
  await testInfo.attach('notebook7-light', {
    path: shot,
    contentType: 'image/png'
  });
});
