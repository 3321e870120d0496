// Structure checks of Helm (Go text/template) files that need no renderer: actions closed, blocks
// balanced, and the value paths the templates read.

/** One `{{ ... }}` action of a template. */
export interface TemplateAction {
  /** The text between the delimiters, trim markers (`-`) and spaces removed. */
  readonly body: string;
  /** 1-based line of the opening `{{`. */
  readonly line: number;
}

/** A template that cannot be parsed, with the line of the fault. */
export class TemplateStructureError extends Error {
  override readonly name = 'TemplateStructureError';
}

const BLOCK_OPENERS = ['if', 'range', 'with', 'define', 'block'] as const;

/**
 * The actions of a template, in order. Throws {@link TemplateStructureError} on an action that is
 * not closed before the next one opens or the file ends, or a `}}` outside any action.
 */
export function templateActions(text: string): TemplateAction[] {
  const actions: TemplateAction[] = [];
  let offset = 0;
  const lineOf = (at: number): number => text.slice(0, at).split('\n').length;
  for (;;) {
    const open = text.indexOf('{{', offset);
    const strayClose = text.indexOf('}}', offset);
    if (strayClose !== -1 && (open === -1 || strayClose < open)) {
      throw new TemplateStructureError(`line ${String(lineOf(strayClose))}: "}}" with no "{{"`);
    }
    if (open === -1) return actions;
    const close = text.indexOf('}}', open + 2);
    const nextOpen = text.indexOf('{{', open + 2);
    if (close === -1 || (nextOpen !== -1 && nextOpen < close)) {
      throw new TemplateStructureError(`line ${String(lineOf(open))}: "{{" is not closed`);
    }
    let body = text.slice(open + 2, close).trim();
    if (body.startsWith('-')) body = body.slice(1).trim();
    if (body.endsWith('-')) body = body.slice(0, -1).trim();
    actions.push({ body, line: lineOf(open) });
    offset = close + 2;
  }
}

/**
 * Checks that `if`/`range`/`with`/`define`/`block` each meet their `end`, and that `else` sits
 * inside an `if`, `range` or `with`. Returns the problems found (empty when balanced).
 */
export function blockProblems(text: string): string[] {
  const problems: string[] = [];
  const stack: { keyword: string; line: number }[] = [];
  for (const action of templateActions(text)) {
    if (action.body.startsWith('/*')) {
      if (!action.body.endsWith('*/'))
        problems.push(`line ${String(action.line)}: unclosed comment`);
      continue;
    }
    const keyword = /^[a-z]+/.exec(action.body)?.[0] ?? '';
    if ((BLOCK_OPENERS as readonly string[]).includes(keyword)) {
      stack.push({ keyword, line: action.line });
    } else if (keyword === 'else') {
      const top = stack.at(-1);
      if (top === undefined || !['if', 'range', 'with'].includes(top.keyword)) {
        problems.push(`line ${String(action.line)}: "else" outside if/range/with`);
      }
    } else if (keyword === 'end') {
      if (stack.pop() === undefined)
        problems.push(`line ${String(action.line)}: "end" with no block`);
    }
  }
  for (const open of stack) {
    problems.push(`line ${String(open.line)}: "${open.keyword}" has no "end"`);
  }
  return problems;
}

/** Every `.Values.a.b` path read in actions of the template (without the `.Values.` prefix). */
export function valuesPaths(text: string): Set<string> {
  return variablePaths(text, '.Values');
}

/**
 * Every path read through a template variable in actions, e.g. `variablePaths(t, '$svc')` gives
 * `port`, `pdb.enabled` for `$svc.port` and `$svc.pdb.enabled`.
 */
export function variablePaths(text: string, variable: string): Set<string> {
  const escaped = variable.replace(/[.$]/g, (c) => `\\${c}`);
  const pattern = new RegExp(`${escaped}((?:\\.[A-Za-z_][A-Za-z0-9_]*)+)`, 'g');
  const paths = new Set<string>();
  for (const action of templateActions(text)) {
    for (const match of action.body.matchAll(pattern)) paths.add((match[1] ?? '').slice(1));
  }
  return paths;
}
