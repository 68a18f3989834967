/**
 * A chat as Markdown, for "Export chat to Markdown": prompts, the model's
 * text, each cell's code, state and summary, files written, errors and notes,
 * answers not backed by a cell, and what each turn changed in the notebook.
 */
import { IStepView, ITurnView } from './types';

/** The chat as Markdown (for export). */
export function chatToMarkdown(
  chat: {
    title: string;
    turns: ReadonlyArray<ITurnView>;
    steps: ReadonlyMap<string, IStepView>;
  },
  notebookName: string
): string {
  const lines: string[] = [
    `# ${chat.title || 'Chat'}`,
    '',
    `Notebook: \`${notebookName}\``,
    ''
  ];
  for (const turn of chat.turns) {
    lines.push(`## You`, '', turn.prompt, '', `## Code Interpreter`, '');
    for (const item of turn.items) {
      if (item.kind === 'text') {
        lines.push(item.text.trim(), '');
      } else if (item.kind === 'step') {
        const step = chat.steps.get(item.stepId);
        if (!step) {
          continue;
        }
        if (step.tool === 'run_code') {
          const attempt =
            (step.max_attempts ?? 1) > 1 && (step.attempt ?? 1) > 1
              ? ` (attempt ${step.attempt} of ${step.max_attempts})`
              : '';
          lines.push(
            '```python',
            step.code ?? '',
            '```',
            `*${step.state}${attempt}*`,
            ''
          );
          if (step.summary) {
            lines.push('```', step.summary, '```', '');
          }
          for (const file of step.files ?? []) {
            lines.push(`- file: [${file}](${file})`);
          }
        } else {
          lines.push(`*${step.tool}: ${step.summary ?? ''}*`, '');
        }
      } else if (item.kind === 'error') {
        lines.push(`> **Error:** ${item.error.message}`, '');
      } else if (item.kind === 'note') {
        lines.push(`> ${item.text}`, '');
      }
    }
    if (turn.grounding === 'not_computed') {
      lines.push('> **Not computed from your data**', '');
    } else if (turn.grounding === 'unverified') {
      lines.push('> **Numbers not found in any output of this turn**', '');
    }
    const cells = turn.changes?.cells ?? [];
    if (cells.length) {
      const added = cells.filter(c => c.kind === 'added').length;
      const fixed = cells.length - added;
      const parts = [
        added && `${added} cell${added === 1 ? '' : 's'} added`,
        fixed && `${fixed} cell${fixed === 1 ? '' : 's'} fixed`
      ].filter(Boolean);
      lines.push(`*Notebook: ${parts.join(', ')}*`, '');
    }
    if (turn.status && turn.status !== 'done') {
      lines.push(`*(turn ${turn.status})*`, '');
    }
  }
  return lines.join('\n').replace(/\n{3,}/g, '\n\n') + '\n';
}
