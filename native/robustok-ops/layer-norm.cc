// LayerNorm over the last axis with an affine map, forward and backward, as TensorFlow CPU kernels
// (issue 12). TensorFlow has no LayerNorm gradient kernel: the tfjs closed form takes ~12 kernels, and
// the oneDNN route (models/layers/native-fused.ts: batch-norm kernels on an [1, N, d, 1] view) recomputes
// the statistics and is slow at LayerNorm's shapes (thousands of "channels" of 64-256 values), ~10x
// PyTorch's fused LayerNorm backward at the tokenizer's shapes. Here the forward also returns each row's
// mean and 1/σ, and the backward is one pass over the rows.
//
//   forward:  μ = mean(x), r = 1/√(mean((x − μ)²) + ε), y = (x − μ)·r·w + b          (per row of d)
//   backward: x̂ = (x − μ)·r, g = dy·w,  dx = r·(g − mean(g) − x̂·mean(g·x̂))
//             dw = Σ_rows dy·x̂,  db = Σ_rows dy
//
// Row statistics accumulate in double, in the fixed-order lanes of LaneSum (op-common.h): one serial sum
// per row (~1000 cycles a row at d = 256) made these kernels 2-3x PyTorch's. dw and db are summed per
// fixed block of rows and the blocks then in order, so they do not depend on the thread count either.
#include <cmath>
#include <vector>

#include "op-common.h"

namespace robustok {

constexpr int64_t kBlockRows = 64;  // rows per partial sum of dw/db

REGISTER_OP("RobustokLayerNorm")
    .Input("x: float")
    .Input("w: float")
    .Input("b: float")
    .Output("y: float")
    .Output("mean: float")
    .Output("rstd: float")
    .Attr("eps: float")
    .SetShapeFn([](si::InferenceContext* c) {
      c->set_output(0, c->input(0));
      c->set_output(1, c->Vector(c->UnknownDim()));
      c->set_output(2, c->Vector(c->UnknownDim()));
      return absl::OkStatus();
    })
    .Doc("Affine LayerNorm over the last axis; also each row's mean and 1/sigma ([rows]).");

REGISTER_OP("RobustokLayerNormGrad")
    .Input("dy: float")
    .Input("x: float")
    .Input("w: float")
    .Input("mean: float")
    .Input("rstd: float")
    .Output("dx: float")
    .Output("dw: float")
    .Output("db: float")
    .SetShapeFn([](si::InferenceContext* c) {
      c->set_output(0, c->input(1));
      c->set_output(1, c->input(2));
      c->set_output(2, c->input(2));
      return absl::OkStatus();
    })
    .Doc("Gradients of RobustokLayerNorm: dx, dw, db.");

// x as [rows, d] with d = w's length; an error (in c's status) names the shapes.
static void RowsOf(OpKernelContext* c, const Tensor& x, const Tensor& w, int64_t* rows, int64_t* d) {
  OP_REQUIRES(c, w.dims() == 1 && x.dims() >= 1 && x.dim_size(x.dims() - 1) == w.dim_size(0),
              tensorflow::errors::InvalidArgument("LayerNorm: x ", x.shape().DebugString(), " does not end in w's ",
                                                  w.shape().DebugString()));
  *d = w.dim_size(0);
  *rows = *d == 0 ? 0 : x.NumElements() / *d;
}

class LayerNormOp : public OpKernel {
 public:
  explicit LayerNormOp(OpKernelConstruction* c) : OpKernel(c) { OP_REQUIRES_OK(c, c->GetAttr("eps", &eps_)); }
  void Compute(OpKernelContext* c) override {
    const Tensor& x = c->input(0);
    const Tensor& w = c->input(1);
    const Tensor& b = c->input(2);
    int64_t rows = 0, d = 0;
    RowsOf(c, x, w, &rows, &d);
    if (!c->status().ok()) return;
    OP_REQUIRES(c, b.shape() == w.shape(), tensorflow::errors::InvalidArgument("LayerNorm: b and w differ"));
    Tensor *y = nullptr, *mean = nullptr, *rstd = nullptr;
    OP_REQUIRES_OK(c, c->allocate_output(0, x.shape(), &y));
    OP_REQUIRES_OK(c, c->allocate_output(1, TensorShape({rows}), &mean));
    OP_REQUIRES_OK(c, c->allocate_output(2, TensorShape({rows}), &rstd));
    const float* xp = x.flat<float>().data();
    const float* wp = w.flat<float>().data();
    const float* bp = b.flat<float>().data();
    float* yp = y->flat<float>().data();
    float* mp = mean->flat<float>().data();
    float* rp = rstd->flat<float>().data();
    const double eps = eps_;
    auto body = [=](Eigen::Index r0, Eigen::Index r1) {
      for (Eigen::Index r = r0; r < r1; r++) {
        const float* xr = xp + r * d;
        const double mu = LaneSum(d, [=](int64_t j) { return static_cast<double>(xr[j]); }) / d;
        const double q = LaneSum(d, [=](int64_t j) {
          const double t = xr[j] - mu;
          return t * t;
        });
        const float m = static_cast<float>(mu);
        const float rs = static_cast<float>(1.0 / std::sqrt(q / d + eps));
        mp[r] = m;
        rp[r] = rs;
        float* yr = yp + r * d;
        for (int64_t j = 0; j < d; j++) yr[j] = (xr[j] - m) * rs * wp[j] + bp[j];
      }
    };
    c->eigen_device<Eigen::ThreadPoolDevice>().parallelFor(rows, Eigen::TensorOpCost(8.0 * d, 4.0 * d, 10.0 * d), body);
  }

