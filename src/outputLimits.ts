/**
 * Bounding what the notebook sends back to the server.
 *
 * A cell can print 50 MB or display a dozen large plots; the chat socket accepts
 * frames up to 8 MiB and the model only ever sees the head and tail of an output.
 * These functions keep each `executor_reply` small and predictable: the head and
 * tail of long texts, the first and last outputs, a few images, and placeholders
 * for the rest, always saying what was left out. The notebook itself keeps
 * everything; only the copy sent to the server is clipped.
 */

export interface IOutputLimits {
  /** Characters kept from the start of a long text output. */
  textHead: number;
  /** Characters kept from the end of a long text output. */
  textTail: number;
  /** Outputs kept from the start and from the end of a long list. */
  firstOutputs: number;
  lastOutputs: number;
  /** Images kept, and the largest kept (base64 characters). */
  maxImages: number;
  maxImageChars: number;
  /** Rough bound on the whole result, in characters. */
  totalChars: number;
}

/** For a cell the agent ran: what the model and the chat card need. */
export const RUN_LIMITS: IOutputLimits = {
  textHead: 50_000,
  textTail: 20_000,
  firstOutputs: 50,
  lastOutputs: 10,
  maxImages: 4,
  maxImageChars: 2 * 1024 * 1024,
  totalChars: 4 * 1024 * 1024
};

/** For the notebook's cells sent as context: summaries are enough, no images. */
export const CONTEXT_LIMITS: IOutputLimits = {
  textHead: 2_000,
  textTail: 1_000,
  firstOutputs: 5,
  lastOutputs: 3,
  maxImages: 0,
  maxImageChars: 0,
  totalChars: 1024 * 1024
};

type Output = Record<string, any>;

function joinText(value: unknown): string {
  return Array.isArray(value) ? value.join('') : String(value ?? '');
}

/** The head and tail of a long text, with a note of how much was cut. */
export function clipText(text: string, head: number, tail: number): string {
  if (text.length <= head + tail + 80) {
    return text;
  }
  const cut = text.length - head - tail;
  return `${text.slice(0, head)}\n… [${cut} characters not sent] …\n${text.slice(
    text.length - tail
  )}`;
}

function isImage(mime: string): boolean {
  return mime.startsWith('image/');
}

function isText(mime: string): boolean {
  return (
    mime.startsWith('text/') ||
    mime === 'application/json' ||
    mime === 'application/javascript'
  );
}

function sizeOf(output: Output): number {
  try {
    return JSON.stringify(output).length;
  } catch {
    return 0;
  }
}

/**
 * A copy of `outputs` within `limits`; the original array is not touched.
 */
export function clipOutputs(
  outputs: Output[],
  limits: IOutputLimits = RUN_LIMITS
): Output[] {
  let list = outputs;
  const omittedOutputs = list.length - limits.firstOutputs - limits.lastOutputs;
  if (omittedOutputs > 0) {
    list = [
      ...list.slice(0, limits.firstOutputs),
      {
        output_type: 'stream',
        name: 'stdout',
        text: `… [${omittedOutputs} outputs not sent] …\n`
      },
      ...list.slice(list.length - limits.lastOutputs)
    ];
  }
  let images = 0;
  const clipped = list.map(output => {
    const copy: Output = { ...output };
    if (copy.output_type === 'stream') {
      copy.text = clipText(
        joinText(copy.text),
        limits.textHead,
        limits.textTail
      );
    } else if (copy.output_type === 'error') {
      copy.traceback = (copy.traceback ?? [])
        .slice(-40)
        .map((line: string) =>
          clipText(String(line), limits.textHead, limits.textTail)
        );
    } else if (copy.data && typeof copy.data === 'object') {
      const data: Record<string, any> = {};
      for (const [mime, value] of Object.entries(copy.data)) {
        const text = joinText(value);
        if (isImage(mime)) {
          if (
            images < limits.maxImages &&
            text.length <= limits.maxImageChars
          ) {
            data[mime] = value;
            images++;
          } else {
            data['text/plain'] ??= `[${mime} not sent, ${text.length} bytes]`;
          }
        } else if (isText(mime)) {
          data[mime] =
            mime === 'application/json'
              ? value
              : clipText(text, limits.textHead, limits.textTail);
          if (mime === 'application/json' && text.length > limits.textHead) {
            delete data[mime];
            data['text/plain'] ??= `[${mime} not sent, ${text.length} bytes]`;
          }
        } else {
          data['text/plain'] ??= `[${mime} not sent, ${text.length} bytes]`;
        }
      }
      copy.data = data;
    }
    return copy;
  });
  // still too big: drop images first, then whole outputs from the middle
  let total = clipped.reduce((n, o) => n + sizeOf(o), 0);
  for (const output of clipped) {
    if (total <= limits.totalChars) {
      break;
    }
    for (const mime of Object.keys(output.data ?? {})) {
      if (isImage(mime)) {
        const before = sizeOf(output);
        delete output.data[mime];
        output.data['text/plain'] ??=
          `[${mime} not sent: the reply was too large]`;
        total -= before - sizeOf(output);
      }
    }
  }
  while (total > limits.totalChars && clipped.length > 2) {
    const [removed] = clipped.splice(Math.floor(clipped.length / 2), 1);
    total -= sizeOf(removed);
  }
  return clipped;
}

/** nbformat cells with each code cell's outputs clipped (for `read_cells`). */
export function clipCells<T extends Record<string, any>>(
  cells: T[],
  limits: IOutputLimits = CONTEXT_LIMITS
): T[] {
  return cells.map(cell =>
    cell.cell_type === 'code' && Array.isArray(cell.outputs)
      ? { ...cell, outputs: clipOutputs(cell.outputs, limits) }
      : cell
  );
}
