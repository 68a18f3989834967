/**
 * Uploads into the notebook's folder through the Contents API.
 *
 * A name that already exists asks the user (replace / keep both / cancel): an
 * upload never overwrites silently. Files above the size limit are refused
 * with a clear message; big files go in 1 MiB chunks like JupyterLab's own
 * file browser does.
 */
import { Dialog, showDialog } from '@jupyterlab/apputils';
import { PathExt } from '@jupyterlab/coreutils';
import { Contents } from '@jupyterlab/services';
import { TranslationBundle } from '@jupyterlab/translation';

const CHUNK_SIZE = 1024 * 1024;

export interface IUploadResult {
  /** Server path of the uploaded file. */
  path: string;
  name: string;
  size: number;
}

export type ClashDecision = 'replace' | 'rename' | 'cancel';

export interface IUploadOptions {
  contents: Contents.IManager;
  /** Folder (server path) to upload into. */
  directory: string;
  maxBytes: number;
  trans: TranslationBundle;
  /** Ask what to do when the name exists (defaults to a dialog). */
  onClash?: (name: string) => Promise<ClashDecision>;
  onProgress?: (name: string, fraction: number) => void;
}

/** Human-readable size. */
export function formatBytes(n: number): string {
  if (n < 1024) {
    return `${n} B`;
  }
  const units = ['KB', 'MB', 'GB'];
  let v = n / 1024;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${v.toFixed(v < 10 ? 1 : 0)} ${units[i]}`;
}

/** "data.csv" -> "data (1).csv", "data (2).csv"... */
export function nextFreeName(
  name: string,
  taken: (candidate: string) => Promise<boolean>
): Promise<string> {
  const ext = PathExt.extname(name);
  const stem = ext ? name.slice(0, -ext.length) : name;
  const attempt = async (i: number): Promise<string> => {
    const candidate = `${stem} (${i})${ext}`;
    return (await taken(candidate)) ? attempt(i + 1) : candidate;
  };
  return attempt(1);
}

async function exists(
  contents: Contents.IManager,
  path: string
): Promise<boolean> {
  try {
    await contents.get(path, { content: false });
    return true;
  } catch {
    return false;
  }
}

async function askClash(
  name: string,
  trans: TranslationBundle
): Promise<ClashDecision> {
  const result = await showDialog({
    title: trans.__('"%1" already exists', name),
    body: trans.__(
      'A file named "%1" is already in the notebook\'s folder. Replace it, or keep both by saving the upload under a new name?',
      name
    ),
    buttons: [
      Dialog.cancelButton({ label: trans.__('Cancel') }),
      Dialog.warnButton({
        label: trans.__('Replace'),
        caption: trans.__('Overwrite the existing file')
      }),
      Dialog.okButton({
        label: trans.__('Keep Both'),
        caption: trans.__('Save under a new name')
      })
    ],
    defaultButton: 2
  });
  if (!result.button.accept) {
    return 'cancel';
  }
  return result.button.displayType === 'warn' ? 'replace' : 'rename';
}

function readAsBase64(blob: Blob): Promise<string> {
  return new Promise((resolve, reject) => {
    const reader = new FileReader();
    reader.onload = () => {
      const url = String(reader.result ?? '');
      resolve(url.slice(url.indexOf(',') + 1));
    };
    reader.onerror = () => reject(reader.error);
    reader.readAsDataURL(blob);
  });
}

/** Upload one file; resolves null when the user cancelled. */
export async function uploadFile(
  file: File,
  options: IUploadOptions
): Promise<IUploadResult | null> {
  const { contents, directory, maxBytes, trans } = options;
  if (file.size > maxBytes) {
    throw new Error(
      trans.__(
        '"%1" is %2; the upload limit is %3 (setting "maxUploadMB"). Copy big files next to the notebook another way.',
        file.name,
        formatBytes(file.size),
        formatBytes(maxBytes)
      )
    );
  }
  if (!file.name || file.name.includes('/') || file.name.startsWith('.')) {
    throw new Error(
      trans.__('"%1" is not a name a file can be uploaded under.', file.name)
    );
  }
  let name = file.name;
  let path = PathExt.join(directory, name);
  if (await exists(contents, path)) {
    const decision = await (options.onClash ?? (n => askClash(n, trans)))(name);
    if (decision === 'cancel') {
      return null;
    }
    if (decision === 'rename') {
      name = await nextFreeName(name, n =>
        exists(contents, PathExt.join(directory, n))
      );
      path = PathExt.join(directory, name);
    }
  }
  const chunked = file.size > CHUNK_SIZE;
  if (!chunked) {
    const content = await readAsBase64(file);
    await contents.save(path, {
      type: 'file',
      format: 'base64',
      content,
      name,
      path
    });
    options.onProgress?.(name, 1);
  } else {
    for (let start = 0; start < file.size; start += CHUNK_SIZE) {
      const end = Math.min(start + CHUNK_SIZE, file.size);
      const content = await readAsBase64(file.slice(start, end));
      const chunk = end >= file.size ? -1 : start / CHUNK_SIZE + 1;
      await contents.save(path, {
        type: 'file',
        format: 'base64',
        content,
        name,
        path,
        chunk
      });
      options.onProgress?.(name, end / file.size);
    }
  }
  return { path, name, size: file.size };
}

/** The files of a drop or paste event (ignoring plain text). */
export function filesOf(data: DataTransfer | null): File[] {
  if (!data) {
    return [];
  }
  return Array.from(data.files ?? []);
}
