// A task's output with its ANSI colours, as HTML: the text is escaped first, then the SGR
// sequences (ESC[…m) become spans with classes; every other escape sequence (cursor moves,
// erase line) is dropped. Colours are classes, not inline styles, so the theme decides them.
const ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };

export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => ESCAPES[c]!);
}

interface Style {
  fg: string | null;
  bg: string | null;
  bold: boolean;
  dim: boolean;
  italic: boolean;
  underline: boolean;
}

const PLAIN: Style = { fg: null, bg: null, bold: false, dim: false, italic: false, underline: false };

function apply(style: Style, codes: number[]): Style {
  const next = { ...style };
  for (let i = 0; i < codes.length; i++) {
    const code = codes[i]!;
    if (code === 0) Object.assign(next, PLAIN);
    else if (code === 1) next.bold = true;
    else if (code === 2) next.dim = true;
    else if (code === 3) next.italic = true;
    else if (code === 4) next.underline = true;
    else if (code === 22) next.bold = next.dim = false;
    else if (code === 23) next.italic = false;
    else if (code === 24) next.underline = false;
    else if (code >= 30 && code <= 37) next.fg = String(code - 30);
    else if (code >= 90 && code <= 97) next.fg = String(code - 90 + 8);
    else if (code === 39) next.fg = null;
    else if (code >= 40 && code <= 47) next.bg = String(code - 40);
    else if (code >= 100 && code <= 107) next.bg = String(code - 100 + 8);
    else if (code === 49) next.bg = null;
    else if ((code === 38 || code === 48) && codes[i + 1] === 5) {
      // 256 colours: the 16 basic ones keep their classes; the rest fall back to the default.
      const n = codes[i + 2] ?? 0;
      if (code === 38) next.fg = n < 16 ? String(n) : null;
      else next.bg = n < 16 ? String(n) : null;
      i += 2;
    } else if ((code === 38 || code === 48) && codes[i + 1] === 2) i += 4;
  }
  return next;
}

function classes(style: Style): string {
  const list: string[] = [];
  if (style.fg !== null) list.push(`ansi-fg${style.fg}`);
  if (style.bg !== null) list.push(`ansi-bg${style.bg}`);
  if (style.bold) list.push('ansi-bold');
  if (style.dim) list.push('ansi-dim');
  if (style.italic) list.push('ansi-italic');
  if (style.underline) list.push('ansi-underline');
  return list.join(' ');
}

/**
 * Converts a stream of output to HTML piece by piece: the style carries over from one call
 * to the next, as it does in a terminal, and an escape sequence cut between two chunks is
 * held back until the rest arrives.
 */
export class AnsiToHtml {
  private style: Style = { ...PLAIN };
  private pending = '';

  push(text: string): string {
    let input = this.pending + text;
    this.pending = '';
    const cut = input.lastIndexOf('\x1b');
    if (cut >= 0 && !/^\x1b\[[0-9;?]*[A-Za-z]/.test(input.slice(cut)) && input.length - cut < 32) {
      this.pending = input.slice(cut);
      input = input.slice(0, cut);
    }
    let html = '';
    let last = 0;
    const pattern = /\x1b\[([0-9;?]*)([A-Za-z])|\x1b[()][A-Za-z0-9]|\x1b[=>]/g;
    for (let match = pattern.exec(input); match; match = pattern.exec(input)) {
      html += this.wrap(input.slice(last, match.index));
      last = pattern.lastIndex;
      if (match[2] === 'm') this.style = apply(this.style, (match[1] || '0').split(';').map((n) => Number(n) || 0));
    }
    return html + this.wrap(input.slice(last));
  }

  private wrap(text: string): string {
    if (!text) return '';
    const escaped = escapeHtml(text.replace(/\r(?!\n)/g, ''));
    const names = classes(this.style);
    return names ? `<span class="${names}">${escaped}</span>` : escaped;
  }
}
