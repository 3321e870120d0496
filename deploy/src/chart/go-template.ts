// A small renderer for the subset of Go text/template and Helm's functions that this chart uses,
// so that tests can render the chart without helm. It is not a general Helm: unknown functions,
// syntax or fields it cannot handle throw, naming them, rather than render something else.
import { createHash } from 'node:crypto';
import { stringify } from 'yaml';

/** A value inside a template: what YAML values and template functions produce. */
export type TemplateValue = unknown;

/** `fail` was called, or the template could not be rendered. */
export class TemplateRenderError extends Error {
  override readonly name = 'TemplateRenderError';
}

type Node =
  | { kind: 'text'; text: string }
  | { kind: 'action'; pipeline: Pipeline }
  | { kind: 'if'; branches: { condition: Pipeline; body: Node[] }[]; otherwise: Node[] }
  | { kind: 'range'; pipeline: Pipeline; body: Node[]; otherwise: Node[] }
  | { kind: 'with'; pipeline: Pipeline; body: Node[]; otherwise: Node[] };

interface Pipeline {
  readonly declare?: { names: string[]; assign: boolean };
  readonly commands: Operand[][];
}

type Operand =
  | { kind: 'literal'; value: TemplateValue }
  | { kind: 'field'; base: string | undefined; path: string[] } // base: undefined is the dot
  | { kind: 'function'; name: string }
  | { kind: 'group'; pipeline: Pipeline; path: string[] };

// ---------------------------------------------------------------- lexing: text and actions

interface Piece {
  readonly text?: string;
  readonly action?: string;
}

function split(source: string): Piece[] {
  const pieces: Piece[] = [];
  let offset = 0;
  for (;;) {
    const open = source.indexOf('{{', offset);
    if (open === -1) {
      pieces.push({ text: source.slice(offset) });
      return pieces;
    }
    const close = source.indexOf('}}', open + 2);
    if (close === -1) throw new TemplateRenderError('unclosed action');
    let text = source.slice(offset, open);
    let body = source.slice(open + 2, close);
    if (body.startsWith('-') && /\s/.test(body[1] ?? '')) {
      text = text.replace(/\s+$/, '');
      body = body.slice(1);
    }
    let trimAfter = false;
    if (body.endsWith('-') && /\s/.test(body.at(-2) ?? '')) {
      trimAfter = true;
      body = body.slice(0, -1);
    }
    pieces.push({ text }, { action: body.trim() });
    offset = close + 2;
    if (trimAfter) while (/\s/.test(source[offset] ?? '')) offset++;
  }
}

// ---------------------------------------------------------------- parsing actions

function tokenize(action: string): string[] {
  const tokens: string[] = [];
  const pattern =
    /\s+|("(?:[^"\\]|\\.)*")|(`[^`]*`)|(:=|=|\(|\)|\||,)|(-?\d+(?:\.\d+)?)(?![\w.])|(\$?\w*(?:\.\w+)+|\$\w*|\w+|\.)/gy;
  let match: RegExpExecArray | null;
  while (pattern.lastIndex < action.length && (match = pattern.exec(action)) !== null) {
    if (match[0] === '') throw new TemplateRenderError(`cannot read "${action}"`);
    if (!/^\s+$/.test(match[0])) tokens.push(match[0]);
  }
  if (pattern.lastIndex < action.length) throw new TemplateRenderError(`cannot read "${action}"`);
  return tokens;
}

function parsePipeline(tokens: string[]): Pipeline {
  let position = 0;
  let declare: Pipeline['declare'];
  // `$a := ...`, `$a, $b := ...`, `$a = ...`
  const names: string[] = [];
  let probe = 0;
  while (tokens[probe]?.startsWith('$') && !tokens[probe]?.includes('.')) {
    names.push(tokens[probe] ?? '');
    probe++;
    if (tokens[probe] === ',') probe++;
    else break;
  }
  if (names.length > 0 && (tokens[probe] === ':=' || tokens[probe] === '=')) {
    declare = { names, assign: tokens[probe] === '=' };
    position = probe + 1;
  }
  const parseCommands = (): { commands: Operand[][]; end: number } => {
    const commands: Operand[][] = [[]];
    while (position < tokens.length) {
      const token = tokens[position] ?? '';
      if (token === ')') break;
      position++;
      if (token === '|') {
        commands.push([]);
        continue;
      }
      commands.at(-1)?.push(operandOf(token));
    }
    return { commands, end: position };
  };
  const operandOf = (token: string): Operand => {
    if (token === '(') {
      const inner = parseCommands();
      if (tokens[position] !== ')') throw new TemplateRenderError('unbalanced parentheses');
      position++;
      return { kind: 'group', pipeline: { commands: inner.commands }, path: [] };
    }
    if (token.startsWith('"')) return { kind: 'literal', value: JSON.parse(token) as string };
    if (token.startsWith('`')) return { kind: 'literal', value: token.slice(1, -1) };
    if (/^-?\d/.test(token)) return { kind: 'literal', value: Number(token) };
    if (token === 'true' || token === 'false') return { kind: 'literal', value: token === 'true' };
    if (token === 'nil') return { kind: 'literal', value: null };
    if (token === '.') return { kind: 'field', base: undefined, path: [] };
    if (token.startsWith('.'))
      return { kind: 'field', base: undefined, path: token.slice(1).split('.') };
    if (token.startsWith('$')) {
      const [base, ...path] = token.split('.');
      return { kind: 'field', base, path };
    }
    return { kind: 'function', name: token };
  };
  const { commands } = parseCommands();
  if (position !== tokens.length)
    throw new TemplateRenderError(`unexpected "${tokens[position] ?? ''}"`);
  return { ...(declare === undefined ? {} : { declare }), commands };
}

