// The softmax part of attention's backward in one pass over the [.., T, Tk] scores (issue 12). With
// P = softmax(S), O = (P ⊙ M) v and dP = dO vᵀ (models/layers/attention.ts writes the backward out in
// FlashAttention's form), the scores' gradient is
//
//   Dᵢ = Σₕ dOᵢₕ Oᵢₕ,   dSᵢⱼ = Pᵢⱼ (dPᵢⱼ Mᵢⱼ − Dᵢ)       (M: the dropout multiplier, or none)
//
// which the tfjs ops take as Mul + Sum over [T, hs] and (Mul +) Sub + Mul over [T, Tk]: 3 or 4 full
// passes over the biggest tensors of a transformer step. Here each row reads its P, dP (and M) once and
// writes dS once. Dᵢ accumulates in double (LaneSum, op-common.h), so the result equals the tfjs ops to
// float32 rounding. The `scale` attribute multiplies dS on the way out: attention's 1/√hs, which the
// products dq = dS k and dk = dSᵀ q would otherwise each take as a full pass over [.., T, hs]
// (scale 1 leaves the bits as they are).
#include <algorithm>
#include <cstdint>

#include "op-common.h"

namespace robustok {

static absl::Status ScoresShape(si::InferenceContext* c) {
  c->set_output(0, c->input(0));
  return absl::OkStatus();
}

REGISTER_OP("RobustokAttentionScoresGrad")
    .Input("p: float")
    .Input("dp: float")
    .Input("d_o: float")
    .Input("o: float")
    .Output("ds: float")
    .Attr("scale: float = 1.0")
    .SetShapeFn(ScoresShape)
    .Doc("dS = P * (dP - rowsum(dO * O)) * scale for attention's backward.");

REGISTER_OP("RobustokAttentionScoresGradMasked")
    .Input("p: float")
    .Input("dp: float")
    .Input("d_o: float")
    .Input("o: float")
    .Input("mask: float")
    .Output("ds: float")
    .Attr("scale: float = 1.0")
    .SetShapeFn(ScoresShape)
    .Doc("dS = P * (dP * M - rowsum(dO * O)) * scale for attention's backward with a dropout multiplier M.");

template <bool kMasked>
class ScoresGradOp : public OpKernel {
 public:
  explicit ScoresGradOp(OpKernelConstruction* c) : OpKernel(c) { OP_REQUIRES_OK(c, c->GetAttr("scale", &scale_)); }
  void Compute(OpKernelContext* c) override {
    const Tensor& p = c->input(0);
    const Tensor& dp = c->input(1);
    const Tensor& dO = c->input(2);
    const Tensor& o = c->input(3);
    OP_REQUIRES(c, p.dims() >= 1 && dp.shape() == p.shape() && dO.shape() == o.shape() && o.dims() == p.dims(),
                tensorflow::errors::InvalidArgument("attention scores grad: p ", p.shape().DebugString(), ", dp ",
                                                    dp.shape().DebugString(), ", dO ", dO.shape().DebugString(), ", O ",
                                                    o.shape().DebugString()));
    const int64_t tk = p.dim_size(p.dims() - 1), hs = o.dim_size(o.dims() - 1);
    const int64_t rows = tk == 0 ? 0 : p.NumElements() / tk;
    OP_REQUIRES(c, (hs == 0 ? 0 : o.NumElements() / hs) == rows,
                tensorflow::errors::InvalidArgument("attention scores grad: ", rows, " score rows but ",
                                                    o.NumElements() / std::max<int64_t>(hs, 1), " output rows"));
    const float* mp = nullptr;
    if (kMasked) {
      const Tensor& m = c->input(4);
      OP_REQUIRES(c, m.shape() == p.shape(),
                  tensorflow::errors::InvalidArgument("attention scores grad: mask ", m.shape().DebugString(),
                                                      " is not p's ", p.shape().DebugString()));
      mp = m.flat<float>().data();
    }
    Tensor* ds = nullptr;
    OP_REQUIRES_OK(c, c->forward_input_or_allocate_output({1}, 0, p.shape(), &ds));
    const float* pp = p.flat<float>().data();
    const float* dpp = dp.flat<float>().data();
    const float* dop = dO.flat<float>().data();
    const float* op = o.flat<float>().data();
    float* out = ds->flat<float>().data();
    const float scale = scale_;
    auto body = [=](Eigen::Index r0, Eigen::Index r1) {
      for (Eigen::Index r = r0; r < r1; r++) {
        const float* dor = dop + r * hs;
        const float* orow = op + r * hs;
        const float d = static_cast<float>(LaneSum(hs, [=](int64_t h) { return static_cast<double>(dor[h]) * orow[h]; }));
        const int64_t b = r * tk;
        // out may alias dp (forwarded buffer): each element is read before it is written
        for (int64_t j = 0; j < tk; j++) {
          const float g = kMasked ? dpp[b + j] * mp[b + j] : dpp[b + j];
          out[b + j] = (pp[b + j] * (g - d)) * scale;
        }
      }
    };
    c->eigen_device<CpuDevice>().parallelFor(rows, Eigen::TensorOpCost(12.0 * tk + 8.0 * hs, 4.0 * tk, 4.0 * tk + 2.0 * hs),
                                              body);
  }

 private:
  float scale_ = 1.0f;
};

REGISTER_KERNEL_BUILDER(Name("RobustokAttentionScoresGrad").Device(tensorflow::DEVICE_CPU), ScoresGradOp<false>);
REGISTER_KERNEL_BUILDER(Name("RobustokAttentionScoresGradMasked").Device(tensorflow::DEVICE_CPU), ScoresGradOp<true>);
}  // namespace robustok
