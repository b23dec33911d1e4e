// Aligned text tables for the demo's and the CLI's output.

/**
 * Renders rows (arrays of cells) under a header, two spaces between columns; `align` says per
 * column 'l' or 'r' (numbers right-aligned). A row `null` draws a rule.
 */
export function table(header, rows, align = '', indent = '  ') {
  const all = [header, ...rows.filter(Boolean)].map((r) => r.map((c) => String(c ?? '')));
  const widths = header.map((_, i) => Math.max(...all.map((r) => (r[i] ?? '').length)));
  const line = (r) =>
    indent +
    r
      .map((c, i) => (align[i] === 'r' ? c.padStart(widths[i]) : c.padEnd(widths[i])))
      .join('  ')
      .trimEnd();
  const rule = indent + widths.map((w) => '─'.repeat(w)).join('  ');
  const out = [line(header.map(String)), rule];
  for (const r of rows) out.push(r ? line(r.map((c) => String(c ?? ''))) : rule);
  return out.join('\n');
}

/** Thousands separators for an integer or a decimal string (`12345.5` → `12,345.5`). */
export function grouped(value) {
  const [whole, frac] = String(value).split('.');
  return `${whole.replace(/\B(?=(\d{3})+(?!\d))/g, ',')}${frac ? `.${frac}` : ''}`;
}
