import { expect, test } from '@jupyterlab/galata';

import { screenshots } from './helpers';

test.describe('Code Interpreter sidebar', () => {
  test('opens from the command and shows the configured model', async ({
    page
  }, testInfo) => {
    await page.evaluate(async () => {
      await window.jupyterapp.commands.execute('codeinterp:open-chat');
    });
    const sidebar = page.locator('#jp-codeinterp-chat');
    await expect(sidebar).toBeVisible();
    await expect(sidebar.locator('.jp-codeinterp-model-picker')).toHaveValue(
      'scripted-model'
    );
    await screenshots(page, testInfo, 'sidebar');
  });
});
