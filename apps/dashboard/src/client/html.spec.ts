import { html } from './html';

describe(html.name, () => {
  it('escapes every interpolated value, in text and in attributes', () => {
    const name = `<img src=x onerror="alert('x')">&`;
    expect(html`<td title="${name}">${name}</td>`.value).toBe(
      '<td title="&lt;img src=x onerror=&quot;alert(&#39;x&#39;)&quot;&gt;&amp;">&lt;img src=x onerror=&quot;alert(&#39;x&#39;)&quot;&gt;&amp;</td>',
    );
  });

  it('keeps nested markup, joins arrays and renders nothing for null, undefined and false', () => {
    const items = ['a<b', 'c'].map((s) => html`<li>${s}</li>`);
    const absent = [null, undefined, false] as const;
    expect(html`${items}${absent}${0}`.value).toBe('<li>a&lt;b</li><li>c</li>0');
  });
});
