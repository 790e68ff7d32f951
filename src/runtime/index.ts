export { Device, type ComputeCapability } from './device.js';
export { DeviceBuffer } from './buffer.js';
export { Stream } from './stream.js';
export { Event } from './event.js';
export {
  Module,
  ImageFileError,
  KernelNotFoundError,
  imageKindOf,
  imageForDriver,
  type ImageKind as PrebuiltImageKind,
} from './module.js';
export { Kernel, LaunchArgumentError, type LaunchConfig, type Dim3 } from './kernel.js';
export {
  i32,
  u32,
  i64,
  u64,
  f32,
  f64,
  ptr,
  type KernelArg,
  type TypedArg,
  type DevicePointerLike,
} from './args.js';
export { StructLayout, bytesArg, type FieldType, type FieldValue, type StructArg } from './struct-layout.js';
export { KernelFaultError, DeviceAssertError } from './kernel-fault.js';