function parse(source: string, defines: Map<string, Node[]>): Node[] {
  const pieces = split(source);
  let index = 0;
  const block = (until: string[]): { nodes: Node[]; stop: string } => {
    const nodes: Node[] = [];
    while (index < pieces.length) {
      const piece = pieces[index++] ?? {};
      if (piece.text !== undefined) {
        if (piece.text !== '') nodes.push({ kind: 'text', text: piece.text });
        continue;
      }
      const action = piece.action ?? '';
      if (action.startsWith('/*')) continue;
      const keyword = /^[a-z]+/.exec(action)?.[0] ?? '';
      const rest = action.slice(keyword.length).trim();
      if (keyword === 'end' || keyword === 'else') {
        if (until.includes(keyword)) return { nodes, stop: action };
        throw new TemplateRenderError(`unexpected {{ ${action} }}`);
      }
      if (keyword === 'if') {
        const branches = [{ condition: parsePipeline(tokenize(rest)), body: [] as Node[] }];
        let otherwise: Node[] = [];
        for (;;) {
          const part = block(['end', 'else']);
          const current = branches.at(-1);
          if (current !== undefined && otherwise.length === 0) current.body = part.nodes;
          if (part.stop === 'end') break;
          const elseRest = part.stop.slice(4).trim();
          if (elseRest.startsWith('if ')) {
            branches.push({ condition: parsePipeline(tokenize(elseRest.slice(3))), body: [] });
          } else {
            const tail = block(['end']);
            otherwise = tail.nodes;
            break;
          }
        }
        nodes.push({ kind: 'if', branches, otherwise });
      } else if (keyword === 'range' || keyword === 'with') {
        const pipeline = parsePipeline(tokenize(rest));
        const body = block(['end', 'else']);
        const otherwise = body.stop === 'end' ? [] : block(['end']).nodes;
        nodes.push({ kind: keyword, pipeline, body: body.nodes, otherwise });
      } else if (keyword === 'define') {
        const name = JSON.parse(rest) as string;
        defines.set(name, block(['end']).nodes);
      } else {
        nodes.push({ kind: 'action', pipeline: parsePipeline(tokenize(action)) });
      }
    }
    if (until.length > 0) throw new TemplateRenderError(`missing {{ end }}`);
    return { nodes, stop: '' };
  };
  return block([]).nodes;
}

// ---------------------------------------------------------------- evaluation

function truthy(value: TemplateValue): boolean {
  if (value === undefined || value === null || value === false || value === 0 || value === '') {
    return false;
  }
  if (Array.isArray(value)) return value.length > 0;
  if (typeof value === 'object') return Object.keys(value).length > 0;
  return true;
}

function text(value: TemplateValue): string {
  if (value === undefined || value === null) return '';
  if (typeof value === 'string') return value;
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  return JSON.stringify(value) ?? '';
}

function field(value: TemplateValue, path: readonly string[]): TemplateValue {
  let current = value;
  for (const key of path) {
    if (current === undefined || current === null) return undefined;
    if (typeof current !== 'object' || Array.isArray(current)) {
      throw new TemplateRenderError(`cannot read .${key} of ${text(current)}`);
    }
    current = (current as Record<string, TemplateValue>)[key];
  }
  return current;
}

function printf(format: string, args: TemplateValue[]): string {
  let next = 0;
  return format.replace(
    /%(-?)(\d*)([sdvq%])/g,
    (_all, left: string, width: string, verb: string) => {
      if (verb === '%') return '%';
      const value = args[next++];
      let out =
        verb === 'd'
          ? String(Math.trunc(Number(value)))
          : verb === 'q'
            ? JSON.stringify(text(value))
            : text(value);
      const pad = Number(width || 0) - out.length;
      if (pad > 0) out = left === '-' ? out + ' '.repeat(pad) : ' '.repeat(pad) + out;
      return out;
    },
  );
}