 private:
  float eps_;
};

class LayerNormGradOp : public OpKernel {
 public:
  explicit LayerNormGradOp(OpKernelConstruction* c) : OpKernel(c) {}
  void Compute(OpKernelContext* c) override {
    const Tensor& dy = c->input(0);
    const Tensor& x = c->input(1);
    const Tensor& w = c->input(2);
    const Tensor& mean = c->input(3);
    const Tensor& rstd = c->input(4);
    int64_t rows = 0, d = 0;
    RowsOf(c, x, w, &rows, &d);
    if (!c->status().ok()) return;
    OP_REQUIRES(c, dy.shape() == x.shape() && mean.NumElements() == rows && rstd.NumElements() == rows,
                tensorflow::errors::InvalidArgument("LayerNormGrad: dy ", dy.shape().DebugString(), ", x ",
                                                    x.shape().DebugString(), ", mean/rstd ", mean.NumElements(),
                                                    "/", rstd.NumElements(), " rows, want ", rows));
    Tensor *dx = nullptr, *dw = nullptr, *db = nullptr;
    OP_REQUIRES_OK(c, c->allocate_output(0, x.shape(), &dx));
    OP_REQUIRES_OK(c, c->allocate_output(1, w.shape(), &dw));
    OP_REQUIRES_OK(c, c->allocate_output(2, w.shape(), &db));
    const int64_t blocks = (rows + kBlockRows - 1) / kBlockRows;
    // per block: dw partials then db partials
    std::vector<float> part(static_cast<size_t>(blocks) * 2 * d, 0.0f);
    const float* dyp = dy.flat<float>().data();
    const float* xp = x.flat<float>().data();
    const float* wp = w.flat<float>().data();
    const float* mp = mean.flat<float>().data();
    const float* rp = rstd.flat<float>().data();
    float* dxp = dx->flat<float>().data();
    float* partp = part.data();
    auto body = [=](Eigen::Index b0, Eigen::Index b1) {
      for (Eigen::Index blk = b0; blk < b1; blk++) {
        float* pw = partp + blk * 2 * d;
        float* pb = pw + d;
        const int64_t r1 = std::min(rows, (blk + 1) * kBlockRows);
        for (int64_t r = blk * kBlockRows; r < r1; r++) {
          const float* xr = xp + r * d;
          const float* dyr = dyp + r * d;
          const float m = mp[r], rs = rp[r];
          // the float partials of dw/db: one vector loop, apart from the double row sums below
          for (int64_t j = 0; j < d; j++) {
            const float xh = (xr[j] - m) * rs;
            pw[j] += dyr[j] * xh;
            pb[j] += dyr[j];
          }
          const double sg = LaneSum(d, [=](int64_t j) { return static_cast<double>(dyr[j] * wp[j]); });
          const double sgx = LaneSum(d, [=](int64_t j) {
            const float xh = (xr[j] - m) * rs;
            return static_cast<double>(dyr[j] * wp[j]) * xh;
          });
          const float a = static_cast<float>(sg / d), cc = static_cast<float>(sgx / d);
          float* dxr = dxp + r * d;
          for (int64_t j = 0; j < d; j++) {
            const float xh = (xr[j] - m) * rs;
            dxr[j] = rs * (dyr[j] * wp[j] - a - xh * cc);
          }
        }
      }
    };
    c->eigen_device<Eigen::ThreadPoolDevice>().parallelFor(
        blocks, Eigen::TensorOpCost(16.0 * d * kBlockRows, 4.0 * d * kBlockRows, 20.0 * d * kBlockRows), body);
    float* dwp = dw->flat<float>().data();
    float* dbp = db->flat<float>().data();
    for (int64_t j = 0; j < d; j++) {
      double sw = 0, sb = 0;
      for (int64_t blk = 0; blk < blocks; blk++) {
        sw += partp[blk * 2 * d + j];
        sb += partp[blk * 2 * d + d + j];
      }
      dwp[j] = static_cast<float>(sw);
      dbp[j] = static_cast<float>(sb);
    }
  }
};

REGISTER_KERNEL_BUILDER(Name("RobustokLayerNorm").Device(tensorflow::DEVICE_CPU), LayerNormOp);
REGISTER_KERNEL_BUILDER(Name("RobustokLayerNormGrad").Device(tensorflow::DEVICE_CPU), LayerNormGradOp);
}  // namespace robustok
