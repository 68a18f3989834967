import { expect, test } from '@jupyterlab/galata';

import {
  modelRequests,
  newNotebook,
  openChat,
  screenshots,
  scriptModel,
  sendPrompt,
  waitForTurnEnd
} from './helpers';

const CSV = 'city,temperature,humidity\nOslo,4.5,81\nLima,19.0,77\n';

test('upload a file, the name clash asks, and the model is told', async ({
  page,
  request,
  tmpPath
}, testInfo) => {
  await newNotebook(page, 'upload.ipynb');
  await scriptModel(request, { scenario: 'echo' });
  const chat = await openChat(page);
  const input = page.locator('input.jp-codeinterp-file-input');
  const file = {
    name: 'weather.csv',
    mimeType: 'text/csv',
    buffer: Buffer.from(CSV)
  };
  await input.setInputFiles(file);
  await expect(chat.locator('.jp-codeinterp-chip')).toHaveText('weather.csv');
  await expect(
    chat
      .locator('.jp-codeinterp-note')
      .filter({ hasText: 'Uploaded weather.csv' })
  ).toBeVisible();
  expect(await page.contents.fileExists(`${tmpPath}/weather.csv`)).toBe(true);

  // same name again: asked, keep both
  await input.setInputFiles(file);
  const dialog = page.locator('.jp-Dialog');
  await expect(dialog).toContainText('already exists');
  await screenshots(page, testInfo, 'upload-clash');
  await dialog.getByRole('button', { name: 'Keep Both' }).click();
  await expect
    .poll(() => page.contents.fileExists(`${tmpPath}/weather (1).csv`))
    .toBe(true);

  await sendPrompt(page, 'What columns does it have?');
  await waitForTurnEnd(page);
  const requests = await modelRequests(request);
  const last = JSON.stringify(requests[requests.length - 1].messages);
  expect(last).toContain('I just uploaded: weather.csv');
  // the context lists the file with its columns
  expect(last).toContain('weather.csv');
  expect(last).toContain('humidity');
  await expect(chat.locator('.jp-codeinterp-chip')).toHaveCount(0);
  await screenshots(page, testInfo, 'upload-asked');
});
