// Our one addition to tfjs-node's binding (infra/native-tensorflow.sh copies this file next to
// binding/tfjs_backend.cc and calls it from LoadSavedModel): tfjs-node loads every SavedModel with
// default session options, and we need some sessions configured (the RAR decode step's kernels on one
// intra-op thread, models/rar-decoder-graph.ts). compute/native-graph.ts writes the serialized
// tensorflow.ConfigProto as robustok_session_config.pb beside saved_model.pb; a directory without the
// file keeps the defaults, so tfjs-node's own loadSavedModel callers see no change.
#ifndef ROBUSTOK_SESSION_CONFIG_H_
#define ROBUSTOK_SESSION_CONFIG_H_

#include <cstdio>
#include <string>

#include <node_api.h>

#include "tensorflow/c/c_api.h"

namespace robustok {

// Applies <export_dir>/robustok_session_config.pb to `options` when the file exists. false: a JS
// exception is pending (unreadable or invalid config) and the caller must return.
inline bool ApplySessionConfig(napi_env env, const std::string &export_dir, TF_SessionOptions *options) {
  const std::string path = export_dir + "/robustok_session_config.pb";
  FILE *file = std::fopen(path.c_str(), "rb");
  if (file == nullptr) return true;
  std::string bytes;
  char chunk[4096];
  size_t got;
  while ((got = std::fread(chunk, 1, sizeof chunk, file)) > 0) bytes.append(chunk, got);
  const bool read_error = std::ferror(file) != 0;
  std::fclose(file);
  if (read_error) {
    napi_throw_error(env, nullptr, ("Cannot read the session config " + path).c_str());
    return false;
  }
  TF_Status *status = TF_NewStatus();
  TF_SetConfig(options, bytes.data(), bytes.size(), status);
  const bool ok = TF_GetCode(status) == TF_OK;
  if (!ok) napi_throw_error(env, nullptr, ("Invalid session config " + path + ": " + TF_Message(status)).c_str());
  TF_DeleteStatus(status);
  return ok;
}

}  // namespace robustok

#endif  // ROBUSTOK_SESSION_CONFIG_H_
