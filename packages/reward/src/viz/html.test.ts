import { escapeXml, flaggedWordIndices, galleryHtml, htmlTable, promptHtml } from './html';

describe('html fragments', () => {
  it('marks flagged words by word (any case, every occurrence) or by the decoder sequence (position)', () => {
    const prompt = 'a red cat and a red dog.';
    expect([...flaggedWordIndices(prompt, ['RED', 'dog'])]).toEqual([1, 5, 6]);
    expect([...flaggedWordIndices(prompt, { sequence: 'a red cat and a red_0 dog' })]).toEqual([5]);
    const html = promptHtml(prompt, { sequence: 'a red cat and a red_0 dog' });
    expect((html.match(/<mark/g) ?? []).length).toBe(1);
    expect(html).toMatch(/a <mark[^>]*>red<\/mark> dog/);
  });

  it('tables round numbers, keep strings, and escape markup', () => {
    const t = htmlTable([{ image: '<b>x</b>', plausibility: 0.123456, n: 3 }], { digits: 2 });
    expect(t).toContain('<th>plausibility</th>');
    expect(t).toContain('>0.12<');
    expect(t).toContain('>3<');
    expect(t).toContain('&lt;b&gt;x&lt;/b&gt;');
    expect(() => htmlTable([])).toThrow(/no rows/);
  });

  it('gallery embeds each PNG as a data URL with its caption', () => {
    const g = galleryHtml([{ png: Buffer.from([1, 2, 3]), caption: 'a & b' }]);
    expect(g).toContain('src="data:image/png;base64,AQID"');
    expect(g).toContain('a &amp; b');
    expect(escapeXml(`"'`)).toBe('&quot;&#39;');
  });
});
