/**
 * Remote kernels: JupyterLab started with --gateway-url, the notebook's kernel
 * running behind a real Jupyter Kernel Gateway (playwright-gateway.config.js).
 * The model must see the remote kernel's data, and the chat's generated cell
 * runs and is repaired there like with a local kernel.
 */
import { expect, test } from '@jupyterlab/galata';

import {
  expectRepairedTotal,
  modelRequests,
  openChat,
  screenshots,
  scriptRepairedTotal,
  sendPrompt,
  waitForTurnEnd
} from './helpers';

const GATEWAY = `http://127.0.0.1:${process.env.CODEINTERP_GATEWAY_PORT || 8880}`;
const SALES =
  'import pandas as pd\n' +
  "sales = pd.DataFrame({'region': ['north', 'south', 'east'], 'price': [1.5, 2.5, 3.0]})";
const BAD = 'print(sales["prices"].sum())';
const FIX = 'print(sales["price"].sum())';

test.describe('remote kernels (Kernel Gateway)', () => {
  test('the model sees the remote DataFrame; a cell is repaired and answered', async ({
    page,
    request
  }, testInfo) => {
    // Not renamed (newNotebook renames): a rename while the gateway is still starting the
    // kernel can leave the server's session at the old path, and the context is looked up
    // by the notebook's path.
    await page.notebook.createNew();
    await page.waitForFunction(
      () => {
        const panel = (window as any).jupyterapp.shell.currentWidget;
        return panel?.sessionContext?.session?.kernel?.status === 'idle';
      },
      undefined,
      { timeout: 60000 }
    );
    await page.notebook.setCell(0, 'code', SALES);
    await page.notebook.runCell(0);

    // the notebook's kernel is one of the gateway's
    const { kernelId, path } = await page.evaluate(() => {
      const panel = window.jupyterapp.shell.currentWidget as any;
      return {
        kernelId: panel.sessionContext.session.kernel.id as string,
        path: panel.context.path as string
      };
    });
    const listed = await request.get(`${GATEWAY}/api/kernels`, {
      headers: {
        Authorization: `token ${process.env.CODEINTERP_GATEWAY_TOKEN}`
      }
    });
    expect(listed.ok()).toBeTruthy();
    expect((await listed.json()).map((k: any) => k.id)).toContain(kernelId);

    // the server maps the notebook to that kernel (what the probe looks up)
    const sessions = await (await request.get('/api/sessions')).json();
    expect(
      sessions.filter((s: any) => s.path === path).map((s: any) => s.kernel.id)
    ).toEqual([kernelId]);

    // "What the model sees" lists the remote kernel's DataFrame
    const chat = await openChat(page);
    await chat.getByRole('button', { name: 'What the model sees' }).click();
    const dialog = page.locator('.jp-Dialog-content');
    const context = dialog.locator('.jp-codeinterp-context-text');
    await expect(context).toContainText('sales: DataFrame 3 rows × 2 columns');
    await expect(context).toContainText(
      /columns: region \(\w+\), price \(float64\)/
    );
    await expect(context).not.toContainText('no variables');
    await screenshots(page, testInfo, 'gateway-context');
    await dialog.getByRole('button', { name: 'Close' }).click();

    // chat → cell → repair → answer, all in the remote kernel
    await scriptRepairedTotal(request, BAD, FIX);
    await sendPrompt(page, 'What is the total price in sales?');
    await waitForTurnEnd(page);
    await expectRepairedTotal(page, chat, FIX);

    // the model was sent the remote variables, and the KeyError to repair
    const requests = await modelRequests(request);
    expect(JSON.stringify(requests[0].messages)).toContain(
      'sales: DataFrame 3 rows × 2 columns'
    );
    expect(JSON.stringify(requests[1].messages)).toContain('KeyError');
    await screenshots(page, testInfo, 'gateway-repair');
  });
});
