// Exact (erf) GELU and its gradient as single TensorFlow CPU kernels (issue 12).
//
// The portable path (models/layers/activations.ts) spends 5 elementwise kernels forward and 6 backward,
// each reading and writing a full-size tensor; at the MLP's hidden size that is ~100 MB of memory
// traffic per GELU at one thread where this pair needs ~20. Eigen evaluates each expression below in
// one vectorised pass, split over the op's intra-op thread pool like TensorFlow's own cwise kernels.
//
//   RobustokGelu(x) = x · Φ(x),                  Φ(x) = ½(1 + erf(x/√2))
//   RobustokGeluGrad(dy, x) = dy · (Φ(x) + x·φ(x)), φ(x) = exp(−x²/2)/√(2π)
//
// The gradient recomputes Φ from x rather than keeping it: one saved tensor instead of three, and erf
// is cheap next to the memory pass it saves. float32 only (the models train in float32).

#include "op-common.h"

namespace robustok {

constexpr float kSqrtHalf = 0.70710678118654752440f;    // 1/√2
constexpr float kInvSqrt2Pi = 0.39894228040143267794f;  // 1/√(2π)

REGISTER_OP("RobustokGelu")
    .Input("x: float")
    .Output("y: float")
    .SetShapeFn(tensorflow::shape_inference::UnchangedShape)
    .Doc("Exact GELU x·Φ(x) in one pass.");

REGISTER_OP("RobustokGeluGrad")
    .Input("dy: float")
    .Input("x: float")
    .Output("dx: float")
    .SetShapeFn(tensorflow::shape_inference::UnchangedShape)
    .Doc("Gradient of RobustokGelu at x, times dy, in one pass.");

class GeluOp : public OpKernel {
 public:
  explicit GeluOp(OpKernelConstruction* c) : OpKernel(c) {}
  void Compute(OpKernelContext* c) override {
    const Tensor& x = c->input(0);
    Tensor* y = nullptr;
    // reuse x's buffer when nothing else holds it (the graph executor's forwarding)
    OP_REQUIRES_OK(c, c->forward_input_or_allocate_output({0}, 0, x.shape(), &y));
    auto xf = x.flat<float>();
    // same association as the portable path: x · ((erf(x/√2) + 1) · ½)
    y->flat<float>().device(c->eigen_device<CpuDevice>()) = xf * (((xf * kSqrtHalf).erf() + 1.0f) * 0.5f);
  }
};

class GeluGradOp : public OpKernel {
 public:
  explicit GeluGradOp(OpKernelConstruction* c) : OpKernel(c) {}
  void Compute(OpKernelContext* c) override {
    const Tensor& dy = c->input(0);
    const Tensor& x = c->input(1);
    OP_REQUIRES(c, dy.shape() == x.shape(),
                tensorflow::errors::InvalidArgument("RobustokGeluGrad: dy ", dy.shape().DebugString(), " and x ",
                                                    x.shape().DebugString(), " differ"));
    Tensor* dx = nullptr;
    OP_REQUIRES_OK(c, c->forward_input_or_allocate_output({0}, 0, x.shape(), &dx));
    auto d = dy.flat<float>();
    auto xf = x.flat<float>();
    auto cdf = ((xf * kSqrtHalf).erf() + 1.0f) * 0.5f;
    auto pdf = (xf * xf * -0.5f).exp() * kInvSqrt2Pi;
    dx->flat<float>().device(c->eigen_device<CpuDevice>()) = d * (cdf + xf * pdf);
  }
};

REGISTER_KERNEL_BUILDER(Name("RobustokGelu").Device(tensorflow::DEVICE_CPU), GeluOp);
REGISTER_KERNEL_BUILDER(Name("RobustokGeluGrad").Device(tensorflow::DEVICE_CPU), GeluGradOp);
}  // namespace robustok
