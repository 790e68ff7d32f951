// The operators' generated CUDA sources are part of the persistent cache's keys (the key hashes the source, the
// options, the headers and the kernel name): a byte changed anywhere in a generator invalidates every kernel that
// users have cached. This test pins, for a broad set of specializations of every operator, a SHA-256 digest of the
// full JIT request (the KernelSpec: source, name, headers, options, signature, programName; for GEMM also the launch
// shape the generator reports) to the value recorded from the generators as they stood before their CUDA text moved
// into src/ops/cuda/*.cu(h). Refactors of the generators must keep every digest.
//
// Changing a kernel on purpose changes its digests: run with CUOP_PRINT_DIGESTS=1 to print the new table, check that
// only the intended entries moved, and paste it here.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { test } from 'node:test';

import type { KernelSpec } from '../../src/jit/types.js';
import { elementwiseSource, ew, type EwExpr } from '../../src/ops/elementwise-source.js';
import { Elementwise, Gelu, kernelSpecFrom } from '../../src/ops/elementwise.js';
import { GEMM_CONFIGS, gemmSource, type GemmConfig } from '../../src/ops/gemm-source.js';
import { Gemm, kernelSpecOf } from '../../src/ops/gemm.js';
import { reduceSource, reduceSplitSource } from '../../src/ops/reduce-source.js';
import { Reduce } from '../../src/ops/reduce.js';
import { softmaxSource, softmaxSplitSource } from '../../src/ops/softmax-source.js';
import { Softmax } from '../../src/ops/softmax.js';
import type { DType } from '../../src/ops/tensor.js';
import { DTYPES, fake, recordingJit, WIDTH } from './helpers.js';

const sha256 = (s: string): string => createHash('sha256').update(s).digest('hex');

/** Digest of everything a KernelSpec contributes to a cache key, in a fixed field order. */
function specDigest(spec: KernelSpec, extra: Record<string, unknown> = {}): string {
  return sha256(
    JSON.stringify({
      source: spec.source,
      name: spec.name,
      headers: spec.headers ?? null,
      options: spec.options ?? null,
      signature: spec.signature ?? null,
      programName: spec.programName ?? null,
      ...extra,
    }),
  );
}

const TAG: Readonly<Record<DType, string>> = { float32: 'f32', float16: 'f16', bfloat16: 'bf16' };
const TRANS = [
  [false, false],
  [false, true],
  [true, false],
  [true, true],
] as const;

/** Every configuration: label → digest of its JIT request(s). */
async function actualDigests(): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  const put = (key: string, digest: string): void => {
    assert.ok(!out.has(key), `duplicate configuration ${key}`);
    out.set(key, digest);
  };

  // ---- GEMM: every dtype × transposes × alignment × the operator's tile configurations, and a custom tile ----
  const configs: Record<DType, [string, GemmConfig][]> = {
    float32: [
      ...(['f32Large', 'f32Large16', 'f32Medium', 'f32Small'] as const).map(
        (c) => [c, GEMM_CONFIGS[c]] as [string, GemmConfig],
      ),
      ['custom', { bm: 64, bn: 128, bk: 16, warpsM: 0, warpsN: 0, stages: 2 }],
    ],
    float16: [],
    bfloat16: [],
  };
  const mma = (['mmaLarge', 'mmaWide', 'mmaLarge8', 'mmaLarge64', 'mmaSmall'] as const).map(
    (c) => [c, GEMM_CONFIGS[c]] as [string, GemmConfig],
  );
  mma.push(['custom', { bm: 64, bn: 128, bk: 64, warpsM: 2, warpsN: 2, stages: 2 }]);
  configs.float16 = mma;
  configs.bfloat16 = mma;
  for (const dtype of DTYPES) {
    for (const [cn, config] of configs[dtype]) {
      for (const [transA, transB] of TRANS) {
        for (const aligned of [true, false]) {
          const g = gemmSource({ dtype, transA, transB, aligned, config });
          const key = `gemm/${TAG[dtype]}/${transA ? 't' : 'n'}${transB ? 't' : 'n'}/${cn}/${aligned ? 'aligned' : 'unaligned'}`;
          put(
            key,
            specDigest(kernelSpecOf(g), {
              sharedMemBytes: g.sharedMemBytes,
              threads: g.threads,
              block: g.block,
              grid: g.grid(1000, 3000),
            }),
          );
        }
      }
    }
  }
  // The operator's own choice of spec by shape and pointers.
  for (const dtype of DTYPES) {
    for (const [M, N, K] of [
      [4096, 4096, 4096],
      [512, 512, 512],
      [100, 37, 3],
    ] as const) {
      for (const ptr of [4096n, 4098n]) {
        const op = new Gemm({ dtype, transB: M === 512 });
        const g = gemmSource(op.specFor({ M, N, K }, [ptr, 4096n, 4096n], 132));
        put(`gemm/operator/${TAG[dtype]}/${M}x${N}x${K}/ptr${ptr}`, specDigest(kernelSpecOf(g)));
      }
    }
  }

  // ---- elementwise: the expressions of the tests and operators × every dtype × both vector widths ----
  const x = ew.input(0);
  const y = ew.input(1);
  const shared = x.mul(y);
  const exprs: Record<string, EwExpr> = {
    add: x.add(y),
    sub: x.sub(y),
    mul: x.mul(y),
    div: x.div(y),
    maximum: x.maximum(y),
    relu: x.relu(),
    gelu: x.gelu(),
    geluErf: x.geluErf(),
    add1: x.add(1),
    scalarFirst: ew.add(2, x),
    fusedGelu: x.mul(y).add(1.5).gelu(),
    fused3: x.mul(y).add(1.5).gelu().sub(ew.input(2).sigmoid()).silu(),
    chain: x.geluErf().exp().tanh(),
    minAbsNeg: x.relu().minimum(y).abs().neg(),
    reuse: shared.add(shared),
    unusedInputs: ew.input(2).relu(),
    sigmoidSilu: x.sigmoid().mul(y.silu()),
  };
  for (const [en, e] of Object.entries(exprs)) {
    for (const dtype of DTYPES) {
      for (const vec of [1, WIDTH[dtype]]) {
        put(
          `elementwise/${en}/${TAG[dtype]}/v${vec}`,
          specDigest(kernelSpecFrom(elementwiseSource({ expr: e, dtype, vec }))),
        );
      }
    }
  }

  // ---- reduce: sum and max × dtype × shape × vector width, and the split kernels ----
  for (const op of ['sum', 'max'] as const) {
    for (const dtype of DTYPES) {
      for (const vec of [1, WIDTH[dtype]]) {
        for (const shape of ['warp', 'block'] as const) {
          put(
            `reduce/${op}/${TAG[dtype]}/${shape}/v${vec}`,
            specDigest(kernelSpecFrom(reduceSource({ op, dtype, shape, vec }))),
          );
        }
        const s = reduceSplitSource({ op, dtype, vec });
        put(`reduce/${op}/${TAG[dtype]}/pieces/v${vec}`, specDigest(kernelSpecFrom(s.pieces)));
        put(`reduce/${op}/${TAG[dtype]}/combine/v${vec}`, specDigest(kernelSpecFrom(s.combine)));
      }
    }
  }

  // ---- softmax: dtype × shape × vector width, and the split kernels ----
  for (const dtype of DTYPES) {
    for (const vec of [1, WIDTH[dtype]]) {
      for (const shape of ['warp', 'block'] as const) {
        put(
          `softmax/${TAG[dtype]}/${shape}/v${vec}`,
          specDigest(kernelSpecFrom(softmaxSource({ dtype, shape, vec }))),
        );
      }
      const s = softmaxSplitSource({ dtype, vec });
      put(`softmax/${TAG[dtype]}/stats/v${vec}`, specDigest(kernelSpecFrom(s.stats)));
      put(`softmax/${TAG[dtype]}/normalize/v${vec}`, specDigest(kernelSpecFrom(s.normalize)));
    }
  }

  // ---- what the operators actually request from the JIT (fake device, recording provider) ----
  const { jit, launches } = recordingJit();
  await new Elementwise(x.mul(y).add(0.5)).forward(
    [fake([1001], 'float16'), fake([1001], 'float16')],
    [fake([1001], 'float16')],
    { jit },
  );
  await new Gelu({ approximate: 'none' }).forward([fake([40], 'bfloat16')], [fake([40], 'bfloat16')], {
    jit,
  });
  await new Gelu().forward([fake([6])], [fake([6])], { jit });
  await new Reduce('sum').forward([fake([129, 256], 'float16')], [fake([129], 'float16')], { jit });
  await new Reduce('max').forward([fake([2, 1_000_000], 'float16')], [fake([2], 'float16')], { jit });
  await new Softmax().forward([fake([129, 257])], [fake([129, 257])], { jit });
  await new Softmax().forward([fake([1, 300_000], 'bfloat16')], [fake([1, 300_000], 'bfloat16')], { jit });
  launches.forEach((l, i) => put(`operator/${i}/${l.spec.name}`, specDigest(l.spec)));
  return out;
}

