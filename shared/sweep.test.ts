// The expansion of a sweep, alone: grid order (product and zip), placeholders in every
// field that takes them, the parameters in env, escapes, keys, and each refusal with the
// field it names.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { MAX_SWEEP_TASKS } from './limits.js';
import { Sweep, type SweepInput } from './schemas/sweep.js';
import { compileSweep, type CompiledSweep, type SweepProblem, type SweepTask } from './sweep.js';

function compiled(input: SweepInput): CompiledSweep {
  const result = compileSweep(Sweep.parse(input));
  if (!result.ok) assert.fail(`refused: ${JSON.stringify(result.errors)}`);
  return result.sweep;
}

function tasks(input: SweepInput): SweepTask[] {
  const sweep = compiled(input);
  return Array.from({ length: sweep.size }, (_, i) => {
    const task = sweep.task(i);
    if (Array.isArray(task)) assert.fail(`task ${i} refused: ${JSON.stringify(task)}`);
    return task;
  });
}

function refusal(input: SweepInput): { status: number; errors: SweepProblem[] } {
  const result = compileSweep(Sweep.parse(input));
  if (result.ok) assert.fail('accepted');
  return result;
}

test('product: every combination, the last parameter varying fastest, numbers as strings', () => {
  const made = tasks({ template: { command: 'bwa mem {sample}.fq -k {k}' }, parameters: { sample: ['S1', 'S2'], k: [21, 31, 41] } });
  assert.deepEqual(made.map((t) => t.definition.command), [
    'bwa mem S1.fq -k 21', 'bwa mem S1.fq -k 31', 'bwa mem S1.fq -k 41',
    'bwa mem S2.fq -k 21', 'bwa mem S2.fq -k 31', 'bwa mem S2.fq -k 41',
  ]);
  assert.deepEqual(made[4]!.parameters, { sample: 'S2', k: '31' });
});

test('zip: the i-th values together', () => {
  const made = tasks({ template: { command: 'echo {a}-{b}' }, parameters: { a: ['x', 'y', 'z'], b: [1, 2, 3] }, mode: 'zip' });
  assert.deepEqual(made.map((t) => t.definition.command), ['echo x-1', 'echo y-2', 'echo z-3']);
});

test('placeholders in name, command, container, inputs, resources, output and env values; the parameters in env', () => {
  const [task] = tasks({
    template: {
      name: 'align-{sample}', command: 'run {sample}', container: 'biocontainers/bwa:{version}',
      inputs: ['s3://runs/{sample}.fq', 'https://example.org/fixed.txt'], resources: ['s3://refs/{ref}.tar.gz|untar'],
      output: 's3://results/{sample}/', env: { THREADS: '8', LABEL: '{sample}@{ref}' }, tag: 'highmem', priority: 3,
    },
    parameters: { sample: ['S12'], version: ['0.7.17'], ref: ['hg38'] },
  });
  const d = task!.definition;
  assert.equal(d.name, 'align-S12');
  assert.equal(d.command, 'run S12');
  assert.equal(d.container, 'biocontainers/bwa:0.7.17');
  assert.deepEqual(d.inputs, ['s3://runs/S12.fq', 'https://example.org/fixed.txt']);
  assert.deepEqual(d.resources, ['s3://refs/hg38.tar.gz|untar']);
  assert.equal(d.output, 's3://results/S12/');
  assert.deepEqual(d.env, { THREADS: '8', LABEL: 'S12@hg38', sample: 'S12', version: '0.7.17', ref: 'hg38' });
  assert.equal(d.tag, 'highmem');
  assert.equal(d.priority, 3);
});

test('escapes: {{ and }} are literal braces, ${name} and braces around anything else are left to the shell', () => {
  const [task] = tasks({
    template: { command: "awk '{{print}}' {f}; echo ${f} ${HOME} {1..3} {print $1} {} }{ {{f}}", inputs: ['file:///data/{{x}}/{f}'] },
    parameters: { f: ['a.txt'] },
  });
  assert.equal(task!.definition.command, "awk '{print}' a.txt; echo ${f} ${HOME} {1..3} {print $1} {} }{ {f}");
  assert.deepEqual(task!.definition.inputs, ['file:///data/{x}/a.txt']);
});

