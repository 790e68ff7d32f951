// The machine a bench ran on, as the report and the chart's title name it: the GPU (or the CPU model), cores, OS and
// Node. Never the host name.
import { availableParallelism, cpus, platform, arch as cpuArch } from 'node:os';

import { driverAvailable } from '../../cuda/driver.js';
import { Device } from '../../runtime/index.js';

export interface MachineInfo {
  /** One line: `NVIDIA H200 (sm_90, 132 SMs), AMD EPYC 9654, 16 cores, linux x64, Node v22.…`. */
  readonly description: string;
  readonly cpu: string;
  readonly cores: number;
  readonly gpu: { readonly name: string; readonly arch: string; readonly smCount: number } | null;
  /** Why there is no GPU (no driver, no device), when there is none. */
  readonly noGpu?: string;
  readonly os: string;
  readonly node: string;
}

export function describeMachine(): MachineInfo {
  const cpu = (cpus()[0]?.model ?? 'unknown CPU').replace(/\s+/g, ' ').trim();
  const cores = availableParallelism();
  const os = `${platform()} ${cpuArch()}`;
  let gpu: MachineInfo['gpu'] = null;
  let noGpu: string | undefined;
  if (!driverAvailable()) noGpu = 'no CUDA driver (libcuda) on this host';
  else {
    try {
      if (Device.count() === 0) noGpu = 'the CUDA driver sees no device';
      else {
        const d = Device.get(0);
        gpu = { name: d.name, arch: d.arch, smCount: d.multiprocessorCount };
      }
    } catch (e) {
      noGpu = `device 0 is not usable: ${e instanceof Error ? e.message : String(e)}`;
    }
  }
  const head = gpu ? `${gpu.name} (${gpu.arch}, ${gpu.smCount} SMs), ${cpu}` : `${cpu}, no GPU`;
  return {
    description: `${head}, ${cores} cores, ${os}, Node ${process.version}`,
    cpu,
    cores,
    gpu,
    ...(noGpu ? { noGpu } : {}),
    os,
    node: process.version,
  };
}
