// The op library's Node entry point. Loading the shared object runs the REGISTER_OP / REGISTER_KERNEL_BUILDER
// initialisers of the other files, which add our ops to the TensorFlow registry the already-loaded
// libtensorflow_framework holds (the same one tfjs-node's binding uses), so tfjs-node can then execute
// them eagerly by name and the deferred executor can put them in graphs. Being an N-API module only lets
// Node's require() load it; it exports the op names and the instruction set it was compiled for.
#include <node_api.h>

#ifndef ROBUSTOK_OPS_ISA
#define ROBUSTOK_OPS_ISA "unknown"
#endif

static napi_value Init(napi_env env, napi_value exports) {
  const char* names[] = {"RobustokAdamW", "RobustokAttentionScoresGrad", "RobustokAttentionScoresGradMasked", "RobustokDropoutMask", "RobustokGelu", "RobustokGeluGrad", "RobustokLayerNorm", "RobustokLayerNormGrad", "RobustokMatMulBias", "RobustokResidualBranch", "RobustokResidualBranchGrad"};
  napi_value list, isa;
  if (napi_create_array_with_length(env, sizeof(names) / sizeof(names[0]), &list) != napi_ok) return nullptr;
  for (unsigned i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
    napi_value s;
    if (napi_create_string_utf8(env, names[i], NAPI_AUTO_LENGTH, &s) != napi_ok) return nullptr;
    if (napi_set_element(env, list, i, s) != napi_ok) return nullptr;
  }
  if (napi_create_string_utf8(env, ROBUSTOK_OPS_ISA, NAPI_AUTO_LENGTH, &isa) != napi_ok) return nullptr;
  if (napi_set_named_property(env, exports, "ops", list) != napi_ok) return nullptr;
  if (napi_set_named_property(env, exports, "isa", isa) != napi_ok) return nullptr;
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, Init)
