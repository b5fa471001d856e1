import test from 'ava';
import * as fs from 'fs';
import * as path from 'path';

// The documentation, checked: the README stays a short front door, every relative link in it and in
// docs/ reaches a file (and a heading, for #anchors), every docs/ file is reachable from the README or
// the docs index, and the README's commands table names exactly the commands suite/cli.ts registers.
// docs/notes/ holds other branches' working notes and is not checked.
const ROOT = path.join(__dirname, '..', '..');
const README_MAX_LINES = 320;

/** Markdown with fenced code blocks and inline code spans blanked out, so links shown as code are not links. */
function withoutCode(markdown: string): string {
  return markdown.replace(/^(```|~~~)[^\n]*\n[\s\S]*?^\1[^\n]*$/gm, '').replace(/`[^`\n]*`/g, '');
}

/** Targets of the inline links and images in a Markdown text, outside code. */
function linkTargets(markdown: string): string[] {
  const out: string[] = [];
  for (const m of withoutCode(markdown).matchAll(/!?\[[^\]\n]*\]\(\s*<?([^)\s>]+)>?(?:\s+"[^"]*")?\s*\)/g)) out.push(m[1]);
  return out;
}

/** GitHub's anchor for a heading: the rendered text, lower-cased, without punctuation, spaces as hyphens. */
function headingSlug(heading: string): string {
  const text = heading
    .replace(/`([^`]*)`/g, '$1')
    .replace(/\[([^\]]*)\]\([^)]*\)/g, '$1')
    .replace(/\*{1,3}([^*]+)\*{1,3}/g, '$1');
  return text
    .trim()
    .toLowerCase()
    .replace(/[^\p{L}\p{N}\s_-]/gu, '')
    .replace(/\s/g, '-');
}

/** Every anchor a Markdown file's headings define (repeated headings get -1, -2, ... as on GitHub). */
function anchors(markdown: string): Set<string> {
  const out = new Set<string>();
  const seen = new Map<string, number>();
  const noFences = markdown.replace(/^(```|~~~)[^\n]*\n[\s\S]*?^\1[^\n]*$/gm, '');
  for (const m of noFences.matchAll(/^#{1,6}\s+(.+?)\s*#*\s*$/gm)) {
    const slug = headingSlug(m[1]);
    const n = seen.get(slug) ?? 0;
    seen.set(slug, n + 1);
    out.add(n === 0 ? slug : `${slug}-${n}`);
  }
  return out;
}

/** Problems with the relative links of one Markdown file (absolute URLs are not followed). */
function brokenLinks(file: string, markdown: string, read: (p: string) => string | undefined): string[] {
  const problems: string[] = [];
  for (const target of linkTargets(markdown)) {
    if (/^[a-z][a-z0-9+.-]*:/i.test(target)) continue;
    const [rel, anchor] = target.split('#', 2);
    const resolved = rel === '' ? file : path.normalize(path.join(path.dirname(file), decodeURI(rel)));
    const text = read(resolved);
    if (text === undefined) {
      problems.push(`${file}: link to ${target}: ${resolved} does not exist`);
      continue;
    }
    if (anchor !== undefined && resolved.endsWith('.md') && !anchors(text).has(anchor)) problems.push(`${file}: link to ${target}: no heading #${anchor} in ${resolved}`);
  }
  return problems;
}

/** The commands suite/cli.ts registers, read from its COMMANDS table. */
function registeredCommands(cliSource: string): string[] {
  const table = /const COMMANDS\b[^{]*\{([\s\S]*?)\n\};/.exec(cliSource);
  if (!table) return [];
  return [...table[1].matchAll(/^\s*([a-z][a-z-]*)\s*:\s*\(\)\s*=>/gm)].map((m) => m[1]);
}

/** The commands named in the first column of the table that follows a Markdown heading. */
function commandsInTable(markdown: string, heading: string): string[] {
  const lines = markdown.split('\n');
  const start = lines.findIndex((l) => l.replace(/^#+\s*/, '') === heading && l.startsWith('#'));
  if (start < 0) return [];
  const out: string[] = [];
  let inTable = false;
  for (const line of lines.slice(start + 1)) {
    if (line.startsWith('#')) break;
    if (!line.startsWith('|')) {
      if (inTable) break;
      continue;
    }
    inTable = true;
    const m = /^\|\s*`vicinal ([a-z][a-z-]*)\b/.exec(line);
    if (m) out.push(m[1]);
  }
  return out;
}

/** Reads a repository file (or reports a folder as present), undefined when missing. */
function readRepo(rel: string): string | undefined {
  const p = path.join(ROOT, rel);
  if (!fs.existsSync(p)) return undefined;
  return fs.statSync(p).isDirectory() ? '' : fs.readFileSync(p, 'utf8');
}

const docsFiles = (): string[] =>
  fs
    .readdirSync(path.join(ROOT, 'docs'))
    .filter((f) => f.endsWith('.md'))
    .map((f) => path.join('docs', f));

test('the extractors catch what they must on tiny samples', (t) => {
  const sample = [
    '# Top',
    '## Your own data: `files`',
    '## Top',
    'See [a](a.md), [b](b.md#your-own-data-files) and ![img](pic.png "t"), [web](https://x.org/y).',
    'Code is not a link: `[x](nowhere.md)`.',
    '```',
    '[y](nowhere-either.md)',
    '```',
  ].join('\n');
  t.deepEqual(linkTargets(sample), ['a.md', 'b.md#your-own-data-files', 'pic.png', 'https://x.org/y']);
  t.deepEqual([...anchors(sample)], ['top', 'your-own-data-files', 'top-1']);
  t.is(headingSlug("Are the quick profile's attacks converged?"), 'are-the-quick-profiles-attacks-converged');
  t.is(headingSlug('The `nightly` profile, per job'), 'the-nightly-profile-per-job');
  const files: Record<string, string> = { 'docs/x.md': '[ok](y.md#here) [gone](z.md) [bad anchor](y.md#there) [self](#top)\n# Top', 'docs/y.md': '## Here' };
  t.deepEqual(
    brokenLinks('docs/x.md', files['docs/x.md'], (p) => files[p]),
    ['docs/x.md: link to z.md: docs/z.md does not exist', 'docs/x.md: link to y.md#there: no heading #there in docs/y.md'],
  );
  t.deepEqual(registeredCommands("const COMMANDS: Record<string, () => C> = {\n  run: () => require('a'),\n  'x': 1,\n  merge: () => require('b'),\n};"), ['run', 'merge']);
  const table = '## Commands\n\ntext\n\n| command | what |\n| --- | --- |\n| `vicinal run X` | a |\n| `vicinal merge` | b |\n\n| `vicinal other` | not this table |';
  t.deepEqual(commandsInTable(table, 'Commands'), ['run', 'merge']);
  t.deepEqual(commandsInTable(table, 'Missing'), []);
});

test(`README.md is a front door of at most ${README_MAX_LINES} lines`, (t) => {
  const lines = readRepo('README.md')!.split('\n').length;
  t.true(lines <= README_MAX_LINES, `README.md has ${lines} lines; move reference material into docs/`);
});

test('every relative link in README.md and docs/*.md reaches a file, and every #anchor a heading', (t) => {
  const files = ['README.md', ...docsFiles()];
  t.true(files.length > 5, 'docs/ holds the reference files');
  let links = 0;
  const problems: string[] = [];
  for (const file of files) {
    const text = readRepo(file)!;
    links += linkTargets(text).length;
    problems.push(...brokenLinks(file, text, readRepo));
  }
  t.true(links > 20, `found ${links} links`);
  t.deepEqual(problems, []);
});

test('every docs/*.md file is linked from README.md or docs/README.md', (t) => {
  const linked = new Set<string>();
  for (const index of ['README.md', path.join('docs', 'README.md')]) {
    for (const target of linkTargets(readRepo(index)!)) {
      if (/^[a-z][a-z0-9+.-]*:/i.test(target)) continue;
      linked.add(path.normalize(path.join(path.dirname(index), target.split('#')[0])));
    }
  }
  const unlinked = docsFiles().filter((f) => f !== path.join('docs', 'README.md') && !linked.has(f));
  t.deepEqual(unlinked, []);
  t.true(linked.has(path.join('docs', 'README.md')), 'README.md links the docs index');
});

test("the README's commands table and docs/commands.md list exactly the commands suite/cli.ts registers", (t) => {
  const registered = registeredCommands(readRepo(path.join('suite', 'cli.ts'))!).sort();
  t.true(registered.includes('run') && registered.length >= 9, `read ${registered.length} commands from suite/cli.ts: ${registered.join(', ')}`);
  t.deepEqual([...new Set(commandsInTable(readRepo('README.md')!, 'Commands'))].sort(), registered);
  t.deepEqual([...new Set(commandsInTable(readRepo(path.join('docs', 'commands.md'))!, 'Commands'))].sort(), registered);
});
