// Child process of disk-tier-publish.test.ts, run under strace: opens the disk tier at argv[2], publishes one record
// with the codec argv[3], and prints the paths the entry's files have (the test reads the syscalls on them).
import type { Codec } from '../../../src/cache/codec.js';
import { openDisk } from '../disk-tier-fixture.js';
import { recordFor } from '../tier-conformance.js';

const [dir, codec] = process.argv.slice(2) as [string, Codec];
const d = openDisk(codec, dir);
const r = recordFor(3);
await d.tier.put(r);
process.stdout.write(
  JSON.stringify({ kernelPath: d.kernelPath(r), metaPath: d.metaPath(r), tempDir: d.tier.layout.tempDir }),
);
