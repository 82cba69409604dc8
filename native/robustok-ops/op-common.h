// What every kernel file of the op library includes: TensorFlow's op and kernel registration, shape
// inference, Eigen's thread-pool device (kernels split their work over the op's intra-op pool), and the
// names the files use.
#ifndef ROBUSTOK_OPS_OP_COMMON_H_
#define ROBUSTOK_OPS_OP_COMMON_H_

#define EIGEN_USE_THREADS
#include "tensorflow/core/framework/common_shape_fns.h"
#include "tensorflow/core/framework/op.h"
#include "tensorflow/core/framework/op_kernel.h"
#include "tensorflow/core/framework/shape_inference.h"
#include "unsupported/Eigen/CXX11/Tensor"

namespace robustok {
using tensorflow::OpKernel;
using tensorflow::OpKernelConstruction;
using tensorflow::OpKernelContext;
using tensorflow::Tensor;
using tensorflow::TensorShape;
namespace si = tensorflow::shape_inference;
using CpuDevice = Eigen::ThreadPoolDevice;

// Σ_j f(j) over j < n in double, element j in lane j mod kSumLanes, the lanes then added pairwise in a
// fixed order. One running sum is a chain of dependent additions the compiler may not reorder (4 cycles
// each); independent lanes are plain vector adds. The order is fixed by this code, not by the compiler or
// the instruction set, so a result does not depend on how it vectorises.
constexpr int kSumLanes = 16;  // four AVX registers of doubles
template <typename F>
inline double LaneSum(int64_t n, F f) {
  double acc[kSumLanes] = {};
  int64_t j = 0;
  for (; j + kSumLanes <= n; j += kSumLanes)
    for (int l = 0; l < kSumLanes; l++) acc[l] += f(j + l);
  for (int l = 0; j < n; j++, l++) acc[l] += f(j);
  for (int w = kSumLanes / 2; w > 0; w /= 2)
    for (int l = 0; l < w; l++) acc[l] += acc[l + w];
  return acc[0];
}
}  // namespace robustok

#endif  // ROBUSTOK_OPS_OP_COMMON_H_
