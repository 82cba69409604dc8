// A ViT block's residual update with LayerScale and drop-path, y = x + (a·γ)·s, as one kernel forward and
// one backward (issue 12). As separate ops that is three full-size passes forward (the LayerScale multiply,
// the per-sample drop-path multiply, the residual add) and four backward (two multiplies for da, a multiply
// and a reduction for dγ), each reading and writing a [B, T, d] tensor; here it is one pass each way.
//
//   forward:  y = x + (a·γ)·s            γ [d] per channel, s [B] per sample (0 or 1/keep; ones without drop-path)
//   backward: da = (dy·s)·γ,  dγ = Σ_rows (dy·s)·a      (dx = dy needs no kernel)
//
// The float operations are the ones the separate ops do, in their order, so y and da are bit-identical to
// them; dγ is summed per fixed block of rows in double and the blocks then in order (it does not depend on
// the thread count), where TensorFlow's Sum rounds in its own order.
#include <vector>

#include "op-common.h"

namespace robustok {

constexpr int64_t kBranchBlockRows = 64;  // rows per partial sum of dγ

REGISTER_OP("RobustokResidualBranch")
    .Input("x: float")
    .Input("a: float")
    .Input("gamma: float")
    .Input("scale: float")
    .Output("y: float")
    .SetShapeFn(tensorflow::shape_inference::UnchangedShape)
    .Doc("x + (a * gamma) * scale: gamma [d] over the last axis, scale [B] over the first.");

REGISTER_OP("RobustokResidualBranchGrad")
    .Input("dy: float")
    .Input("a: float")
    .Input("gamma: float")
    .Input("scale: float")
    .Output("da: float")
    .Output("dgamma: float")
    .SetShapeFn([](si::InferenceContext* c) {
      c->set_output(0, c->input(1));
      c->set_output(1, c->input(2));
      return absl::OkStatus();
    })
    .Doc("Gradients of RobustokResidualBranch with respect to a and gamma.");

// Checks x-like [B, ..., d] against gamma [d] and scale [B]; sets rows (B·…) and rows per sample.
static bool BranchShapes(OpKernelContext* c, const Tensor& t, const Tensor& gamma, const Tensor& scale, int64_t* d,
                         int64_t* rows, int64_t* per_sample) {
  const bool ok = t.dims() >= 2 && gamma.dims() == 1 && scale.dims() == 1 &&
                  t.dim_size(t.dims() - 1) == gamma.dim_size(0) && t.dim_size(0) == scale.dim_size(0);
  if (!ok) {
    c->CtxFailure(tensorflow::errors::InvalidArgument("ResidualBranch: tensor ", t.shape().DebugString(), ", gamma ",
                                                     gamma.shape().DebugString(), ", scale ",
                                                     scale.shape().DebugString(), "; want [B, ..., d], [d], [B]"));
    return false;
  }
  *d = gamma.dim_size(0);
  *rows = *d == 0 ? 0 : t.NumElements() / *d;
  *per_sample = t.dim_size(0) == 0 ? 0 : *rows / t.dim_size(0);
  return true;
}

class ResidualBranchOp : public OpKernel {
 public:
  explicit ResidualBranchOp(OpKernelConstruction* c) : OpKernel(c) {}
  void Compute(OpKernelContext* c) override {
    const Tensor& x = c->input(0);
    const Tensor& a = c->input(1);
    const Tensor& gamma = c->input(2);
    const Tensor& scale = c->input(3);
    OP_REQUIRES(c, x.shape() == a.shape(),
                tensorflow::errors::InvalidArgument("ResidualBranch: x ", x.shape().DebugString(), " and a ",
                                                    a.shape().DebugString(), " differ"));
    int64_t d = 0, rows = 0, per = 0;
    if (!BranchShapes(c, a, gamma, scale, &d, &rows, &per)) return;
    Tensor* y = nullptr;
    OP_REQUIRES_OK(c, c->forward_input_or_allocate_output({0, 1}, 0, x.shape(), &y));
    const float* xp = x.flat<float>().data();
    const float* ap = a.flat<float>().data();
    const float* gp = gamma.flat<float>().data();
    const float* sp = scale.flat<float>().data();
    float* yp = y->flat<float>().data();
    auto body = [=](Eigen::Index r0, Eigen::Index r1) {
      for (Eigen::Index r = r0; r < r1; r++) {
        const float s = sp[r / per];
        const float* xr = xp + r * d;
        const float* ar = ap + r * d;
        float* yr = yp + r * d;
        for (int64_t j = 0; j < d; j++) yr[j] = xr[j] + (ar[j] * gp[j]) * s;
      }
    };
    c->eigen_device<CpuDevice>().parallelFor(rows, Eigen::TensorOpCost(8.0 * d, 4.0 * d, 3.0 * d), body);
  }
};

class ResidualBranchGradOp : public OpKernel {
 public:
  explicit ResidualBranchGradOp(OpKernelConstruction* c) : OpKernel(c) {}
  void Compute(OpKernelContext* c) override {
    const Tensor& dy = c->input(0);
    const Tensor& a = c->input(1);
    const Tensor& gamma = c->input(2);
    const Tensor& scale = c->input(3);
    OP_REQUIRES(c, dy.shape() == a.shape(),
                tensorflow::errors::InvalidArgument("ResidualBranchGrad: dy ", dy.shape().DebugString(), " and a ",
                                                    a.shape().DebugString(), " differ"));
    int64_t d = 0, rows = 0, per = 0;
    if (!BranchShapes(c, a, gamma, scale, &d, &rows, &per)) return;
    Tensor *da = nullptr, *dgamma = nullptr;
    OP_REQUIRES_OK(c, c->allocate_output(0, a.shape(), &da));
    OP_REQUIRES_OK(c, c->allocate_output(1, gamma.shape(), &dgamma));
    const int64_t blocks = (rows + kBranchBlockRows - 1) / kBranchBlockRows;
    std::vector<double> part(static_cast<size_t>(blocks) * d, 0.0);
    const float* dyp = dy.flat<float>().data();
    const float* ap = a.flat<float>().data();
    const float* gp = gamma.flat<float>().data();
    const float* sp = scale.flat<float>().data();
    float* dap = da->flat<float>().data();
    double* partp = part.data();
    auto body = [=](Eigen::Index b0, Eigen::Index b1) {
      for (Eigen::Index blk = b0; blk < b1; blk++) {
        double* pg = partp + blk * d;
        const int64_t r1 = std::min(rows, (blk + 1) * kBranchBlockRows);
        for (int64_t r = blk * kBranchBlockRows; r < r1; r++) {
          const float s = sp[r / per];
          const float* dyr = dyp + r * d;
          const float* ar = ap + r * d;
          float* dar = dap + r * d;
          for (int64_t j = 0; j < d; j++) {
            const float g = dyr[j] * s;  // the gradient reaching a·γ
            dar[j] = g * gp[j];
            pg[j] += static_cast<double>(g * ar[j]);
          }
        }
      }
    };
    c->eigen_device<CpuDevice>().parallelFor(
        blocks, Eigen::TensorOpCost(12.0 * d * kBranchBlockRows, 4.0 * d * kBranchBlockRows, 4.0 * d * kBranchBlockRows),
        body);
    float* dgp = dgamma->flat<float>().data();
    for (int64_t j = 0; j < d; j++) {
      double sum = 0;
      for (int64_t blk = 0; blk < blocks; blk++) sum += partp[blk * d + j];
      dgp[j] = static_cast<float>(sum);
    }
  }
};

REGISTER_KERNEL_BUILDER(Name("RobustokResidualBranch").Device(tensorflow::DEVICE_CPU), ResidualBranchOp);
REGISTER_KERNEL_BUILDER(Name("RobustokResidualBranchGrad").Device(tensorflow::DEVICE_CPU), ResidualBranchGradOp);
}  // namespace robustok