test('the tasks of one grid do not share arrays or env: each is its own', () => {
  const [a, b] = tasks({ template: { command: 'x', inputs: ['s3://b/{n}'], env: { K: 'v' } }, parameters: { n: [1, 2] } });
  assert.deepEqual(a!.definition.inputs, ['s3://b/1']);
  assert.deepEqual(b!.definition.inputs, ['s3://b/2']);
  assert.notEqual(a!.definition.env, b!.definition.env);
});

test('keys: a hash of the parameters, after the template key or a hash of the template', () => {
  const keyed = tasks({ template: { command: 'echo {n}', key: 'run7' }, parameters: { n: [1, 2] } });
  assert.match(keyed[0]!.definition.key!, /^run7:[0-9a-f]{24}$/);
  assert.notEqual(keyed[0]!.definition.key, keyed[1]!.definition.key);
  const again = tasks({ template: { command: 'echo {n} changed', key: 'run7' }, parameters: { n: ['2', '3'] } });
  assert.equal(again[0]!.definition.key, keyed[1]!.definition.key, 'same key and parameters (2 and "2" alike): same task, whatever the template says');

  const product = tasks({ template: { command: 'echo {a}{b}' }, parameters: { a: [1, 2], b: [3] } });
  const reordered = tasks({ template: { command: 'echo {a}{b}', shell: 'sh', output: null }, parameters: { b: [3], a: [2] } });
  assert.match(product[1]!.definition.key!, /^sweep-[0-9a-f]{24}:[0-9a-f]{24}$/);
  assert.equal(reordered[0]!.definition.key, product[1]!.definition.key, 'parameter order, defaults and nulls spelled out change nothing');
  const other = tasks({ template: { command: 'echo {a} {b}' }, parameters: { a: [2], b: [3] } });
  assert.notEqual(other[0]!.definition.key, product[1]!.definition.key, 'another template is another sweep');
});

test('an unknown placeholder is refused, naming the field and the parameters', () => {
  const { status, errors } = refusal({
    template: { command: "awk '{print}' {smaple}", inputs: ['s3://b/{x}'], env: { A: '{nope}' } },
    parameters: { sample: ['S1'], k: [1] },
  });
  assert.equal(status, 400);
  assert.deepEqual(errors.map((e) => e.field), ['template.command', 'template.inputs[0]', 'template.env.A']);
  assert.match(errors[0]!.message, /^unknown placeholder \{print\}: the parameters are sample, k \(write \{\{ and \}\} for literal braces\)$/);
});

test('zip with lists of different lengths is refused; so is a value or a combination given twice', () => {
  const zip = refusal({ template: { command: 'x' }, parameters: { a: [1, 2], b: [1, 2, 3] }, mode: 'zip' });
  assert.equal(zip.status, 400);
  assert.deepEqual(zip.errors, [{ field: 'parameters.b', message: 'has 3 values and parameters.a has 2: zip takes lists of one length' }]);
  const twice = refusal({ template: { command: 'x' }, parameters: { a: ['1', 2, 1] } });
  assert.deepEqual(twice.errors, [{ field: 'parameters.a[2]', message: 'repeats parameters.a[0] ("1")' }]);
  const combination = refusal({ template: { command: 'x' }, parameters: { a: [1, 2, 1], b: [5, 6, 5] }, mode: 'zip' });
  assert.deepEqual(combination.errors, [{ field: 'parameters', message: 'combination 2 repeats combination 0: a=1 b=5' }]);
});

test('a grid over 100,000 tasks is refused as too large, before anything is expanded', () => {
  const big = Array.from({ length: 1000 }, (_, i) => i);
  const { status, errors } = refusal({ template: { command: 'x' }, parameters: { a: big, b: big } });
  assert.equal(status, 413);
  assert.equal(errors[0]!.field, 'parameters');
  assert.match(errors[0]!.message, /1000 × 1000 values makes 1000000 tasks; a sweep makes at most 100000/);
  assert.equal(compiled({ template: { command: 'x' }, parameters: { a: big, b: big.slice(0, MAX_SWEEP_TASKS / 1000) } }).size, MAX_SWEEP_TASKS);
});

test('a parameter that is also in the template env is refused; so is a constant field with a bad format', () => {
  const { errors } = refusal({ template: { command: 'x', env: { n: 'v' }, output: 'gopher://x/' }, parameters: { n: [1] } });
  assert.deepEqual(errors.map((e) => e.field), ['template.env.n', 'template.output']);
});

