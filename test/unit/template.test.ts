import { renderTemplate, scanTemplate, TemplateError, templateRefs } from '../../src/workflows/template';

describe('templateRefs', () => {
  it('lists every placeholder kind in order', () => {
    expect(
      templateRefs(
        '{{input}} {{steps.a}} {{b}} {{steps.c.x.y}} {{d.z}} {{item}} {{item.id}} {{loop.iteration}} {{loop.previous}}',
      ),
    ).toEqual([
      { kind: 'input' },
      { kind: 'step', name: 'a' },
      { kind: 'step', name: 'b' },
      { kind: 'step', name: 'c', path: ['x', 'y'] },
      { kind: 'step', name: 'd', path: ['z'] },
      { kind: 'item' },
      { kind: 'item', path: ['id'] },
      { kind: 'loop', name: 'iteration' },
      { kind: 'loop', name: 'previous' },
    ]);
  });

  it('allows spaces inside braces and hyphens in names', () => {
    expect(templateRefs('{{ steps.ship-it }}')).toEqual([{ kind: 'step', name: 'ship-it' }]);
  });

  it('returns nothing for plain text and escaped braces', () => {
    expect(templateRefs('no placeholders } here }}')).toEqual([]);
    expect(templateRefs('literal \\{{input}}')).toEqual([]);
  });

  it.each([
    ['{{}}', 'invalid placeholder'],
    ['{{ two words }}', 'invalid placeholder'],
    ['{{steps}}', 'name the step'],
    ['{{loop}}', 'loop offers'],
    ['{{loop.count}}', 'loop offers'],
    ['{{loop.iteration.x}}', 'loop offers'],
    ['{{{input}}}', 'invalid placeholder'],
    ['Hello {{input', 'unclosed placeholder'],
    ['{{steps..a}}', 'invalid placeholder'],
  ])('refuses %s', (template, message) => {
    expect(() => templateRefs(template)).toThrow(TemplateError);
    expect(() => templateRefs(template)).toThrow(message);
  });

  it('scanTemplate collects every error instead of stopping at the first', () => {
    const { refs, errors } = scanTemplate('{{ a b }} {{input}} {{loop.x}} {{steps.ok}} {{oops');
    expect(refs).toEqual([{ kind: 'input' }, { kind: 'step', name: 'ok' }]);
    expect(errors.map((e) => e.placeholder)).toEqual(['{{ a b }}', '{{loop.x}}', '{{oops']);
  });
});

describe('renderTemplate', () => {
  const scope = {
    input: 'the code',
    steps: { triage: '{"category":"billing","n":3,"tags":["a"],"nested":{"ok":true}}', draft: 'Draft text' },
  };

  it('fills input and step outputs, by either spelling', () => {
    expect(renderTemplate('Review {{input}}; {{steps.draft}} / {{draft}}', scope)).toBe(
      'Review the code; Draft text / Draft text',
    );
  });

  it('reads JSON fields; non-strings come out as JSON', () => {
    expect(
      renderTemplate('{{steps.triage.category}} {{triage.n}} {{triage.tags}} {{triage.nested.ok}}', scope),
    ).toBe('billing 3 ["a"] true');
  });

  it('fills item and loop values', () => {
    expect(
      renderTemplate('{{item}} #{{loop.iteration}} after {{loop.previous}}', {
        ...scope,
        item: 'x',
        loop: { iteration: 2, previous: 'p' },
      }),
    ).toBe('x #2 after p');
    expect(renderTemplate('{{item.id}}', { ...scope, item: '{"id":7}' })).toBe('7');
  });

  it('renders loop.previous as empty on the first iteration', () => {
    expect(renderTemplate('[{{loop.previous}}]', { ...scope, loop: { iteration: 1 } })).toBe('[]');
  });

  it('keeps escaped braces literal and leaves other text alone', () => {
    expect(renderTemplate('\\{{input}} and }} and {single}', scope)).toBe('{{input}} and }} and {single}');
  });

  it.each([
    ['{{steps.missing}}', "step 'missing' has no output"],
    ['{{constructor}}', "step 'constructor' has no output"],
    ['{{draft.field}}', 'is not JSON'],
    ['{{triage.nope}}', "has no field 'nope'"],
    ['{{triage.category.deeper}}', "has no field 'category.deeper'"],
    ['{{triage.toString}}', "has no field 'toString'"],
    ['{{item}}', 'no item here'],
    ['{{loop.iteration}}', 'not inside a loop'],
  ])('throws naming the ref for %s', (template, message) => {
    let error: unknown;
    try {
      renderTemplate(template, scope);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(TemplateError);
    expect((error as Error).message).toContain(template);
    expect((error as Error).message).toContain(message);
  });

  it('is deterministic: same template and scope, same text', () => {
    const t = '{{input}}|{{triage.tags}}|{{draft}}';
    expect(renderTemplate(t, scope)).toBe(renderTemplate(t, scope));
  });
});

test('a field of a skipped step (empty output) renders empty, like its whole output', () => {
  expect(renderTemplate('[{{steps.billing.amount}}]', { input: '', steps: { billing: '' } })).toBe('[]');
});
