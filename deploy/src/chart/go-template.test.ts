import { describe, expect, it } from 'vitest';
import { ChartTemplates, TemplateRenderError } from './go-template.js';

function render(source: string, values: unknown = {}, helpers = ''): string {
  const templates = new ChartTemplates(
    new Map([
      ['_helpers.tpl', helpers],
      ['t.yaml', source],
    ]),
  );
  return (
    templates
      .render({
        values,
        release: { name: 'rel', namespace: 'ns' },
        chart: { name: 'c', version: '1.0.0', appVersion: '2' },
      })
      .get('t.yaml') ?? ''
  );
}

describe('the chart renderer (Go template subset)', () => {
  it('trims around {{- and -}} and prints fields, missing ones as nothing', () => {
    expect(render('a:  {{- .Values.x -}}  \n b {{ .Values.y.z }}|', { x: 1 })).toBe('a:1b |');
    expect(render('{{ .Release.Name }}/{{ .Release.Namespace }}/{{ .Chart.AppVersion }}')).toBe(
      'rel/ns/2',
    );
  });

  it('takes if / else if / else by Go truthiness', () => {
    const t = '{{ if .Values.a }}A{{ else if .Values.b }}B{{ else }}C{{ end }}';
    expect(render(t, { a: 1 })).toBe('A');
    expect(render(t, { a: 0, b: 'x' })).toBe('B');
    expect(render(t, { a: [], b: {} })).toBe('C');
    expect(render(t, { a: '', b: false })).toBe('C');
  });

  it('ranges over lists and over maps in key order, with variables and $', () => {
    expect(render('{{ range $x := list "a" "b" }}{{ $x }}{{ $.Release.Name }},{{ end }}')).toBe(
      'arel,brel,',
    );
    expect(
      render('{{ range $k, $v := .Values.m }}{{ $k }}={{ $v }};{{ end }}', { m: { b: 2, a: 1 } }),
    ).toBe('a=1;b=2;');
    expect(render('{{ range .Values.m }}x{{ else }}empty{{ end }}', { m: [] })).toBe('empty');
    expect(render('{{ with .Values.m }}{{ .k }}{{ end }}', { m: { k: 'v' } })).toBe('v');
  });

  it('declares and assigns variables across block scopes', () => {
    const t = '{{- $n := 0 -}}{{ if true }}{{ $n = add1 $n }}{{ end }}{{ $n }}';
    expect(render(t)).toBe('1');
  });

  it('runs pipelines, sub-expressions and include with a dict', () => {
    const helpers = '{{- define "x" -}}{{ .a }}-{{ .b | upper }}{{- end -}}';
    expect(render('{{ include "x" (dict "a" 1 "b" "q") | quote }}', {}, helpers)).toBe('"1-Q"');
    expect(render('{{ printf "%s:%d|%-4s|" "p" 50061 "ab" }}')).toBe('p:50061|ab  |');
    expect(render('{{ ternary "y" "n" (eq (int .Values.g) 0) }}', { g: 0.4 })).toBe('y');
    expect(render('{{ default 7 .Values.none }} {{ default 7 .Values.some }}', { some: 3 })).toBe(
      '7 3',
    );
    expect(render('x:{{ toYaml .Values.m | nindent 2 }}', { m: { b: [1], a: 'z' } })).toBe(
      'x:\n  a: z\n  b:\n    - 1',
    );
  });

  it('fails with the message of fail, and names what it cannot do', () => {
    expect(() => render('{{ fail "no database" }}')).toThrow(
      new TemplateRenderError('no database'),
    );
    expect(() => render('{{ lookup "v1" "Secret" "ns" "x" }}')).toThrow(
      /"lookup" is not supported/,
    );
    expect(() => render('{{ if .x }}open')).toThrow(/missing \{\{ end \}\}/);
    expect(() => render('{{ $nope }}')).toThrow(/undefined variable \$nope/);
  });
});
