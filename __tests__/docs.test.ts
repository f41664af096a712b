// Users read action.yml and the README, never the code first: both must list the same inputs and
// outputs, and the README must not document one that does not exist.
import fs from 'node:fs';
import path from 'node:path';
import { actionDefaults, ROOT } from './helpers/action-runner.js';

const yml = fs.readFileSync(path.join(ROOT, 'action.yml'), 'utf8');
const readme = fs.readFileSync(path.join(ROOT, 'README.md'), 'utf8');

function section(name: string): string[] {
  const body = yml.split(new RegExp(`^${name}:\\s*$`, 'm'))[1]?.split(/^\S/m)[0] ?? '';
  return [...body.matchAll(/^ {2}([a-z][a-z0-9-]*):\s*$/gm)].map((m) => m[1]);
}

function readmeTable(heading: string): string[] {
  const body = readme.split(new RegExp(`^## ${heading}\\s*$`, 'm'))[1]?.split(/^## /m)[0] ?? '';
  return [...body.matchAll(/^\| `([a-z][a-z0-9-]*)` \|/gm)].map((m) => m[1]);
}

test('every input in action.yml is in the README table, and only those', () => {
  expect(readmeTable('Inputs').sort()).toEqual(section('inputs').sort());
});

test('every output in action.yml is in the README table, and only those', () => {
  expect(readmeTable('Outputs').sort()).toEqual(section('outputs').sort());
});

test('every input and output in action.yml has a description', () => {
  for (const name of [...section('inputs'), ...section('outputs')]) expect(yml).toMatch(new RegExp(`^ {2}${name}:\\s*\\n {4}description:`, 'm'));
});

test('literal defaults in action.yml match the README', () => {
  for (const [name, value] of Object.entries(actionDefaults())) {
    if (value === '') continue;
    const row = readme.split('\n').find((l) => l.startsWith(`| \`${name}\` |`)) ?? '';
    expect(`${name}: ${row.split('|')[2]?.trim()}`).toBe(`${name}: \`${value}\``);
  }
});

test('action.yml runs the committed bundles on node24 and always runs post', () => {
  expect(yml).toMatch(/using: node24/);
  expect(yml).toMatch(/main: dist\/main\.js/);
  expect(yml).toMatch(/post: dist\/post\.js/);
  expect(yml).toMatch(/post-if: always\(\)/);
  for (const f of ['main.js', 'post.js', 'keeper.js']) expect(fs.existsSync(path.join(ROOT, 'dist', f))).toBe(true);
});