function indentLines(spaces: number, value: string): string {
  const pad = ' '.repeat(spaces);
  return value
    .split('\n')
    .map((line) => pad + line)
    .join('\n');
}

type Scope = Map<string, TemplateValue>[];

const BASE_PATH = 'lathe/templates';

/** The chart-level objects templates see besides `.Values`. */
export interface RenderContext {
  /** `.Values`. */
  readonly values: TemplateValue;
  /** `.Release`: Name, Namespace, Service. */
  readonly release: { readonly name: string; readonly namespace: string };
  /** `.Chart` as Chart.yaml has it (Name, Version, AppVersion). */
  readonly chart: { readonly name: string; readonly version: string; readonly appVersion: string };
}

/** A chart's templates, parsed once and rendered per context. */
export class ChartTemplates {
  private readonly defines = new Map<string, Node[]>();
  private readonly files = new Map<string, Node[]>();

  /** `files`: template file name (e.g. `services.yaml`) to its source. */
  constructor(files: ReadonlyMap<string, string>) {
    for (const [name, source] of files) {
      try {
        const nodes = parse(source, this.defines);
        this.files.set(name, nodes);
        // Helm names every file as a template too: include (print .Template.BasePath "/x.yaml").
        this.defines.set(`${BASE_PATH}/${name}`, nodes);
      } catch (error) {
        throw new TemplateRenderError(`${name}: ${(error as Error).message}`);
      }
    }
  }

  /**
   * Renders every file whose name does not start with `_`, like `helm template`: file name to
   * output. Throws {@link TemplateRenderError} with the message of a `fail`.
   */
  render(context: RenderContext): Map<string, string> {
    const root = {
      Values: context.values,
      Release: {
        Name: context.release.name,
        Namespace: context.release.namespace,
        Service: 'Helm',
      },
      Chart: {
        Name: context.chart.name,
        Version: context.chart.version,
        AppVersion: context.chart.appVersion,
      },
      Template: { BasePath: BASE_PATH },
    };
    const outputs = new Map<string, string>();
    for (const [name, nodes] of this.files) {
      if (name.startsWith('_')) continue;
      outputs.set(name, this.run(nodes, root, [new Map([['$', root]])], root));
    }
    return outputs;
  }

  private run(nodes: Node[], dot: TemplateValue, scope: Scope, root: TemplateValue): string {
    let out = '';
    for (const node of nodes) {
      switch (node.kind) {
        case 'text':
          out += node.text;
          break;
        case 'action': {
          const value = this.pipeline(node.pipeline, dot, scope, root);
          if (node.pipeline.declare === undefined) out += text(value);
          break;
        }
        case 'if': {
          const inner: Scope = [...scope, new Map<string, TemplateValue>()];
          const branch = node.branches.find((b) =>
            truthy(this.pipeline(b.condition, dot, inner, root)),
          );
          out += this.run(branch?.body ?? node.otherwise, dot, inner, root);
          break;
        }
        case 'with': {
          const inner: Scope = [...scope, new Map<string, TemplateValue>()];
          const value = this.pipeline(node.pipeline, dot, inner, root);
          out += truthy(value)
            ? this.run(node.body, value, inner, root)
            : this.run(node.otherwise, dot, inner, root);
          break;
        }
        case 'range': {
          const names = node.pipeline.declare?.names ?? [];
          const source = this.pipeline({ commands: node.pipeline.commands }, dot, scope, root);
          const entries: [TemplateValue, TemplateValue][] = Array.isArray(source)
            ? source.map((v, i) => [i, v])
            : source !== null && typeof source === 'object'
              ? Object.keys(source)
                  .sort()
                  .map((k) => [k, (source as Record<string, TemplateValue>)[k]])
              : [];
          if (entries.length === 0) out += this.run(node.otherwise, dot, scope, root);
          for (const [key, value] of entries) {
            const inner = new Map<string, TemplateValue>();
            if (names.length === 1) inner.set(names[0] ?? '', value);
            if (names.length === 2) {
              inner.set(names[0] ?? '', key);
              inner.set(names[1] ?? '', value);
            }
            out += this.run(node.body, value, [...scope, inner], root);
          }
          break;
        }
      }
    }
    return out;
  }

