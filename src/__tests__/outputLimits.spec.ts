import {
  clipCells,
  clipOutputs,
  clipText,
  CONTEXT_LIMITS,
  RUN_LIMITS
} from '../outputLimits';

describe('outputLimits', () => {
  it('keeps short texts and clips long ones to head and tail', () => {
    expect(clipText('short', 10, 10)).toBe('short');
    const long = 'a'.repeat(1000) + 'MIDDLE' + 'z'.repeat(1000);
    const clipped = clipText(long, 100, 50);
    expect(clipped.startsWith('a'.repeat(100))).toBe(true);
    expect(clipped.endsWith('z'.repeat(50))).toBe(true);
    expect(clipped).toContain('characters not sent');
    expect(clipped).not.toContain('MIDDLE');
  });

  it('bounds a 50 MB print well under the socket frame limit', () => {
    const huge = 'x'.repeat(50 * 1024 * 1024);
    const out = clipOutputs([
      { output_type: 'stream', name: 'stdout', text: huge }
    ]);
    expect(JSON.stringify(out).length).toBeLessThan(
      RUN_LIMITS.textHead + RUN_LIMITS.textTail + 1000
    );
  });

  it('keeps the first and last outputs and says how many were dropped', () => {
    const many = Array.from({ length: 500 }, (_, i) => ({
      output_type: 'stream',
      name: 'stdout',
      text: `line ${i}\n`
    }));
    const out = clipOutputs(many);
    expect(out.length).toBe(
      RUN_LIMITS.firstOutputs + RUN_LIMITS.lastOutputs + 1
    );
    expect(out[RUN_LIMITS.firstOutputs].text).toContain('440 outputs not sent');
    expect(out[out.length - 1].text).toBe('line 499\n');
  });

  it('keeps a few images, replaces binary data with a note, never mutates', () => {
    const png = 'iVBOR'.repeat(10);
    const outputs: Record<string, any>[] = [
      ...Array.from({ length: 6 }, () => ({
        output_type: 'display_data',
        data: { 'image/png': png, 'text/plain': '<Figure>' },
        metadata: {}
      })),
      {
        output_type: 'display_data',
        data: { 'application/octet-stream': 'AAAA' },
        metadata: {}
      }
    ];
    const out = clipOutputs(outputs);
    expect(out.filter(o => o.data['image/png']).length).toBe(
      RUN_LIMITS.maxImages
    );
    expect(out[6].data['text/plain']).toContain(
      'application/octet-stream not sent'
    );
    expect(outputs[5].data['image/png']).toBe(png);
  });

  it('sends context cells without images', () => {
    const cells: Record<string, any>[] = [
      {
        cell_type: 'code',
        source: 'plot()',
        outputs: [{ output_type: 'display_data', data: { 'image/png': 'AAA' } }]
      },
      { cell_type: 'markdown', source: '# t' }
    ];
    const out = clipCells(cells, CONTEXT_LIMITS);
    expect(out[0].outputs[0].data['image/png']).toBeUndefined();
    expect(out[1]).toBe(cells[1]);
  });
});
