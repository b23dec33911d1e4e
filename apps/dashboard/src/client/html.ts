/** Markup that is safe to insert as it is: built by `html`, never from a string as it came. */
export class Html {
  constructor(readonly value: string) {}

  toString(): string {
    return this.value;
  }
}

type Part = Html | string | number | null | undefined | false | readonly Part[];

const ESCAPES: Record<string, string> = {
  '&': '&amp;',
  '<': '&lt;',
  '>': '&gt;',
  '"': '&quot;',
  "'": '&#39;',
};

export const escapeText = (text: string): string => text.replace(/[&<>"']/g, (c) => ESCAPES[c]);

function render(part: Part): string {
  if (part instanceof Html) return part.value;
  if (Array.isArray(part)) return (part as readonly Part[]).map(render).join('');
  if (part === null || part === undefined || part === false) return '';
  return escapeText(String(part));
}

/**
 * HTML or SVG from a template: every interpolated value is escaped (names, actions and ids come
 * from the APIs), except nested `html` results; arrays are joined; null, undefined and false
 * render nothing.
 */
export function html(strings: TemplateStringsArray, ...values: Part[]): Html {
  let out = strings[0];
  values.forEach((value, i) => {
    out += render(value) + strings[i + 1];
  });
  return new Html(out);
}
