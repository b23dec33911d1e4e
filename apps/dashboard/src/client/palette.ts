/** Well-separated series colours for the first tenants; later ones are spread around the hue circle. */
const BASE = [
  '#4e79a7',
  '#f28e2b',
  '#59a14f',
  '#b07aa1',
  '#76b7b2',
  '#edc948',
  '#9c755f',
  '#ff9da7',
  '#bab0ac',
  '#e15759',
];

function hslHex(hue: number, saturation: number, lightness: number): string {
  const a = saturation * Math.min(lightness, 1 - lightness);
  const channel = (n: number) => {
    const k = (n + hue / 30) % 12;
    const v = lightness - a * Math.max(-1, Math.min(k - 3, 9 - k, 1));
    return Math.round(v * 255)
      .toString(16)
      .padStart(2, '0');
  };
  return `#${channel(0)}${channel(8)}${channel(4)}`;
}

/** The colour of the `index`-th series: the same index always gets the same colour. */
export function seriesColour(index: number): string {
  if (index < BASE.length) return BASE[index];
  const n = index - BASE.length;
  // Golden-angle hues with alternating lightness keep neighbours apart however many tenants.
  return hslHex((n * 137.508 + 15) % 360, 0.55, n % 2 ? 0.42 : 0.62);
}

/** Colours by tenant id, in the given order (the tenant list's), so every chart agrees. */
export class TenantColours {
  private readonly colours = new Map<string, string>();

  constructor(tenantIds: readonly string[]) {
    tenantIds.forEach((id) => this.colours.set(id, seriesColour(this.colours.size)));
  }

  of(tenantId: string): string {
    let colour = this.colours.get(tenantId);
    if (!colour) {
      colour = seriesColour(this.colours.size);
      this.colours.set(tenantId, colour);
    }
    return colour;
  }
}
