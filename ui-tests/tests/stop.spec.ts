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
  text,
  waitForTurnEnd
} from './helpers';

const SLOW =
  'import time\nfor i in range(1200):\n    time.sleep(0.1)\nprint("finished")';

test('Stop during a long generated cell interrupts the kernel', async ({
  page,
  request
}, testInfo) => {
  await newNotebook(page, 'stop.ipynb');
  await scriptModel(request, [
    runCode(SLOW, 'This takes a while.'),
    text('done')
  ]);
  const chat = await openChat(page);
  await sendPrompt(page, 'run something slow');
  const badge = chat.locator('.jp-codeinterp-step .jp-codeinterp-badge');
  await expect(badge).toHaveText(/running/, { timeout: 60000 });
  // the elapsed time ticks while it runs
  await expect(badge).toHaveText(/running · [2-9]s/, { timeout: 15000 });
  await screenshots(page, testInfo, 'stop-running');

  await chat.locator('.jp-codeinterp-stop').click();
  await waitForTurnEnd(page);
  await expect(chat.locator('.jp-codeinterp-turn-status')).toContainText(
    'Stopped'
  );

  // the kernel was interrupted: the cell ended with KeyboardInterrupt, not "finished"
  await expect
    .poll(
      async () => {
        const cells = await notebookCells(page);
        const gen = cells.find(c => c.metadata?.codeinterp?.generated);
        return gen ? outputText(gen) : '';
      },
      { timeout: 30000 }
    )
    .toContain('KeyboardInterrupt');
  await screenshots(page, testInfo, 'stop-stopped');

  // the stopped turn still lists the cell it added: the server never learnt
  // the cell's id (it was stopped while running), the chat finds it by step
  const changes = chat.locator('.jp-codeinterp-changes');
  await expect(changes.locator('.jp-codeinterp-changes-summary')).toHaveText(
    '1 cell added'
  );
  await expect(changes.locator('.jp-codeinterp-change-cell')).toBeEnabled();
  await expect(changes.locator('.jp-codeinterp-undo-turn')).toBeVisible();

  // and it is free for the next cell
  const count = (await notebookCells(page)).length;
  await page.notebook.setCell(count - 1, 'code', 'print("kernel is free")');
  await page.notebook.runCell(count - 1);
  await expect
    .poll(async () => outputText((await notebookCells(page))[count - 1]))
    .toContain('kernel is free');
});