test('a replaced value that makes a field invalid fails that task, naming the field and the parameters', () => {
  const sweep = compiled({ template: { command: 'x', inputs: ['{scheme}://b/f'], container: 'img:{v}' }, parameters: { scheme: ['s3', 'gopher'], v: ['1'] } });
  assert.ok(!Array.isArray(sweep.task(0)));
  const problems = sweep.task(1) as SweepProblem[];
  assert.deepEqual(problems.map((p) => p.field), ['template.inputs[0]']);
  assert.match(problems[0]!.message, /unsupported scheme "gopher".* \(with scheme=gopher v=1\)$/);
});

test('inputs that a replaced value makes land under one name fail that task, naming the later input and the parameters', () => {
  const sweep = compiled({ template: { command: 'x', inputs: ['s3://runs/{sample}.fq', 'ftp://ftp.example.org/pub/S1.fq'] }, parameters: { sample: ['S2', 'S1'] } });
  assert.ok(!Array.isArray(sweep.task(0)));
  assert.deepEqual(sweep.task(1), [{
    field: 'template.inputs[1]',
    message: 'lands in the input folder as S1.fq, as inputs[0] does: one would replace the other (rename one at its source, or take it as a resource with |mv:DIR) (with sample=S1)',
  }]);
});

test('a value that made the credentials of a refused URI is masked where the refusal names the parameters', () => {
  const sweep = compiled({ template: { command: 'x', inputs: ['s3://{cred}@bucket/{sample}.fq'] }, parameters: { cred: ['bob:hunter2pw'], sample: ['S1'] } });
  const problems = sweep.task(0) as SweepProblem[];
  assert.deepEqual(problems.map((p) => p.field), ['template.inputs[0]']);
  assert.match(problems[0]!.message, /credentials in a URI are refused.* \(with cred=\*\*\* sample=S1\)$/);
  assert.ok(!problems[0]!.message.includes('hunter2pw'), problems[0]!.message);
  // Nor where another field is refused, nor a value with an @ of its own, nor a repeat.
  const other = compiled({ template: { command: 'x', inputs: ['s3://{cred}@bucket/x'], output: 'gopher://{s}/' }, parameters: { cred: ['bob:p@ss'], s: ['S1'] } });
  const messages = (other.task(0) as SweepProblem[]).map((p) => p.message);
  assert.equal(messages.length, 2);
  assert.ok(messages.every((m) => m.includes('cred=***') && !m.includes('p@ss')), messages.join(' | '));
  const repeated = refusal({ template: { command: 'x', inputs: ['s3://{cred}@bucket/x'] }, parameters: { cred: ['bob:pw', 'bob:pw'] } });
  assert.ok(repeated.errors.every((e) => !e.message.includes('bob:pw')), JSON.stringify(repeated.errors));
  const zipped = refusal({ mode: 'zip', template: { command: 'x', inputs: ['s3://{cred}@bucket/{s}'] }, parameters: { cred: ['bob:pw', 'bob:pw'], s: ['S1', 'S1'] } });
  assert.ok(zipped.errors.every((e) => !e.message.includes('bob:pw') && e.message.includes('cred=***')), JSON.stringify(zipped.errors));
});

test('the body schema refuses bad parameter names, empty lists and other values', () => {
  const bad = Sweep.safeParse({ template: { command: 'x' }, parameters: { '1bad': [1], OUTPUT: [1], empty: [], obj: [{}] } });
  assert.ok(!bad.success);
  const paths = bad.error.issues.map((i) => i.path.join('.'));
  for (const path of ['parameters.1bad', 'parameters.OUTPUT', 'parameters.empty', 'parameters.obj.0']) assert.ok(paths.includes(path), `${path} in ${paths}`);
  assert.ok(!Sweep.safeParse({ template: { command: 'x' }, parameters: {} }).success);
  assert.ok(!Sweep.safeParse({ template: { command: 'x', key: 'k'.repeat(151) }, parameters: { a: [1] } }).success);
});

test('a refusal names at most 20 problems', () => {
  const { errors } = refusal({ template: { command: 'x' }, parameters: { a: Array.from({ length: 1000 }, () => 'same') } });
  assert.equal(errors.length, 20);
  const zipped = refusal({ template: { command: 'x' }, parameters: { a: Array(500).fill(1), b: Array(500).fill(2) }, mode: 'zip' });
  assert.equal(zipped.errors.length, 20);
});
