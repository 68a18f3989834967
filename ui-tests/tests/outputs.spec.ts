import { expect, test } from '@jupyterlab/galata';

import {
  newNotebook,
  openChat,
  runCode,
  screenshots,
  scriptModel,
  sendPrompt,
  text,
  waitForTurnEnd
} from './helpers';

const PLOT = [
  'import matplotlib.pyplot as plt',
  'import pandas as pd',
  'df = pd.DataFrame({"x": [1, 2, 3], "y": [2, 4, 3]})',
  'df.to_csv("summary.csv", index=False)',
  'plt.plot(df.x, df.y)',
  'plt.savefig("plot.png")',
  'plt.show()'
].join('\n');

test('plots show in the card and written files open in JupyterLab', async ({
  page,
  request,
  tmpPath
}, testInfo) => {
  await newNotebook(page, 'outputs.ipynb');
  await scriptModel(request, [
    runCode(PLOT, 'Plotting.'),
    text('Here is the plot.')
  ]);
  const chat = await openChat(page);
  await sendPrompt(page, 'plot y against x and save a summary');
  await waitForTurnEnd(page);
  const card = chat.locator('.jp-codeinterp-step').first();
  await expect(card.locator('.jp-codeinterp-images img')).toHaveCount(1);
  const files = card.locator('.jp-codeinterp-files button');
  await expect(files).toHaveCount(2);
  await expect(files.filter({ hasText: 'summary.csv' })).toHaveCount(1);
  await screenshots(page, testInfo, 'outputs');
  await files.filter({ hasText: 'summary.csv' }).click();
  await expect(
    page
      .locator(
        '.jp-MainAreaWidget .lm-TabBar-tab.lm-mod-current, .lm-DockPanel-tabBar .lm-mod-current'
      )
      .filter({ hasText: 'summary.csv' })
  ).toHaveCount(1);
  expect(await page.contents.fileExists(`${tmpPath}/summary.csv`)).toBe(true);
});

test('switching notebooks switches chats; export to Markdown', async ({
  page,
  request,
  tmpPath
}) => {
  await scriptModel(request, { scenario: 'echo' });
  await newNotebook(page, 'first.ipynb');
  const chat = await openChat(page);
  await sendPrompt(page, 'about the first notebook');
  await waitForTurnEnd(page);
  await expect(chat.locator('.jp-codeinterp-header-title')).toHaveText(
    'first.ipynb'
  );

  await newNotebook(page, 'second.ipynb');
  await expect(chat.locator('.jp-codeinterp-header-title')).toHaveText(
    'second.ipynb'
  );
  await expect(chat.locator('.jp-codeinterp-turn')).toHaveCount(0);
  await sendPrompt(page, 'about the second notebook');
  await waitForTurnEnd(page);

  await page.notebook.activate('first.ipynb');
  await expect(chat.locator('.jp-codeinterp-header-title')).toHaveText(
    'first.ipynb'
  );
  await expect(chat.locator('.jp-codeinterp-user-text')).toHaveText([
    'about the first notebook'
  ]);

  await chat.getByRole('button', { name: 'Export chat to Markdown' }).click();
  await expect
    .poll(async () => {
      const listing = await page.evaluate(async dir => {
        const model = await (
          window as any
        ).jupyterapp.serviceManager.contents.get(dir);
        return model.content.map((c: any) => c.name);
      }, tmpPath);
      return listing.filter(
        (n: string) => n.startsWith('first-chat-') && n.endsWith('.md')
      ).length;
    })
    .toBe(1);
});
