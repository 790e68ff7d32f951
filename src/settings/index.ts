// The bottom layer: every CUOP_* environment variable, read in one place. Imports only node built-ins.
export { parseByteSize } from './byte-size.js';
export {
  COMPILER_PREFERENCES,
  DEFAULT_COMPILE_TIMEOUT_MS,
  DEFAULT_MAX_DISK_BYTES,
  DEFAULT_SETTINGS,
  MAX_SALT_LENGTH,
  SETTINGS_VARIABLES,
  getSettings,
  readSettings,
  redactUrlPassword,
  settingValue,
  shownSettingValue,
  settingsProblem,
  type CacheSharing,
  type CompilerPreference,
  type Settings,
  type SettingsField,
  type SettingsProblem,
  type SettingsVariable,
} from './settings.js';