  private pipeline(
    pipeline: Pipeline,
    dot: TemplateValue,
    scope: Scope,
    root: TemplateValue,
  ): TemplateValue {
    let value: TemplateValue = undefined;
    pipeline.commands.forEach((command, i) => {
      value = this.command(command, i === 0 ? undefined : { value }, dot, scope, root);
    });
    const declare = pipeline.declare;
    if (declare !== undefined) {
      const name = declare.names[0] ?? '';
      if (declare.assign) {
        const owner = [...scope].reverse().find((frame) => frame.has(name));
        if (owner === undefined) throw new TemplateRenderError(`undefined variable ${name}`);
        owner.set(name, value);
      } else {
        scope.at(-1)?.set(name, value);
      }
    }
    return value;
  }

  private operand(
    operand: Operand,
    dot: TemplateValue,
    scope: Scope,
    root: TemplateValue,
  ): TemplateValue {
    switch (operand.kind) {
      case 'literal':
        return operand.value;
      case 'group':
        return field(this.pipeline(operand.pipeline, dot, scope, root), operand.path);
      case 'field': {
        if (operand.base === undefined) return field(dot, operand.path);
        const frame = [...scope].reverse().find((f) => f.has(operand.base ?? ''));
        if (frame === undefined)
          throw new TemplateRenderError(`undefined variable ${operand.base}`);
        return field(frame.get(operand.base), operand.path);
      }
      case 'function':
        return this.call(operand.name, [], root);
    }
  }

  private command(
    command: Operand[],
    piped: { value: TemplateValue } | undefined,
    dot: TemplateValue,
    scope: Scope,
    root: TemplateValue,
  ): TemplateValue {
    const [head, ...rest] = command;
    if (head === undefined) throw new TemplateRenderError('empty command');
    const args = rest.map((operand) => this.operand(operand, dot, scope, root));
    if (piped !== undefined) args.push(piped.value);
    if (head.kind === 'function') return this.call(head.name, args, root);
    if (args.length > 0) throw new TemplateRenderError('arguments given to a value');
    return this.operand(head, dot, scope, root);
  }

  private call(name: string, args: TemplateValue[], root: TemplateValue): TemplateValue {
    const [a, b, c] = args;
    const number = (v: TemplateValue): number => Math.trunc(Number(v ?? 0));
    switch (name) {
      case 'include': {
        const nodes = this.defines.get(text(a));
        if (nodes === undefined) throw new TemplateRenderError(`no template "${text(a)}"`);
        return this.run(nodes, b, [new Map([['$', b]])], root);
      }
      case 'fail':
        throw new TemplateRenderError(text(a));
      case 'printf':
        return printf(text(a), args.slice(1));
      case 'print':
        return args.map(text).join('');
      case 'quote':
        return JSON.stringify(text(a));
      case 'toString':
        return text(a);
      case 'toYaml':
        return a === undefined || a === null
          ? 'null'
          : stringify(a, { sortMapEntries: true }).trimEnd();
      case 'nindent':
        return `\n${indentLines(number(a), text(b))}`;
      case 'indent':
        return indentLines(number(a), text(b));
      case 'default':
        return truthy(b) ? b : a;
      case 'ternary':
        return truthy(c) ? a : b;
      case 'trunc':
        return text(b).slice(0, number(a));
      case 'trimSuffix':
        return text(b).endsWith(text(a)) ? text(b).slice(0, -text(a).length || undefined) : text(b);
      case 'replace':
        return text(c).replaceAll(text(a), text(b));
      case 'contains':
        return text(b).includes(text(a));
      case 'upper':
        return text(a).toUpperCase();
      case 'urlquery':
        return encodeURIComponent(text(a)).replace(/%20/g, '+');
      case 'sha256sum':
        return createHash('sha256').update(text(a)).digest('hex');
      case 'dict': {
        const out: Record<string, TemplateValue> = {};
        for (let i = 0; i + 1 < args.length; i += 2) out[text(args[i])] = args[i + 1];
        return out;
      }
      case 'list':
        return [...args];
      case 'index':
        return field(a, args.slice(1).map(text));
      case 'has':
        return Array.isArray(b) && b.includes(a);
      case 'hasKey':
        return a !== null && typeof a === 'object' && Object.hasOwn(a, text(b));
      case 'eq':
        return args.slice(1).some((v) => v === a);
      case 'ne':
        return a !== b;
      case 'gt':
        return Number(a) > Number(b);
      case 'and':
        return args.find((v) => !truthy(v)) ?? args.at(-1);
      case 'or':
        return args.find((v) => truthy(v)) ?? args.at(-1);
      case 'not':
        return !truthy(a);
      case 'int':
        return number(a);
      case 'add':
        return args.reduce<number>((sum, v) => sum + Number(v), 0);
      case 'add1':
        return Number(a) + 1;
      case 'div':
        return Math.trunc(number(a) / number(b));
      default:
        throw new TemplateRenderError(`function "${name}" is not supported by this renderer`);
    }
  }
}
