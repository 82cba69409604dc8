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
}  // namespace robustok

#endif  // ROBUSTOK_OPS_OP_COMMON_H_
