// The only folder that touches FFI. Everything else imports from here.
export * from './errors.js';
export * as driver from './driver.js';
export * as nvrtc from './nvrtc.js';
export * as nvjitlink from './nvjitlink.js';
export { ffiStackProblem } from './ffi.js';
export { NvJitLinkError } from './nvjitlink.js';
export {
  KernelParamBlock,
  PARAM_SIZE,
  rawSlot,
  slotLayout,
  type ParamType,
  type ParamValue,
  type RawSlot,
  type SlotType,
} from './kernel-params.js';
export { LaunchConfigBlock, type ExLaunch } from './launch-config.js';
export {
  candidatePaths,
  openFirst,
  DRIVER_LIBRARY,
  NVRTC_LIBRARY,
  NVJITLINK_LIBRARY,
  type LibrarySpec,
  type Candidate,
} from './library-discovery.js';
