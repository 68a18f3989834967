/**
 * Small widgets attached to notebook cells (the "Fix this error" bar, the
 * proposed-fix diff, the generate prompt box). They live in the cell's own
 * layout, so they scroll, hide and dispose with the cell, and never touch the
 * notebook model (no dirty state, nothing saved).
 */
import { Cell } from '@jupyterlab/cells';
import { PanelLayout, Widget } from '@lumino/widgets';

export type DecorationPlace = 'above-input' | 'below-output';

/** Attach `widget` to `cell` once the cell is rendered. */
export async function attachToCell(
  cell: Cell,
  widget: Widget,
  place: DecorationPlace
): Promise<void> {
  await cell.ready;
  if (cell.isDisposed || widget.isDisposed) {
    return;
  }
  const layout = cell.layout as PanelLayout;
  const widgets = layout.widgets;
  let index: number;
  if (place === 'above-input') {
    const input = widgets.findIndex(w => w.hasClass('jp-Cell-inputWrapper'));
    index = input >= 0 ? input : 0;
  } else {
    const footer = widgets.findIndex(w => w.hasClass('jp-CellFooter'));
    index = footer >= 0 ? footer : widgets.length;
  }
  layout.insertWidget(index, widget);
}

/** A decoration of `cls` already on the cell, if any. */
export function findDecoration<T extends Widget>(
  cell: Cell,
  cls: string
): T | undefined {
  const layout = cell.layout as PanelLayout | null;
  if (!layout) {
    return undefined;
  }
  return layout.widgets.find(w => w.hasClass(cls)) as T | undefined;
}
