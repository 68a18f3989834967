import { expect, IJupyterLabPageFixture, test } from '@jupyterlab/galata';
import { Locator } from '@playwright/test';

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

/** The chat says the file was uploaded, and it is in the notebook's folder. */
async function expectUploaded(
  page: IJupyterLabPageFixture,
  chat: Locator,
  folder: string,
  name: string
): Promise<void> {
  await expect(
    chat.locator('.jp-codeinterp-note').filter({ hasText: `Uploaded ${name}` })
  ).toBeVisible();
  expect(await page.contents.fileExists(`${folder}/${name}`)).toBe(true);
}

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
  await expectUploaded(page, chat, tmpPath, 'weather.csv');

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

/** Dispatch a drag-and-drop or a paste carrying one file, as the browser does. */
async function fileEvent(
  page: IJupyterLabPageFixture,
  selector: string,
  kind: 'drop' | 'paste',
  name: string,
  content: string
): Promise<void> {
  await page.evaluate(
    ({ selector, kind, name, content }) => {
      const target = document.querySelector(selector)!;
      const data = new DataTransfer();
      data.items.add(new File([content], name, { type: 'text/csv' }));
      if (kind === 'paste') {
        target.dispatchEvent(
          new ClipboardEvent('paste', {
            clipboardData: data,
            bubbles: true,
            cancelable: true
          })
        );
        return;
      }
      for (const type of ['dragenter', 'dragover', 'drop']) {
        target.dispatchEvent(
          new DragEvent(type, {
            dataTransfer: data,
            bubbles: true,
            cancelable: true
          })
        );
      }
    },
    { selector, kind, name, content }
  );
}

test('drag-and-drop and paste upload files too', async ({
  page,
  request,
  tmpPath
}, testInfo) => {
  await newNotebook(page, 'dropped.ipynb');
  await scriptModel(request, { scenario: 'echo' });
  const chat = await openChat(page);

  await fileEvent(
    page,
    '.jp-codeinterp-messages',
    'drop',
    'dropped.csv',
    'a,b\n1,2\n'
  );
  await expectUploaded(page, chat, tmpPath, 'dropped.csv');
  // the drop highlight does not stay on
  await expect(chat.locator('.jp-codeinterp-panel')).not.toHaveClass(
    /jp-mod-dropTarget/
  );

  await fileEvent(
    page,
    '.jp-codeinterp-input',
    'paste',
    'pasted.csv',
    'x,y\n3,4\n'
  );
  await expectUploaded(page, chat, tmpPath, 'pasted.csv');
  await expect(chat.locator('.jp-codeinterp-chip')).toHaveText([
    'dropped.csv',
    'pasted.csv'
  ]);
  await screenshots(page, testInfo, 'upload-drop-paste');

  await sendPrompt(page, 'Compare the two files');
  await waitForTurnEnd(page);
  const requests = await modelRequests(request);
  const last = JSON.stringify(requests[requests.length - 1].messages);
  expect(last).toContain('dropped.csv');
  expect(last).toContain('pasted.csv');
});
