// Scenarios (docs/scenarios.md): a JSON list of steps run on the kernel model or the real kernel,
// with a normalised result that is equal exactly when both agree.
export { ScenarioError, parseScenario, parseScenarioText, scenarioToJson, FS_TYPES } from './parse.js';
export type { LayerEntry, Scenario, Step, StepOp, UnsharePropagation } from './types.js';
export { layerCalls, stepCalls, WORLD_SOURCE } from './plan.js';
export type { Call } from './plan.js';
export { ModelSession, modelRelease, runOnModel, runOnModelRaw, worldProcess } from './model-runner.js';
export { describeStep, diffResults, normaliseResult, renderResult, renderTreeEntry } from './result.js';
export type { NamespaceResult, RawResult, RawTreeEntry, ScenarioResult } from './result.js';
export { sha256Hex } from './sha256.js';
