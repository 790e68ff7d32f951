// Several users on one machine, for real: users and a group made by the test (root only, as in CI), each lookup a
// child process run as that user (setpriv) from a world-readable copy of the cache layer. Private caches refuse a
// tree another user could write to; group mode (CUOP_CACHE_SHARED=group) shares entries within the group only.
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  chmodSync,
  chownSync,
  copyFileSync,
  cpSync,
  mkdirSync,
  mkdtempSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';

import { kernelSource, nvccCubin } from './fixtures.js';

const TEAM = 'cuoptest-team';
const USERS = { alice: 'cuoptest-alice', bob: 'cuoptest-bob', carol: 'cuoptest-carol' } as const;
type Who = keyof typeof USERS;

function has(cmd: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${cmd}`]).status === 0;
}
const skip: string | false =
  process.getuid?.() !== 0
    ? 'needs root (to create the test users), as on the CI machine'
    : !has('useradd') || !has('groupadd') || !has('setpriv')
      ? 'needs useradd, groupadd and setpriv'
      : false;
if (skip) console.log(`# multi-user tests skipped: ${skip}`);

let stage = '';
let node = process.execPath;
const ids: Record<Who, { uid: number; gid: number }> = {} as never;

before(() => {
  if (skip) return;
  spawnSync('groupadd', ['-f', TEAM]);
  for (const [who, name] of Object.entries(USERS)) {
    if (spawnSync('id', [name]).status !== 0) {
      const group = who === 'carol' ? [] : ['-g', TEAM];
      execFileSync('useradd', ['-M', '-N', '-s', '/usr/sbin/nologin', ...group, name]);
    }
    const uid = Number(execFileSync('id', ['-u', name], { encoding: 'utf8' }));
    const gid = Number(execFileSync('id', ['-g', name], { encoding: 'utf8' }));
    ids[who as Who] = { uid, gid };
  }
  // What the other users run: the built cache layer and the worker, copied where everyone may read them.
  stage = mkdtempSync(join(tmpdir(), 'cuop-users-'));
  chmodSync(stage, 0o755);
  const build = fileURLToPath(new URL('../../', import.meta.url));
  for (const part of [
    'src/cache',
    'src/settings',
    'src/cuda/errors.js',
    'test/cache/workers/user-lookup.js',
  ]) {
    cpSync(join(build, part), join(stage, 'build', part), { recursive: true });
  }
  writeFileSync(join(stage, 'package.json'), '{"type":"module"}');
  // A node binary under /root (Node 24 in CI) is out of the other users' reach: give them a copy.
  if (
    spawnSync('setpriv', [`--reuid=${USERS.alice}`, `--regid=${TEAM}`, '--clear-groups', node, '-e', '0'])
      .status !== 0
  ) {
    copyFileSync(process.execPath, join(stage, 'node'));
    node = join(stage, 'node');
  }
  execFileSync('chmod', ['-R', 'a+rX', stage]);
  for (let i = 0; i < 3; i++) writeFileSync(join(stage, `k${i}.cubin`), nvccCubin(kernelSource(40 + i)));
  execFileSync('chmod', ['a+r', ...[0, 1, 2].map((i) => join(stage, `k${i}.cubin`))]);
});
after(() => {
  if (stage) rmSync(stage, { recursive: true, force: true });
});

interface Result {
  tier: string;
  dir: string | null;
  warns: string[];
  imageSha256: string;
}

/** One lookup as `who` (their groups as the system has them) of the kernel whose compile returns cubin `image`. */
function as(who: Who, dir: string, image: number, env: Record<string, string> = {}): Result {
  const r = spawnSync(
    'setpriv',
    [
      `--reuid=${USERS[who]}`,
      `--regid=${ids[who].gid}`,
      '--init-groups',
      node,
      join(stage, 'build/test/cache/workers/user-lookup.js'),
      dir,
      'extern "C" __global__ void k(float* x) { x[0] = 1.0f; }',
      join(stage, `k${image}.cubin`),
    ],
    { encoding: 'utf8', timeout: 20_000, env: { PATH: process.env['PATH'], HOME: '/nonexistent', ...env } },
  );
  assert.equal(r.status, 0, `${who}: ${r.stderr}`);
  return JSON.parse(r.stdout) as Result;
}
const sha = (image: number) =>
  createHash('sha256')
    .update(nvccCubin(kernelSource(40 + image)))
    .digest('hex');
const group = { CUOP_CACHE_SHARED: 'group' };

test('3. a member of the group cannot plant a cubin in a private cache made group-writable', { skip }, () => {
  const dir = join(stage, 'alice-cache');
  mkdirSync(dir, { mode: 0o700 });
  chownSync(dir, ids.alice.uid, ids.alice.gid);
  assert.equal(as('alice', dir, 0).tier, 'compiled');
  // alice opens her dir to the group; bob replaces the entries with his own, self-consistent ones
  execFileSync('chmod', ['-R', 'g+rwX', dir]);
  execFileSync('chgrp', ['-R', TEAM, dir]);
  rmSync(join(dir, 'kernels'), { recursive: true });
  rmSync(join(dir, 'metadata'), { recursive: true });
  const planted = as('bob', dir, 1, group);
  assert.equal(planted.tier, 'compiled', "bob published his image under alice's key");
  const r = as('alice', dir, 0);
  assert.notEqual(r.imageSha256, sha(1), "never bob's cubin");
  assert.equal(r.imageSha256, sha(0));
  assert.equal(r.dir, null, 'alice refuses the tree');
  assert.match(r.warns.join('\n'), /group-writable/);
});

test(
  'group mode: members share entries; a user outside the group is refused; world-writable never',
  { skip },
  () => {
    const dir = join(stage, 'team-cache');
    mkdirSync(dir);
    chownSync(dir, ids.alice.uid, ids.alice.gid); // alice's primary group is the team
    chmodSync(dir, 0o2770);
    const first = as('alice', dir, 0, group);
    assert.equal(first.tier, 'compiled');
    const st = statSync(join(dir, 'kernels'));
    assert.equal(st.mode & 0o7777, 0o2770, 'the tree is made setgid and group-writable');
    const bob = as('bob', dir, 1, group);
    assert.equal(bob.tier, 'disk', "bob hits alice's entry");
    assert.equal(bob.imageSha256, sha(0));
    const carol = as('carol', dir, 2, group);
    assert.equal(carol.dir, null, 'carol (not in the group) cannot use it');
    assert.equal(carol.imageSha256, sha(2));
    // bob, in private mode, refuses the shared tree rather than trusting alice's files
    assert.equal(as('bob', dir, 1).dir, null);
    chmodSync(dir, 0o2777);
    const world = as('alice', dir, 0, group);
    assert.equal(world.dir, null);
    assert.match(world.warns.join('\n'), /world-writable/);
  },
);
