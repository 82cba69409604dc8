// One AdamW step over a flat parameter group as a single TensorFlow CPU kernel (issue 12).
//
// models/training/adamw.ts keeps each group's parameters, gradients and moments as flat vectors and
// updates them with ~13 elementwise kernels, each a full pass over the group; this kernel reads p, m, v
// and g once and writes p', m', v' once. Every value is computed with the same float32 operations in the
// same order as those kernels (IEEE multiply, add, divide and square root round identically in either
// form, and the library is compiled without multiply-add contraction), so the update is bit-identical to
// the tfjs path and checkpoints do not depend on which one ran.
//
//   g' = g·scale                          (scale: the global-norm clipping coefficient, or 1)
//   m' = m·β1 + g'·(1−β1);  v' = v·β2 + g'²·(1−β2)
//   p' = p·decay − (m' / (√v' / √bc2 + ε))·stepSize
//
// hyper = [decay, stepSize, √bc2] changes every step, so it is an input (one graph serves every step);
// β1, 1−β1, β2, 1−β2 and ε are attributes, rounded to float32 by the caller exactly as tfjs rounds the
// scalars it multiplies by.
#include <cmath>

#include "op-common.h"

namespace robustok {

REGISTER_OP("RobustokAdamW")
    .Input("p: float")
    .Input("m: float")
    .Input("v: float")
    .Input("g: float")
    .Input("scale: float")
    .Input("hyper: float")
    .Output("p_out: float")
    .Output("m_out: float")
    .Output("v_out: float")
    .Attr("beta1: float")
    .Attr("one_minus_beta1: float")
    .Attr("beta2: float")
    .Attr("one_minus_beta2: float")
    .Attr("eps: float")
    .Attr("clip: bool")
    .Attr("decay: bool")
    .SetShapeFn([](tensorflow::shape_inference::InferenceContext* c) {
      for (int i = 0; i < 3; i++) c->set_output(i, c->input(0));
      return absl::OkStatus();
    })
    .Doc("One AdamW update of a flat parameter group.");

class AdamWOp : public OpKernel {
 public:
  explicit AdamWOp(OpKernelConstruction* c) : OpKernel(c) {
    OP_REQUIRES_OK(c, c->GetAttr("beta1", &beta1_));
    OP_REQUIRES_OK(c, c->GetAttr("one_minus_beta1", &omb1_));
    OP_REQUIRES_OK(c, c->GetAttr("beta2", &beta2_));
    OP_REQUIRES_OK(c, c->GetAttr("one_minus_beta2", &omb2_));
    OP_REQUIRES_OK(c, c->GetAttr("eps", &eps_));
    OP_REQUIRES_OK(c, c->GetAttr("clip", &clip_));
    OP_REQUIRES_OK(c, c->GetAttr("decay", &decay_));
  }

  void Compute(OpKernelContext* c) override {
    const Tensor& p = c->input(0);
    const Tensor& m = c->input(1);
    const Tensor& v = c->input(2);
    const Tensor& g = c->input(3);
    const Tensor& scale = c->input(4);
    const Tensor& hyper = c->input(5);
    OP_REQUIRES(c, p.dims() == 1 && m.shape() == p.shape() && v.shape() == p.shape() && g.shape() == p.shape(),
                tensorflow::errors::InvalidArgument("RobustokAdamW: p, m, v, g must be equal 1-D shapes, got ",
                                                    p.shape().DebugString(), m.shape().DebugString(),
                                                    v.shape().DebugString(), g.shape().DebugString()));
    OP_REQUIRES(c, scale.NumElements() == 1 && hyper.NumElements() == 3,
                tensorflow::errors::InvalidArgument("RobustokAdamW: scale must hold 1 value and hyper 3"));
    Tensor *po = nullptr, *mo = nullptr, *vo = nullptr;
    OP_REQUIRES_OK(c, c->forward_input_or_allocate_output({0}, 0, p.shape(), &po));
    OP_REQUIRES_OK(c, c->forward_input_or_allocate_output({1}, 1, p.shape(), &mo));
    OP_REQUIRES_OK(c, c->forward_input_or_allocate_output({2}, 2, p.shape(), &vo));
    const float* pp = p.flat<float>().data();
    const float* mp = m.flat<float>().data();
    const float* vp = v.flat<float>().data();
    const float* gp = g.flat<float>().data();
    float* pw = po->flat<float>().data();
    float* mw = mo->flat<float>().data();
    float* vw = vo->flat<float>().data();
    const float s = scale.flat<float>()(0);
    const auto h = hyper.flat<float>();
    const float decay = h(0), step = h(1), sbc2 = h(2);
    const float b1 = beta1_, o1 = omb1_, b2 = beta2_, o2 = omb2_, eps = eps_;
    const bool clip = clip_, dec = decay_;
    // each element is independent: split the range over the op's intra-op pool (outputs may alias inputs
    // element for element, which a read-before-write per index allows)
    auto body = [=](Eigen::Index begin, Eigen::Index end) {
      for (Eigen::Index i = begin; i < end; i++) {
        const float gi = clip ? gp[i] * s : gp[i];
        const float mi = mp[i] * b1 + gi * o1;
        const float vi = vp[i] * b2 + (gi * gi) * o2;
        const float pi = dec ? pp[i] * decay : pp[i];
        const float den = std::sqrt(vi) / sbc2 + eps;
        mw[i] = mi;
        vw[i] = vi;
        pw[i] = pi - (mi / den) * step;
      }
    };
    // ~4 loads, 3 stores and ~12 flops per element
    c->eigen_device<Eigen::ThreadPoolDevice>().parallelFor(p.NumElements(), Eigen::TensorOpCost(16, 12, 12), body);
  }

 private:
  float beta1_, omb1_, beta2_, omb2_, eps_;
  bool clip_, decay_;
};

REGISTER_KERNEL_BUILDER(Name("RobustokAdamW").Device(tensorflow::DEVICE_CPU), AdamWOp);
}  // namespace robustok