// Recorded from the generators as they were when the CUDA text still lived in TypeScript template strings.
const EXPECTED: Readonly<Record<string, string>> = {
  'gemm/f32/nn/f32Large/aligned': 'f17fc3e0f76ce4a85afc8251fa1c965e828ca268a04b0dc54751e21564a66fa2',
  'gemm/f32/nn/f32Large/unaligned': '7ae58cca781c08c35f7d8c88d1f0e6c77012589ed645fc2547f335c202d33720',
  'gemm/f32/nt/f32Large/aligned': '28ac506208564f13cccae83e7a32dcb5dd5806cc3997b6c52c152a0563b05734',
  'gemm/f32/nt/f32Large/unaligned': '5929d6eb637a05f6aeb7c4a81525d6fb2182c0801644ac0f0bcecb38f89f67fc',
  'gemm/f32/tn/f32Large/aligned': '4f8c3a49b1f6913ad30afbfadafbe26f1d9d98a685ce92540d3dc3c3d89e38f6',
  'gemm/f32/tn/f32Large/unaligned': '043e528b4ff0ffb27921d6f48510ffa4e98c8b381f7e9c13d91c4483171d8083',
  'gemm/f32/tt/f32Large/aligned': '4f291bad85ef9d9cdc1ced1db5c16b83ab97309241216f9e26cad983eb211690',
  'gemm/f32/tt/f32Large/unaligned': 'f0c5e65ea759dad8ee8733e3627566d16061eeaa6430c22915e38917fa2c502d',
  'gemm/f32/nn/f32Large16/aligned': 'cbe50fc61ac33a044f9a013abdbda81d18f256efc9d58ccfa244aee70a009dee',
  'gemm/f32/nn/f32Large16/unaligned': 'fc94b0017881c914606cdabe3a4a13b3b28323ee704f23f890361fbe3f635f15',
  'gemm/f32/nt/f32Large16/aligned': '32776e852444d53176ad299ec860c98b74bdf03b359d4c5d5832d8301a9e9943',
  'gemm/f32/nt/f32Large16/unaligned': 'c51086028d01a3a86009884ff1017a87a981d25cc73aa07860507f2996e249f9',
  'gemm/f32/tn/f32Large16/aligned': 'db4f4ce673fe1376bde2dfed0bc5fc28a1e280cf2023fbad25b44b410350bcbf',
  'gemm/f32/tn/f32Large16/unaligned': '85b58b7e955a961c27ccb172c0a87523524991fe77331a384bed4b76f068bbb2',
  'gemm/f32/tt/f32Large16/aligned': '1e92267234f296e3ad8a44de21559ba5f154356683640a84c33b1fb1e18b54b8',
  'gemm/f32/tt/f32Large16/unaligned': '4c03e9625f1f318fc8d4297d3c0d5ba8a31881379d4320dfba7cdebc5be83fbf',
  'gemm/f32/nn/f32Medium/aligned': 'a1466b75bc5e86e43eb786396634f1725dbf663fbf50c9fd283c49351867004f',
  'gemm/f32/nn/f32Medium/unaligned': '499684c2ee54e821804077a609955723f97c83fce111a500400f9862bbaffd3a',
  'gemm/f32/nt/f32Medium/aligned': '2d44a8c8672a20c828a233caa3fd696e1ea12c6ed738a1693681fe3238513d65',
  'gemm/f32/nt/f32Medium/unaligned': '299f1c4bb5a36d404dde0decde823352dced8232ea6f6eb89aaf7b3d9d89107c',
  'gemm/f32/tn/f32Medium/aligned': '8463ccb6fe5381f4bcdd8ff3a554d3a6e5fb22f0005f7e7e9ab97bfc5e0d9215',
  'gemm/f32/tn/f32Medium/unaligned': 'cc234e0441ff89872153167c19d87d024867d1713fba4dc3d910478c21d78c7c',
  'gemm/f32/tt/f32Medium/aligned': '00bb637e6a94d3ed7bce466e3ffed60e669ce333779b86ddb7d7bd6d51d1b0b7',
  'gemm/f32/tt/f32Medium/unaligned': '7aebd1a97ecd622d804bc09ec4e6776de6620f05c79eb415b87bd4a5b0962e0b',
  'gemm/f32/nn/f32Small/aligned': 'a0ef51a8346fde68bf10f2858b00161d04bd0e237f764d318cc98a28500ae511',
  'gemm/f32/nn/f32Small/unaligned': 'c158b827b4cb621d2b1bde42f77653012e7810b4cb59e1f7ed030812c7abd424',
  'gemm/f32/nt/f32Small/aligned': '2f024c65eaa6933cf0b508d44f5723d24ef2430de7fb6135be210fe8a22d80fa',
  'gemm/f32/nt/f32Small/unaligned': 'fd05ed9c2399a11bd01c71d58c7bb5ed00387907494bbf10af9df98198b9ac34',
  'gemm/f32/tn/f32Small/aligned': '5c32e6cf498a326262a734c9c98d38e4f721f7448c89aadeefc0613bf20f0ba1',
  'gemm/f32/tn/f32Small/unaligned': 'aa393d3a3a81a8a2d37cfa982dba9533808573f278cdc434e91b423a67bbb93e',
  'gemm/f32/tt/f32Small/aligned': 'e53078101e65a88bba7b96e6749d825a4ec31ef3aea0c8377f611dde53d0a933',
  'gemm/f32/tt/f32Small/unaligned': '942146b8db7197d9d404fbf911e1730c24be5315ac70105b6a2554ab06dad6ae',
  'gemm/f32/nn/custom/aligned': 'c0cffe4e7dfe43097f818d9ac3845af4b3fbe27eec6726baa65f24cc6831e741',
  'gemm/f32/nn/custom/unaligned': 'de1d25d82f1f9f0f5c8841f91b596eea189a862724e1137b1b9e4c64239a2f09',
  'gemm/f32/nt/custom/aligned': '16eae59b8549b7428572156a27266871d294563544cd76b9edaabfe7b62d1c74',
  'gemm/f32/nt/custom/unaligned': 'a63106ebd12bc9f6f72e425836a49497758ea00f8a7c24b76ee030ef6944876e',
  'gemm/f32/tn/custom/aligned': '25e37045320732e6c8fad445f551c8e09dd2656417d19cdd6a87a1767af9856f',
  'gemm/f32/tn/custom/unaligned': '7136d2a5cde36f9446f170a2dfd4e9d890f91b0f59beaf2992efc3a5a93532ac',
  'gemm/f32/tt/custom/aligned': '92402ae1db4362fd3ebdd777d9c539ad49fc73ee2f6a6837d34f31cf412f4ab2',
  'gemm/f32/tt/custom/unaligned': '9d468ed03115bc0bed6079057d9dcc9524daea58b12bfcf8566d546e26e1496b',
  'gemm/f16/nn/mmaLarge/aligned': 'ec8c955ef16d9606afffadc49b399d5c0fa8e20b82e34369b89c91241126055b',
  'gemm/f16/nn/mmaLarge/unaligned': 'd890ba33e1af02ba823b350cc44babd2e082c6bc04b7136a0f5086ebd9d2136f',
  'gemm/f16/nt/mmaLarge/aligned': 'd61b19abed8b4b771124263324b9d570ccf7fdefc199ade75c3d525729e5fc83',
  'gemm/f16/nt/mmaLarge/unaligned': 'd944c27f40caa7a2e942fe0e0e55f88deb931de435c1aa89cd0d406e818656ea',
  'gemm/f16/tn/mmaLarge/aligned': '1e2cb8b0a538326dc03bcf7c9cc64a4aadfd36f99bf5f1d9ed33afd096b52cef',
  'gemm/f16/tn/mmaLarge/unaligned': 'fa55925feb3628f2bd9abc7a203a8967c7e11af1f0f0edb09c6791ecbb093c0f',
  'gemm/f16/tt/mmaLarge/aligned': '4cb87d140735266dd5ea7661e16c1c0d7c3a2568e89336ede0f88b34df5346a4',
  'gemm/f16/tt/mmaLarge/unaligned': 'e2feb1d3c3f300a87e0c82793405540132206de3426b2f94fabd902d35a17a1b',
  'gemm/f16/nn/mmaWide/aligned': '68f0ff70f0e72cbc861b7e111075ec021f379d23dd34bb533d5eb46cf6c6ae32',
  'gemm/f16/nn/mmaWide/unaligned': 'f513b585164ddbac17a3aa271dc54da9ffd738dd673e30d3b26b7b32e4997816',
  'gemm/f16/nt/mmaWide/aligned': '7df26ecc8bf529d92ff5e3bc0784c148658f8d369cfc33b955e5bb2859fbb260',
  'gemm/f16/nt/mmaWide/unaligned': '5c43cdb92402ba6aeb843278a23f224a406a2e9fb57bf4497fe4585a56ee6521',
  'gemm/f16/tn/mmaWide/aligned': '365b70d017aa7ee38230893979e4c2aff531af05e555182d3cbfa06417a42f9c',
  'gemm/f16/tn/mmaWide/unaligned': '12cc19d331d0bca2e90b006fbe7d41ddbc0e737baf9b0c3da5509a37c106376b',
  'gemm/f16/tt/mmaWide/aligned': '533af43b773f1fe228bc4ebf7384e2209ff226c62023172d8d26a52a1dd7126f',
  'gemm/f16/tt/mmaWide/unaligned': '2c843f05c6e3c48ee2b968c0be8ccc1f543945b2657ce331454f9c616dc3423d',
  'gemm/f16/nn/mmaLarge8/aligned': '8c0d9bbce1cd5da95c46535c25978f25fe239c7f6ef8436fa203076c8ca33840',
  'gemm/f16/nn/mmaLarge8/unaligned': 'd30d10ddae174eec44f7ac6b741ee23fa63f83144052b03fb56c6e21f158bf07',
  'gemm/f16/nt/mmaLarge8/aligned': 'd5b7ac8a9837b56072ab4faedf327f260133750a025d9135860a95d56d93ff5a',
  'gemm/f16/nt/mmaLarge8/unaligned': '54dd8508cc5fd0f2a437ce9f9e401848f002b83984713034c021f63e36c7401d',
  'gemm/f16/tn/mmaLarge8/aligned': '5a34f05ba110dea9cf14f045aa0cb6e1b4031b364cef9aa7b32ff71368d8d865',
  'gemm/f16/tn/mmaLarge8/unaligned': '0179cb4093006412e6093858dda8102d327f83ff39142d5c20a674b661bf1a33',
  'gemm/f16/tt/mmaLarge8/aligned': '2f0e84040f1e8eb0843f63d55c4a101eb454e9301eead4d5b0b624671e76a540',
  'gemm/f16/tt/mmaLarge8/unaligned': 'f9c69c97146cd882b76aa5cb7acb6b2b470bd49af7a23e12e9cd3b275e825729',
  'gemm/f16/nn/mmaLarge64/aligned': '3fd4c3fabcc8138372df1b1ccfc5c0400994d19878c287a5bb343ae93573e84d',
  'gemm/f16/nn/mmaLarge64/unaligned': 'fc52e5e41291b2c6482b073e7d70d9520f5fdd52f41e91d6fa027230f70d7fb9',
  'gemm/f16/nt/mmaLarge64/aligned': '3a4b0ce04380781e1097eed79e40b0c76700aabd3ce0239be40b2092a5656e8e',
  'gemm/f16/nt/mmaLarge64/unaligned': 'fc3a8a18d1e89d1c24d557b8bef69969841fa2c545ae5138690a327cccc1f350',
  'gemm/f16/tn/mmaLarge64/aligned': '3aadb9d484387add8cc123f1325933613a25b2540bb2f02d64759c3cc0df5004',
  'gemm/f16/tn/mmaLarge64/unaligned': 'e0e736e985bceb0b436e9c530c5fe7fe2ac238e4de2389c4a9fb36d927b34318',
  'gemm/f16/tt/mmaLarge64/aligned': 'a4026c0a7d99c436a77644cf6d96cd43d39197b6cc75a9d58570bc0849def580',
  'gemm/f16/tt/mmaLarge64/unaligned': 'dffc2e7b540f254b84db78a16a15bba793522be5cdb94ff58a803eb438ed73a1',
  'gemm/f16/nn/mmaSmall/aligned': '7757c8059b11024e85432f2898a9b9f562d7879c786fe7d0a82395ed66e694bc',
  'gemm/f16/nn/mmaSmall/unaligned': '9ac0d79bfae577da37648dc5d2e89b8c9bd2d7da5261040ecd6bbc8e18faf116',
  'gemm/f16/nt/mmaSmall/aligned': '80cdb914f505cb0184149f97aa394036e645fc53280e5aa73905a37e46bccc69',
  'gemm/f16/nt/mmaSmall/unaligned': '0a563a8c4284c05e164714144891af77d0215f2e68e798a682d6c2ffa5f7ba34',
  'gemm/f16/tn/mmaSmall/aligned': 'd3ddffeb06fc60a1b8988b6906002a41e2d911966fffbc3177d7487b16f0c598',
  'gemm/f16/tn/mmaSmall/unaligned': 'f99868395d36a47f97f48b93f73945e5f48f4c96010539819b218aca6cc66c18',
  'gemm/f16/tt/mmaSmall/aligned': 'fc56a7e73c8c66d7ca0f0cf8661db85bb387e228721d857ec7e463b6b773157f',
  'gemm/f16/tt/mmaSmall/unaligned': '7134cf99b79dbf23fbcfcce9ca87b27cbc145f4a6f3f7609275ade86b5ce1ec0',
  'gemm/f16/nn/custom/aligned': 'e5b4cfbe1427d3acaadfc9788b32fbf2df803619cebe5d9058a9c39a29b2a006',
  'gemm/f16/nn/custom/unaligned': '390cf28f150cc58adecc7d760d3c2d6e7821d88cfc151c7d2eaf4dae389a5a3c',
  'gemm/f16/nt/custom/aligned': 'b7f6f06fb1ae8d56b67225cc65aa08d79b0f87c665d720752eca9a46d423228a',
  'gemm/f16/nt/custom/unaligned': '31551885e2abe5a0463e1b820c5d54c3df6e41d244f96f42873f8ea2cf4a3199',
  'gemm/f16/tn/custom/aligned': '32e47d297994e748752ee2019bdf26bfcfdaa1744f7895f17d2faa3625704031',
  'gemm/f16/tn/custom/unaligned': 'd91415d785b3515db3178107ae737472dee8d1c002a8ca47415fbc02d3b00f8e',
  'gemm/f16/tt/custom/aligned': '5a76c9382e9a0a561907039937cfd6999d7be1d05c2b500eb01b675c2de86ff0',
  'gemm/f16/tt/custom/unaligned': 'bf49513f0439e150cadaa490ddf854cb104844e8ec3495dfa90e7f9551a501dd',
  'gemm/bf16/nn/mmaLarge/aligned': '4e68196aac19386e82c642eace64e3bc5add1de3313d33c44c3f7ab9db7ac5d1',
  'gemm/bf16/nn/mmaLarge/unaligned': 'f06e9c7bdbe9795df851ddf6547e60eb9639dd4b7f01e5c1d43a1bcb50c577df',
  'gemm/bf16/nt/mmaLarge/aligned': '8ca9bd66883e901a8040f6b1a4c5f47f05d6e69291af750e8f16c560b7880609',
  'gemm/bf16/nt/mmaLarge/unaligned': '679e6d2e589484a330e9584f0a69ae856865e85cdf2136a82554974fc723a6c5',
  'gemm/bf16/tn/mmaLarge/aligned': '8d17c8865ac06f892572ef254d9a7f315adfb285fb64731da5b54887556a0fff',
  'gemm/bf16/tn/mmaLarge/unaligned': '81f0ae8996852ec2cc2bfc759bae1b5e5a4d450a1eed5cec6d7062f189f8cafc',
  'gemm/bf16/tt/mmaLarge/aligned': '741d2342956a38dc5cd36cc571d2b396989b610593953ff399362bef7349955e',
  'gemm/bf16/tt/mmaLarge/unaligned': '0cbb428c49f92dd04b5729b300942ea2d50b4ac3e8787741f8036eec10d6764b',
  'gemm/bf16/nn/mmaWide/aligned': '9cd495bbdcc20266b841a963adc22e1a19f1822039de837e536811de0384d342',
  'gemm/bf16/nn/mmaWide/unaligned': '4b371056edd919dffb0ee46cb36e313bf15c580f6912e7d3c4a31ab58abab95f',
  'gemm/bf16/nt/mmaWide/aligned': 'a7e446b658dce04dc1e7a5efb2d575ade01ad64f7dd16243282a5f7ab2b2fca3',
  'gemm/bf16/nt/mmaWide/unaligned': 'cbfa2b4ff3e2c75031933e0d413e2d418f3fd825ff3b1a5c8e18dc2f0105ff16',
  'gemm/bf16/tn/mmaWide/aligned': '695b98ed25ad6ff259c06a192ab0e3003e5f8676a6c624c641911347830cba4d',
  'gemm/bf16/tn/mmaWide/unaligned': '04324577d854538477acd1f535e72523bb694398fb16124ca0bd860ff1dbcffa',
  'gemm/bf16/tt/mmaWide/aligned': '63024331276979d8e781ae76beb7b9368826dc1559760f72aaf85127ea296118',
  'gemm/bf16/tt/mmaWide/unaligned': 'facaad3dcc1a971832c781bb18e8e7bb950e9d4ca7638f5348229774a4bb62e6',
  'gemm/bf16/nn/mmaLarge8/aligned': '0c391ef11d03c6af4b1b2f546e666c4aa63b594f08bbbd74cd15fcaf2f072fb3',
  'gemm/bf16/nn/mmaLarge8/unaligned': '03601d2ec50cabfb8197f4189b888a5d8aee2d0e884e4fcf4974cf4dcd7d9e82',
  'gemm/bf16/nt/mmaLarge8/aligned': 'd0491e7f95b6216f0a814be666bc0e595ed78bf715f4c5c343fc7181583078be',
  'gemm/bf16/nt/mmaLarge8/unaligned': 'e0a5bec200abdb963b5288cf8315437832f64839d7405157f0ff59b02553f854',
  'gemm/bf16/tn/mmaLarge8/aligned': '9eb5dabdd2866f7b463da8ca3ec26f30e5fbd64492cc3b8e8b05e10c790db7ec',
  'gemm/bf16/tn/mmaLarge8/unaligned': '937340e10797ef5413226cb9161fc04ba800738437d973b8388dc3c029c18eaf',
  'gemm/bf16/tt/mmaLarge8/aligned': '5200b38decc05294b7e69bde9b0b03e385291668166c3802d1e66a9213113fd3',
  'gemm/bf16/tt/mmaLarge8/unaligned': '29d00c6fdacb1c30582c201340ae90be545d0a5129df7921ea49cb3453b47625',
  'gemm/bf16/nn/mmaLarge64/aligned': 'a2d7b38e9845ca73ab38742b5d20a9fd8fc5ab71bc1cbb70e6df2dfdc2f2349f',
  'gemm/bf16/nn/mmaLarge64/unaligned': '2ede64704081bcc6cf6bb962c8054f9daad9b0c1eb3b9168cb41c8e3b6d67b8e',
  'gemm/bf16/nt/mmaLarge64/aligned': '0d4e4ead6b56e1f355a7ae9b74176414a092aa7bb7cbf098f50c685fe49af16c',
  'gemm/bf16/nt/mmaLarge64/unaligned': '886583aab2dc4f8351eb37b7a8430cb7b446ab47ee5e8a5404aacfdb63d8b617',
  'gemm/bf16/tn/mmaLarge64/aligned': '988268539dd5d597b27707c177c04014091cb0084bb2c90d58b59b8922672cba',
  'gemm/bf16/tn/mmaLarge64/unaligned': '88a2bcacb62d0dc80eb634e6cd9949aad8ef6705118f943a86df9ab6e0974e94',
  'gemm/bf16/tt/mmaLarge64/aligned': '88f7b955ecce0882f2aba87288b68b1517fabb886647f58deca1e8b1a4f75601',
  'gemm/bf16/tt/mmaLarge64/unaligned': '19c2fe60314e7e8c2e82904345920061de53cea6408c733498db55fa7a8ab827',
  'gemm/bf16/nn/mmaSmall/aligned': 'b50d343f2ab3b3b50608030744d54f2b516ecfcfbcbc693dbda6f1316776a19a',
  'gemm/bf16/nn/mmaSmall/unaligned': 'f4ca136f99832bc02814a1b21f568cb7c34a7eb7d214e625c7eaee6d0e7d62ab',
  'gemm/bf16/nt/mmaSmall/aligned': '71781d6c616da680cabaea539280fadd68f824c0700318fe844e1625b52c5209',
  'gemm/bf16/nt/mmaSmall/unaligned': 'd73600e45993fc6515e449aaad39705c5fcb3ac05d77d869ceeac29a57c85730',
  'gemm/bf16/tn/mmaSmall/aligned': 'e4131055b40c9c6f577dd6bcd020afe6eb605bc92c28a53947a4afb5d1111b15',
  'gemm/bf16/tn/mmaSmall/unaligned': '6993797a616e6c35d5ebed844a56a23e6404f92550d1a3118d9e395f4acd8ac9',
  'gemm/bf16/tt/mmaSmall/aligned': 'a5b242162c804dcd4ba1c8f263dba74aa0e5d5e8b65abd394eb8a445a3368947',
  'gemm/bf16/tt/mmaSmall/unaligned': 'afce4974a046e32339c972618d7845e38a685ea9527e3159ce560a0f3160c4c9',
  'gemm/bf16/nn/custom/aligned': '2ccecde47ff4e00a448ba971a2ae7c7ae9f05bc309f822ca6b3ddda3f74c5211',
  'gemm/bf16/nn/custom/unaligned': '255cb8fe57471072c6555e489cb7325e68acaceaff6a02f19d7ddab13b01396d',
  'gemm/bf16/nt/custom/aligned': '6833b6f0680503d94930c01262721b0c3db222dba5023f3345816181f6084d8e',
  'gemm/bf16/nt/custom/unaligned': '6c23e69a40e1f78ba8801d9c4a6c88feb71ce2068a33780aef4b7f811a84fb01',
  'gemm/bf16/tn/custom/aligned': 'ff0f61ee1c04a653e4d56bcda3f9b4eebbba79793174a7e07f1697993fd13b45',
  'gemm/bf16/tn/custom/unaligned': '64e60012c08f5461c367377bc76e623aa80b71abf44d9b46f8bad0477d2012d4',
  'gemm/bf16/tt/custom/aligned': 'dd84812684b04879d44fc12bd45fda887b36f30f69f58ce6635f0396c6ef81c2',
  'gemm/bf16/tt/custom/unaligned': '5858eacc6e2f4daff09b50f5842b1052a540682b7025e8d7cfc136a98ffce7e3',
  'gemm/operator/f32/4096x4096x4096/ptr4096':
    '05efc0268f905c791175051fd8f3bedef060e300d7a52b5a77ea6690d39c3457',
  'gemm/operator/f32/4096x4096x4096/ptr4098':
    '5b073c4c45c006441110daf5fe02df58868966072a276c96880ed3f2dadcf945',
  'gemm/operator/f32/512x512x512/ptr4096': 'c55c11236593d0932dec8d2c5ed7a069297daeedf000172567968a3e3b25c3ae',
  'gemm/operator/f32/512x512x512/ptr4098': 'd9f2299d07f39fc3fc1be1604f640486cb66356fc8757c3da1b0a5a428950fc5',
  'gemm/operator/f32/100x37x3/ptr4096': '121c5a95748da1cfa41420f53fc8f6431e4c65b9636c9caf4ca88d8a1c279376',
  'gemm/operator/f32/100x37x3/ptr4098': '121c5a95748da1cfa41420f53fc8f6431e4c65b9636c9caf4ca88d8a1c279376',
  'gemm/operator/f16/4096x4096x4096/ptr4096':
    'cda177117044b566b15372b431b34b0b5eead27d70380dd78e1626e1873777fc',
  'gemm/operator/f16/4096x4096x4096/ptr4098':
    '2d52485b54e4f3a910db0f6bf0a0c4656de9eb2d942c5be504278edee39bc30d',
  'gemm/operator/f16/512x512x512/ptr4096': 'ae6bee52f1c6d8b9fadcfd633a996f1f9fc2f099c9965cc77d8fe0757f0d384a',
  'gemm/operator/f16/512x512x512/ptr4098': '04c85ad28d3edb23899db422fe2fa3650693168e63ef7bddabba6832f90ca703',
  'gemm/operator/f16/100x37x3/ptr4096': 'b61a7c2b448de6e27218a3866c211d1f2e56b1854ade86206e0e2c46c16415db',
  'gemm/operator/f16/100x37x3/ptr4098': 'b61a7c2b448de6e27218a3866c211d1f2e56b1854ade86206e0e2c46c16415db',
  'gemm/operator/bf16/4096x4096x4096/ptr4096':
    'da86e04cbbad19128b028c0277a12224d095e300c6d03345ae5cfcbc8921da79',
  'gemm/operator/bf16/4096x4096x4096/ptr4098':
    'fb957a4a20c2c9ee3b6aae216e15c9fe40f44e0bcc3dc4a4ed2621a57662cf10',
  'gemm/operator/bf16/512x512x512/ptr4096':
    '7e81ea9e50561cf40e558effdf2f353394edacb5f8858092397479dd3adfa1e4',
  'gemm/operator/bf16/512x512x512/ptr4098':
    '7f18bba367f0d7bd81ba65615cc1e1760d1e62d52b5cfbfb5d184d530f4ea0ee',
  'gemm/operator/bf16/100x37x3/ptr4096': '4c06f70ccefc1fa580ad55ecb1879bc1a6b39e7087cb9b87d1cdc8904d42cac0',
  'gemm/operator/bf16/100x37x3/ptr4098': '4c06f70ccefc1fa580ad55ecb1879bc1a6b39e7087cb9b87d1cdc8904d42cac0',
  'elementwise/add/f32/v1': '6b04d75e7e2ddc3293e3fbe99460dcca015c07b578010a4ac342697dfb7cf485',
  'elementwise/add/f32/v4': 'd61a1271c98f3f8e48bf966183642d34d7388d5b5263fb156ce273fb14403fd8',
  'elementwise/add/f16/v1': 'c7b99136228eda79bba149865ebe3714fb97f0f2ced46bcc80453d8a7bef3f69',
  'elementwise/add/f16/v8': '7818486266a0e8f9f3210ab9d64b1799135d848622f3349c51b7f9f7574b4639',
  'elementwise/add/bf16/v1': 'df7e9f2530910fe9203ef9ffeee766373be1d510db7b2025d772edf72f403a81',
  'elementwise/add/bf16/v8': '911bbe0fdd0b922143a027640b0701d57ec8c1a21d58f2cdc65e1f9872730141',
  'elementwise/sub/f32/v1': '4ce53b009764f3c4cd6ec37338d61133f28f51e3a890cd9f4dc33052ce9b430c',
  'elementwise/sub/f32/v4': 'a00bd08cf4353817923ece93ec7a010dfa0048883c8d6879d0c7ef6c5d7ec2d4',
  'elementwise/sub/f16/v1': '889ebd36a51479f4f647eed64e3a89e193c124450e23775239497c447647fcc0',
  'elementwise/sub/f16/v8': 'e56b4d167c7c27effee4e95cbc6f9f2fd7494115b380052b44a56fd91dfb5e1c',
  'elementwise/sub/bf16/v1': 'caa0f53a3d5599ad780d0bf0f1dc546806c545c7df9d5e0350a4a38030f44ee4',
  'elementwise/sub/bf16/v8': '2129108ffcde69d1bd0d35b19458db5867c12074ab217fbfed69069c09a35706',
  'elementwise/mul/f32/v1': '8746b8481518176936ff4c07f5c58e2b874ac29a0fe6f6ad527e529ad932684f',
  'elementwise/mul/f32/v4': 'e5ead9859cf43f1dec3df2499c2895effe50a27034650816aef9fe8b7d6fd262',
  'elementwise/mul/f16/v1': '4faa46e02cf580dcf9242fa2d0d45a48cb922cdf82f602931d976ee9435102d6',
  'elementwise/mul/f16/v8': 'd5fe5f16f693462424445db1e47058775fb98c698aa50896631f36944c836220',
  'elementwise/mul/bf16/v1': '222a7d0aef4be24a32e6717c120fc1e4bc276aa91712ff19cc8a6c8990c2e3c5',
  'elementwise/mul/bf16/v8': '35b4caef312f4902453a66ac62b115e4049baeccad7a549ae7f0813ab77bd497',
  'elementwise/div/f32/v1': '98396bc3266d6b0b99fb31fc7373c6588160057ff3e009de1c291f5cf3403fff',
  'elementwise/div/f32/v4': '6bb8eee20e34f9850f00fafd228bbc0c16d92cd37492f478e40cbbf7901bc5fb',
  'elementwise/div/f16/v1': '987672e729b96ef669cc2218d436251d695942bfd7125a2195e53d7c20925382',
  'elementwise/div/f16/v8': 'b60710cc2e8837da497c00d44cdd66124e569d217350faecbe27fbc0196ca5c3',
  'elementwise/div/bf16/v1': 'a86a2dd73b0be3b75184fe71f8f2854ab7f4d2df58aa2c135d967b975d9ea469',
  'elementwise/div/bf16/v8': 'd894837efe41fc273812925aca4acfa4ba935d85582475788783a8a85a457277',
  'elementwise/maximum/f32/v1': '7c14af600adbe44abc8f7e2806a86572d9c83dc4736fac74fbb2de7a194264fb',
  'elementwise/maximum/f32/v4': 'a1135e18dd25c60aa2ace3ada73de8589d95899f20de84b0f1b909d47e1d9633',
  'elementwise/maximum/f16/v1': 'dbb45effdefd7ded27229ddc27079125e0cd723576f78581f75ced3bfff6ce3b',
  'elementwise/maximum/f16/v8': '98ee951f264570c4c46c71507cf3d6e8d324ccddc9637280b3befd1399b43db3',
  'elementwise/maximum/bf16/v1': '68995dc3918384dd97ebdcc0c834e3e385413a50d76eaca4a39f5d5c9e4ece1d',
  'elementwise/maximum/bf16/v8': 'c9dcddc318828d54d1d3886838360b9a5343fd5c2ca76f33c00a011915bbcb5b',
  'elementwise/relu/f32/v1': 'f79dbe9765b1be185f474c56cd40b4e685a16805c0dce4d29fef7b419c61bcb6',
  'elementwise/relu/f32/v4': '85cdb2b203d4b9472339314d01a9cd934b46ae1bbbfa0b5a3ae72ffea082b70e',
  'elementwise/relu/f16/v1': 'acc2f798241daaa19bc169208f07cee33c414c5e58b1d2c9d20680c85358f229',
  'elementwise/relu/f16/v8': '829b0a84b957cc46b2231348ad9c93f2435ff0f0de70d8a02ffc475811c6ed03',
  'elementwise/relu/bf16/v1': 'f76f7a075b58512a69307858e7c22bf784e01d5705362db637b773e61df1735d',
  'elementwise/relu/bf16/v8': '6d57770ac14989e619b295dd90ff5c71675a368ae6de7bfecd90de88a4c05837',
  'elementwise/gelu/f32/v1': 'c0dc0015e35421a7465de54b91b1ba04536a5fe55a63c2c957e3f25a8e18edec',
  'elementwise/gelu/f32/v4': '5fd8fa9d837a4f095ae3e42a641ef407fa11f84518b2e0ac82232e6db3575833',
  'elementwise/gelu/f16/v1': '4f9bde7d418f7f0550430e05ed18ec3c9d52355be51577e32e943029771f277b',
  'elementwise/gelu/f16/v8': '4d70b62cfe542c408242a9cf3d82676bbaf026843364ba12293b000def9a27ba',
  'elementwise/gelu/bf16/v1': '4129350b310a6ab51f6fca3571a2de459e419dcb11b94d4f5a270198066cdabe',
  'elementwise/gelu/bf16/v8': '51f1e4db31b2a72289c043bc6dee12bf775ed44b021ab6cbd56462f9767a020a',
  'elementwise/geluErf/f32/v1': 'bbc936c78b9d4e11dfff2e3e619081cf1da11a9fd9e5b8aef9b3173327b9d62e',
  'elementwise/geluErf/f32/v4': 'a48304031590fa9e5e61469fd8719bb948e7373dd02f0f0d33cb26be39ed992b',
  'elementwise/geluErf/f16/v1': '27cf7b437feb44306e9425a0ac0e335105eaa5c09f0a810c6dc6db79470553a4',
  'elementwise/geluErf/f16/v8': '2780eed463a05cbf6c0ec993f91d8a34fb5f36dfdc28ff6adfcbf981942a843a',
  'elementwise/geluErf/bf16/v1': 'd6b5927d79bb7efe8210daa7f9d0f53f03c65d5c1f339763f90965dc969717f9',
  'elementwise/geluErf/bf16/v8': '3f7032c45400524ca557b3a83f731d520a89860a7040078e9cb989db2056de2b',
  'elementwise/add1/f32/v1': 'f7286c253bc268222a0f425e845c979da0af2efb516a2606c4167a0506e0f18c',
  'elementwise/add1/f32/v4': '55e4376cb65d29c573e64e0c6295dedb2a8214f767c45d072171696c6225a587',
  'elementwise/add1/f16/v1': 'bc33b66f1f97a708bea10be5c8e9ff77e90e9459a5ce3d10e1a6a514bee91db8',
  'elementwise/add1/f16/v8': 'd17683bbaa229a1a659717473435cce660e95786a85fb80817354bda73e734e6',
  'elementwise/add1/bf16/v1': '29233b08115513d53981bcdefa33c3df323ab88cf7b38ab00efdb846134e32a1',
  'elementwise/add1/bf16/v8': 'e033ec70d0e5747ed401009f4c4ed94736b600523bfb86112ef629085044b02d',
  'elementwise/scalarFirst/f32/v1': '5e4fa8342c096b1c128b50199e752aa1196931eb9583f22bc731788de32a7fbd',
  'elementwise/scalarFirst/f32/v4': 'fc802d6dfe97b972626529bd5252fd63d6b02dec8dd40ae2325e371916645baa',
  'elementwise/scalarFirst/f16/v1': 'b736c45413b7395044cee0fc9b2fb17f1e08712be3b0ed7750d6fe474f7ec668',
  'elementwise/scalarFirst/f16/v8': '2643e5212a6bd79d3f8a7cf2d37e919ad987c5fe8984fc6e06f364bfa04f6685',
  'elementwise/scalarFirst/bf16/v1': 'ef2f2021e4d99123a234a243d149c382617ab4ac8c7b16224277d4ee6d3b6a17',
  'elementwise/scalarFirst/bf16/v8': '91d2a605e7168d260d2de8e44996e8baaa7eede7e018cf2a83a54fc6f507b6db',
  'elementwise/fusedGelu/f32/v1': 'f7cee68a0bfc45376fa67b71731c75516a95892784b554595c3788823c308455',
  'elementwise/fusedGelu/f32/v4': 'bdfc66394efdcd4002418fc32312fd5932317d598bca65d9494f0ecd2db2b6a2',
  'elementwise/fusedGelu/f16/v1': 'f54bdeeb0250e26954ff1bbad783e2d052f1c5e1f79319a25d0c10eb2798b588',
  'elementwise/fusedGelu/f16/v8': 'f58880139bde0e7b61091cd7af6b2165ec73cd709cb97c9a7a276c87d703a11b',
  'elementwise/fusedGelu/bf16/v1': '89c04cb656764a34e33357525cd894b5a098d83e209b21ed4561f2005ca52fa8',
  'elementwise/fusedGelu/bf16/v8': 'f4e53e3beb1c26e176de8ec1f44796d9da9fe08cbc2ecc3c54ba75fe385ae622',
  'elementwise/fused3/f32/v1': '4e8b068d8312fd8fe00ab020d743a5684569bfe50a55d4bc1e776ab2a94aeb6b',
  'elementwise/fused3/f32/v4': '008291a80f589f82143513c3d4f5ab629b44887cb1505551039bffca4c8f1989',
  'elementwise/fused3/f16/v1': '0cef1c4785f7ca178eb88532568007aa464bf36128e552b64dbeb7462160f52a',
  'elementwise/fused3/f16/v8': '5d3b7c0ffc1d8e8fd26b1f100bcbec79a34bdf66e62168777602656fd3508e67',
  'elementwise/fused3/bf16/v1': '697cc34b85a83ef476477b12281c306da17231f2789f481b6188967beba12d8f',
  'elementwise/fused3/bf16/v8': 'c07863893a070a65d39dbdda25fef1e17928b56695941c4658536b661e21795d',
  'elementwise/chain/f32/v1': 'b89d09e4e5cc0c19312c8d775809eb3f26f6f52b11676d6a3204ca64d2b02083',
  'elementwise/chain/f32/v4': '055aadfeae2dd39eb3086f87a443973210b3d49f8565139b2f81b386df7f7cf5',
  'elementwise/chain/f16/v1': 'c6a41f7a62411ceca787a5092eef9fcbe55180da15d3c3b1ce005fe9df99afb0',
  'elementwise/chain/f16/v8': '381d95718ee5423218e09eb2ada1fb4d347c4514c27771d02b18798518adbdd1',
  'elementwise/chain/bf16/v1': '64a7c63f70f4d116db39ae8579a1981fd0788d3564b3a2da650d7517d81b4d91',
  'elementwise/chain/bf16/v8': 'fc423ab443792d7f5ade94da0f32a732d5f8b333bbb7a8a7d37bd41b73f1e311',
  'elementwise/minAbsNeg/f32/v1': '04ad0253ac4e6e940842af13ca0a429a714f5e33abaf4571e1fe4a079f1838b5',
  'elementwise/minAbsNeg/f32/v4': '7d08338708f4dff9360583da1dc4b96d688e48e836f5cdf68490037dd31a3875',
  'elementwise/minAbsNeg/f16/v1': 'c5836f11664da8dc24011fc3d4ceb2be0e97d8dc09d1e3f03a267237bda402fb',
  'elementwise/minAbsNeg/f16/v8': 'eaa34509eaa44f8a8398dfd3bbf1ee2d60b2ee915ae794d95120618ab71187d5',
  'elementwise/minAbsNeg/bf16/v1': 'fc1865ad1969f904b37a23cc629fec48a01eefe239f023609707c94162164672',
  'elementwise/minAbsNeg/bf16/v8': '41d6d30c3e579d334a30751bf55320c00ca6c986781dd509bdc445ea9449efb6',
  'elementwise/reuse/f32/v1': 'f01b73b58161045e9be41486f36a6fb4bf3c79179c91a70aaf8cbf4d64d9eaf3',
  'elementwise/reuse/f32/v4': 'c4c1c26edf1fe50e0f81a9850cd400e306d99958342ed4e786f3bd8842c6ca46',
  'elementwise/reuse/f16/v1': 'd24b26c83bba8cabb9c136d4bc7bf3417378103e0cccfeee39ce7689f8c51de2',
  'elementwise/reuse/f16/v8': 'facdd95240ecbd8d8e6a9ae288c464be87d02df4da45f1c538eb12a590f611c3',
  'elementwise/reuse/bf16/v1': '380ee3401dba5e68a17552b99fbd2f585c0a6d9624fac0d501b9b34cd5ce9c58',
  'elementwise/reuse/bf16/v8': 'e16ce9013d9294e5589110be5f856aa9c4e676356ddaec8333193f03fe77bdb9',
  'elementwise/unusedInputs/f32/v1': '0c57369e16b0a3dcd53e4cb73d7d90c981b5eedee275f4d1c8cefb8480e5d192',
  'elementwise/unusedInputs/f32/v4': 'c415add28a0670b1b07e407e6ba8e288dffb94b9eeb41ba787f15429a37ccbe2',
  'elementwise/unusedInputs/f16/v1': '7584db7d5c7c46d6a98cc50e4e8c4c8f69e555da4d9fdede19b831f9c8602abd',
  'elementwise/unusedInputs/f16/v8': '300c600b6eea1c95150ef2c6ecdfaced7f8f548be4b8125e71456c8a44066b54',
  'elementwise/unusedInputs/bf16/v1': '293f9a5fcb41186b70829c076464078fcd22b0197d0f97e1a21e1c58434ba6db',
  'elementwise/unusedInputs/bf16/v8': '805e9ec08bf727fda9ba3bce1fde21d8c3ecbe5b9fef447795ab1ad857f19404',
  'elementwise/sigmoidSilu/f32/v1': '316e65fa0b8cb65756c00cddee93e8c38a8ba12d523d8000fe5c7a4914338acc',
  'elementwise/sigmoidSilu/f32/v4': 'a36648e79a282d5dd30e4b53850699020a118dc0fa8c3f6aee6dd0bcb43a229d',
  'elementwise/sigmoidSilu/f16/v1': '020916097ccfab8f9af8dba870f46d790e7ba6cb4d7f32b29eb616d232acb664',
  'elementwise/sigmoidSilu/f16/v8': '3e5526ad45783fdcb38f0c564123c5d59f89225946bac57b120b1fc9fd1983a9',
  'elementwise/sigmoidSilu/bf16/v1': '8abf86b32f0d3c183a9ff89ff201601b43fc2d1298948700515b7260dbeeab1b',
  'elementwise/sigmoidSilu/bf16/v8': 'edc599f6ce7ca650bf45f8584353460a26c8eb1cf1f37c4e638fdeb758330ac0',
  'reduce/sum/f32/warp/v1': '23dc3b6d39a29e8f3adf2485df9acbb63d1b56bdc0215c989cc32fdf7f4d5cb8',
  'reduce/sum/f32/block/v1': 'b46313b80cbb360b48f9d23eaa193ff0aec12c130787f38ea98e416400fd8a05',
  'reduce/sum/f32/pieces/v1': 'e32f2c34a3348dbda11b1687298718d9ddd2a9e69de8000d68d33267f150add5',
  'reduce/sum/f32/combine/v1': '1512ce714cc8bc75aecba8638bc4e2691f1cf2c5ef7e39ae6eea909f6c41f600',
  'reduce/sum/f32/warp/v4': 'edd7c37bb8ccc39debb69565e0aa95fef8c6e7f0a9f7cc4c3b1ff5a361d3e056',
  'reduce/sum/f32/block/v4': '8c4971ff8b053b74fbf774f21deb685ef8d71c58419e9d116fffb1aa1732c539',
  'reduce/sum/f32/pieces/v4': '4b76edeaf0f7b5efd2115f51e0279e15115efe3e08ba44cb80c15b73f5c7c172',
  'reduce/sum/f32/combine/v4': '1512ce714cc8bc75aecba8638bc4e2691f1cf2c5ef7e39ae6eea909f6c41f600',
  'reduce/sum/f16/warp/v1': '2ff7ab6323b4bbefc1536de018aaca3f897b5b50cc6284206d4f23e7e894bb61',
  'reduce/sum/f16/block/v1': '25fc3eefb924bcb6a70cf81e2f2e8dbf49cc1cb7bfde97302c94cd6fe71605bc',
  'reduce/sum/f16/pieces/v1': '1d444db5cb59d7bead733b146c856604212d421886d96d71190282c308314def',
  'reduce/sum/f16/combine/v1': '4702e3a817a21a6d4fb42bbb3d4fed181c50e82cc74e628a6ce41214d77312bd',
  'reduce/sum/f16/warp/v8': '487082674477ad6da55ed33419dfe8afcb382c18bbb90434f365e7cbcf55fffe',
  'reduce/sum/f16/block/v8': 'ecf507154db0383861ae32b3f1313b0a62408356a8ce4fffbe89c8202fc89456',
  'reduce/sum/f16/pieces/v8': '4c57bf3efab050d841d50157af8e709f7bd3e7206757d798f7f9cc0f6806c30d',
  'reduce/sum/f16/combine/v8': '4702e3a817a21a6d4fb42bbb3d4fed181c50e82cc74e628a6ce41214d77312bd',
  'reduce/sum/bf16/warp/v1': '88c9c53b33be5a7ee0ecadea78d40111cbc64d03531af14c45edc1a2c2d5d857',
  'reduce/sum/bf16/block/v1': '04b0d26023124abd25fec6a8ca892c5e0c9e60c049787f635b60b74015255dfd',
  'reduce/sum/bf16/pieces/v1': 'e74ed45f25aebe9d00b268210843faac49a727b9a7535bab8813105e684fda3d',
  'reduce/sum/bf16/combine/v1': '902d75cf8eb0d3452d5803b64796fa123df4bf253670407d775090a248bcb717',
  'reduce/sum/bf16/warp/v8': 'c546dc8e9367cf7363ad5e9985752dabd1f12f6cbb55f430981bd3c9615f00f0',
  'reduce/sum/bf16/block/v8': 'db35be35e65352b4e418e7c8560043b49f7c34a006b5f957d7edb2e66296ad83',
  'reduce/sum/bf16/pieces/v8': 'e27841b42781427fa76012076d7744e1438bb32a31ad121166dbebf41b4cc646',
  'reduce/sum/bf16/combine/v8': '902d75cf8eb0d3452d5803b64796fa123df4bf253670407d775090a248bcb717',
  'reduce/max/f32/warp/v1': '2c48e28dc848d2a5c93c76a519098a47fe0246bf061ad32b696e12b7106d6f37',
  'reduce/max/f32/block/v1': '390d491d5d9706ffc6e969f64ccd36e76cec40ed772f03eaba7311177f024619',
  'reduce/max/f32/pieces/v1': 'fd7cf476e3be6f0d0ae59aed2e93847d965b8d2dcdd5005d4b7ba87589c3a0e2',
  'reduce/max/f32/combine/v1': '4e289ab831fd01d4945f96a67807f71e9e357cf6b2096d3554ef633d905df059',
  'reduce/max/f32/warp/v4': '33099b21e34b367060e04b430b74bd781c83039829164fa96a4e18db04b96d8f',
  'reduce/max/f32/block/v4': 'fe42376538f147a085d10643722d4cf64bf87a34960cac138b38a57c99c3b052',
  'reduce/max/f32/pieces/v4': '70c7e8bead6d9d24b45e5badc03395be9ae47d568cf14aa49ebc70121ab9893e',
  'reduce/max/f32/combine/v4': '4e289ab831fd01d4945f96a67807f71e9e357cf6b2096d3554ef633d905df059',
  'reduce/max/f16/warp/v1': '97e1e86d1a47df97f49a8df1030f804e8f67e43b4070bad34f04865886b9c67c',
  'reduce/max/f16/block/v1': 'c65d5bac5fc5c7a9c69f77124913b407e27bc103e27834999514723ec6092053',
  'reduce/max/f16/pieces/v1': 'a5196444f360ecd1ea6d4a809d49115116bc4a9f7e57e21f6f583a68acb276c6',
  'reduce/max/f16/combine/v1': '685539f6bf1eef2dc25ba5ae64e194ffb6d9161309535b0ac8b6c0d0bef79769',
  'reduce/max/f16/warp/v8': '819c0eb8c98a646badae6903d64ff15d847fd71d34e2a3ccd2bd0b03b0a5abb0',
  'reduce/max/f16/block/v8': '7c208e07031a0f398ab2d4301203011bc83f3eec326246bf0d86b980c3a24916',
  'reduce/max/f16/pieces/v8': '4538adb22275e9d4acba2a689660a29e94aa7e8e5802318992a3856ec0d3a32b',
  'reduce/max/f16/combine/v8': '685539f6bf1eef2dc25ba5ae64e194ffb6d9161309535b0ac8b6c0d0bef79769',
  'reduce/max/bf16/warp/v1': 'f9963bfb825160a14f4297fda70ae82a063bfa7feea1273cde2d93106853bce6',
  'reduce/max/bf16/block/v1': 'e3887afa5a937f7418633fdd88470d4ee75fa9040cbec922f73f49dff83c9c27',
  'reduce/max/bf16/pieces/v1': 'f324f0dc4153d5589b4a9e600dc72300abe3793b0f1c74ffa40c4c08a380fc0c',
  'reduce/max/bf16/combine/v1': '78e3bacf4438456745b402d77e4595d98d6e5d489a128f9ae499c2db719052fe',
  'reduce/max/bf16/warp/v8': '850715a0d59c94f64dd71caaa8300bd639bb5d37009de89d8344a90d1b87034f',
  'reduce/max/bf16/block/v8': '74d7407b4685000c2932c04d8890d9996669da5b08aef716bc7c228f9aeeed4a',
  'reduce/max/bf16/pieces/v8': '5c980e1a4afcccf25d3713e3e24cbec987e5f5df6de0221909a0456475a23584',
  'reduce/max/bf16/combine/v8': '78e3bacf4438456745b402d77e4595d98d6e5d489a128f9ae499c2db719052fe',
  'softmax/f32/warp/v1': '07ba110bc1afcc472c20ce01dfe7f13501a6b221b18f79e6e04c6eef2752bc4f',
  'softmax/f32/block/v1': '316c17001c8dd39cd413c633abe3adcc3e749bace1abaad3472c2a8fcb962f56',
  'softmax/f32/stats/v1': '9b19d3f3d83c4cf9f489ce7a654698fa854969a543e8411b324c67fb825da696',
  'softmax/f32/normalize/v1': '98e40571a06fc15bf5c61564c8da0bdc23da4809b5fa0e760f39a0b687dce2c4',
  'softmax/f32/warp/v4': '88d5aa77824badbdb5a9a1d1f82bfa4907fd7a2514fe40aab4352d3ffdaa903f',
  'softmax/f32/block/v4': '6d6c16e54ea19160558d069052f92689b316b7ffa748f9f696df8d1a64d23613',
  'softmax/f32/stats/v4': 'bee530b8eaa1edff2fdd16ab23d9024605a90d4a029c74512307d542fb10f52f',
  'softmax/f32/normalize/v4': '4ed53512772032f03aa7eb4c121ea50aba269515b0fb3871753a624ade4a445f',
  'softmax/f16/warp/v1': '33e73435da20428a4591a537d8d46ca89222a825a31304e125ec8b9e57f56555',
  'softmax/f16/block/v1': '1f10f37aba5b17a04aefa66fb21449d7e38d9ff0f58bb61a634045b48c3e5bf8',
  'softmax/f16/stats/v1': '15a7508232aa0a28344f6d284043350b09412fea1d49373544f54f0beb1d160c',
  'softmax/f16/normalize/v1': '49a82854c1d5bd6dee0c42ed9b0ff1532373751a34cdf5eacb642fb6296b6899',
  'softmax/f16/warp/v8': '268ff53b67077ef6edb840ac04cd9f4e297eab4ecfe699c5add142218f321134',
  'softmax/f16/block/v8': '39d130d7aa6e2c21afb7f88d4d51f047bb687a514a2f66f61a80cfd3202fb2c3',
  'softmax/f16/stats/v8': '3fa0594375872ea5ca0ed92d79926254bd017090db258cd8094254e7000b4eb6',
  'softmax/f16/normalize/v8': '9915118addb2022d5570540d55c1af0d87b532d60af639a0578d8b7ad43da844',
  'softmax/bf16/warp/v1': '4b269e97d1c617133b5a9b570fa2cf2acb29528f2f6c0ff4a54f7c7e80cdde45',
  'softmax/bf16/block/v1': '1a9234e93b5b3be9de235be50e307ada74590d3c37bf4c7886a431dacadac910',
  'softmax/bf16/stats/v1': 'bfee359098af77c66c5a821da4cad3f5bae5d9e7f65b304511b8a730f1b2d3f7',
  'softmax/bf16/normalize/v1': '3de283813b07db98ec4c2d189cf4880771c101d5fe0b175a896e14f3c2bffcbd',
  'softmax/bf16/warp/v8': '6207683bb17b3c968932c54e5387c0eb72f478d017bfc95157a04e40e8e71c74',
  'softmax/bf16/block/v8': '0b26badb67e89322f8c3173b7d7729ca6bfdf9b07b59881b7ed974618a5da7b6',
  'softmax/bf16/stats/v8': 'b8bea0b76247cba8ee7707d4b439e8d36e6336f6621b74fc3c2d70c5a04862b5',
  'softmax/bf16/normalize/v8': '364c89773a3c4d3d50f38d17bee8b83dff6b59be58b041a2eaa7cca54264ec79',
  'operator/0/cuop_ew_f16_v8': '24f37892bd6b5e2f9c0da845bf2d4495211716a23b5d23457ca597892e62ed0f',
  'operator/1/cuop_ew_bf16_v8': '3f7032c45400524ca557b3a83f731d520a89860a7040078e9cb989db2056de2b',
  'operator/2/cuop_ew_f32_v4': '5fd8fa9d837a4f095ae3e42a641ef407fa11f84518b2e0ac82232e6db3575833',
  'operator/3/cuop_reduce_sum_f16_warp_v8':
    '487082674477ad6da55ed33419dfe8afcb382c18bbb90434f365e7cbcf55fffe',
  'operator/4/cuop_reduce_max_f16_pieces_v8':
    '4538adb22275e9d4acba2a689660a29e94aa7e8e5802318992a3856ec0d3a32b',
  'operator/5/cuop_reduce_max_f16_combine':
    '685539f6bf1eef2dc25ba5ae64e194ffb6d9161309535b0ac8b6c0d0bef79769',
  'operator/6/cuop_softmax_f32_warp_v1': '07ba110bc1afcc472c20ce01dfe7f13501a6b221b18f79e6e04c6eef2752bc4f',
  'operator/7/cuop_softmax_bf16_stats_v8': 'b8bea0b76247cba8ee7707d4b439e8d36e6336f6621b74fc3c2d70c5a04862b5',
  'operator/8/cuop_softmax_bf16_normalize_v8':
    '364c89773a3c4d3d50f38d17bee8b83dff6b59be58b041a2eaa7cca54264ec79',
};

test('generated sources and JIT requests keep their recorded digests (cache keys stay valid)', async () => {
  const actual = await actualDigests();
  if (process.env.CUOP_PRINT_DIGESTS === '1') {
    console.log([...actual].map(([k, d]) => `  '${k}': '${d}',`).join('\n'));
  }
  assert.ok(actual.size >= 30, `${actual.size} configurations`);
  const changed = [...actual].filter(([k, d]) => EXPECTED[k] !== d).map(([k]) => k);
  const missing = Object.keys(EXPECTED).filter((k) => !actual.has(k));
  assert.deepEqual(
    { changed, missing },
    { changed: [], missing: [] },
    'generated sources changed: kernels users have cached would no longer hit',
  );
});
