/** The workflowsPath barrel: every workflow the worker hosts is exported here. */
export { roundTripWorkflow } from './roundtrip';
export { pipelineWorkflow, progressQuery } from './pipeline';
