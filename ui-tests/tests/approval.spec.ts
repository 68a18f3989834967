import { expect, test } from '@jupyterlab/galata';

import {
  newNotebook,
  notebookCells,
  openChat,
  outputText,
  runCode,
  screenshots,
  scriptModel,
  sendPrompt,
  source,
  text,
  waitForTurnEnd
} from './helpers';

async function setAutoRun(page: any, value: boolean): Promise<void> {
  await page.evaluate(async (v: boolean) => {
    const registry = await (window as any).galata.getPlugin(
      '@jupyterlab/apputils-extension:settings'
    );
    await registry.set('jupyterlab-codeinterp:plugin', 'autoRun', v);
  }, value);
}

test.describe('approval', () => {
  test.afterEach(async ({ page }) => {
    await setAutoRun(page, true);
  });

  test('ask before running: Edit then Run, and Skip', async ({
    page,
    request
  }, testInfo) => {
    await newNotebook(page, 'approval.ipynb');
    await setAutoRun(page, false);
    await scriptModel(request, [
      runCode('print(40 + 2)', 'Computing.'),
      runCode('print("second")'),
      text('The answer is 42.')
    ]);
    const chat = await openChat(page);
    await sendPrompt(page, 'what is 40 + 2?');
    const card = chat.locator('.jp-codeinterp-approval').first();
    await expect(card).toBeVisible({ timeout: 60000 });
    await expect(card.locator('.jp-codeinterp-run')).toBeVisible();
    await expect(card.locator('.jp-codeinterp-skip')).toBeVisible();
    // nothing was inserted while it waits
    expect(
      (await notebookCells(page)).filter(c => c.metadata?.codeinterp)
    ).toHaveLength(0);
    await screenshots(page, testInfo, 'approval-waiting');

    await card.locator('.jp-codeinterp-edit').click();
    await card.locator('.jp-codeinterp-edit-code').fill('print(6 * 7)');
    await card.locator('.jp-codeinterp-run').click();

    // the second cell: skip it
    const second = chat
      .locator('.jp-codeinterp-step')
      .nth(1)
      .locator('.jp-codeinterp-approval');
    await expect(second).toBeVisible({ timeout: 60000 });
    await second.locator('.jp-codeinterp-skip').click();
    await waitForTurnEnd(page);

    const generated = (await notebookCells(page)).filter(
      c => c.metadata?.codeinterp?.generated
    );
    expect(generated).toHaveLength(1);
    expect(source(generated[0])).toBe('print(6 * 7)');
    expect(outputText(generated[0])).toContain('42');
    await expect(
      chat.locator('.jp-codeinterp-step').nth(1).locator('.jp-codeinterp-badge')
    ).toHaveText(/skipped/);
  });

  test('destructive code waits even with auto-run on', async ({
    page,
    request
  }, testInfo) => {
    await newNotebook(page, 'destructive.ipynb');
    await scriptModel(request, [
      runCode('import shutil\nshutil.rmtree("data")'),
      text('I did not delete anything.')
    ]);
    const chat = await openChat(page);
    await sendPrompt(page, 'clean up the data folder');
    const card = chat.locator('.jp-codeinterp-approval').first();
    await expect(card).toBeVisible({ timeout: 60000 });
    await expect(card.locator('.jp-codeinterp-approval-reason')).toContainText(
      /waits for you/
    );
    // the notebook shows the same request below the active cell; answer it there
    const onCell = page.locator('.jp-Notebook .jp-codeinterp-celldiff');
    await expect(onCell).toContainText('shutil.rmtree');
    await screenshots(page, testInfo, 'approval-destructive');
    await onCell.locator('.jp-codeinterp-skip').click();
    await expect(onCell).toHaveCount(0);
    await expect(card).toHaveCount(0);
    await waitForTurnEnd(page);
    await expect(
      chat.locator('.jp-codeinterp-step .jp-codeinterp-badge')
    ).toHaveText(/skipped/);
    expect(
      (await notebookCells(page)).filter(c => c.metadata?.codeinterp)
    ).toHaveLength(0);
  });
});
