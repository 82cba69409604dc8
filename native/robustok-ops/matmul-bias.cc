// A linear layer's forward, x·wᵀ + b, as one kernel (issue 12): TensorFlow's own `_FusedMatMul` with
// fused_ops = ["BiasAdd"], which adds the bias to each block of the product while it is still in cache
// instead of a separate BiasAdd pass over the whole output (~4% of a tokenizer training step at one
// thread). tfjs-node cannot run `_FusedMatMul` itself: its binding sets no list(string) attribute, and
// `fused_ops` is one. This op has no such attribute; its kernel builds the `_FusedMatMul` kernel once,
// with the attributes fixed here, and hands it its own context (same inputs, same output).
//
// The product is the Eigen contraction that BatchMatMulV2 runs for a single 2-D product (both go through
// TensorFlow's contraction kernel), and the output kernel adds the bias to the finished float product, so
// the result equals BatchMatMulV2(x, w, adj_y) followed by BiasAdd bit for bit (checked by
// test/unit/models/layers/native-ops.test.ts).
//
// Inputs are named as `_FusedMatMul` names them (a, b, args), because its kernel looks its bias up by
// the input name `args` in the context it is given.
#include <memory>

#include "op-common.h"
#include "tensorflow/core/framework/node_def.pb.h"
#include "tensorflow/core/framework/node_def_util.h"
#include "tensorflow/core/public/version.h"

namespace robustok {

REGISTER_OP("RobustokMatMulBias")
    .Input("a: float")
    .Input("b: float")
    .Input("args: num_args * float")
    .Output("product: float")
    .Attr("num_args: int = 1")
    .SetShapeFn([](si::InferenceContext* c) {
      si::ShapeHandle a, b;
      TF_RETURN_IF_ERROR(c->WithRank(c->input(0), 2, &a));
      TF_RETURN_IF_ERROR(c->WithRank(c->input(1), 2, &b));
      c->set_output(0, c->Matrix(c->Dim(a, 0), c->Dim(b, 0)));
      return absl::OkStatus();
    })
    .Doc("a [N, K] times b [M, K] transposed, plus args[0] [M]: a Linear layer's forward in one kernel.");

class MatMulBiasOp : public OpKernel {
 public:
  explicit MatMulBiasOp(OpKernelConstruction* c) : OpKernel(c) {
    int num_args = 0;
    OP_REQUIRES_OK(c, c->GetAttr("num_args", &num_args));
    OP_REQUIRES(c, num_args == 1, tensorflow::errors::InvalidArgument("RobustokMatMulBias takes one bias, got ", num_args));
    tensorflow::NodeDef def;
    def.set_name(name() + "/fused");
    def.set_op("_FusedMatMul");
    def.add_input("a");
    def.add_input("b");
    def.add_input("bias");
    tensorflow::AddNodeAttr("T", tensorflow::DT_FLOAT, &def);
    tensorflow::AddNodeAttr("transpose_a", false, &def);
    tensorflow::AddNodeAttr("transpose_b", true, &def);
    tensorflow::AddNodeAttr("num_args", 1, &def);
    tensorflow::AddNodeAttr("fused_ops", std::vector<std::string>{"BiasAdd"}, &def);
    tensorflow::AddNodeAttr("epsilon", 0.0001f, &def);
    tensorflow::AddNodeAttr("leakyrelu_alpha", 0.2f, &def);
    absl::Status status;
    fused_ = tensorflow::CreateOpKernel(tensorflow::DEVICE_CPU, c->device(), c->device()->GetAllocator({}), def,
                                        TF_GRAPH_DEF_VERSION, &status);
    OP_REQUIRES_OK(c, status);
  }

  void Compute(OpKernelContext* c) override {
    const Tensor& a = c->input(0);
    const Tensor& b = c->input(1);
    const Tensor& bias = c->input(2);
    OP_REQUIRES(c, a.dims() == 2 && b.dims() == 2 && bias.dims() == 1 && a.dim_size(1) == b.dim_size(1) &&
                       bias.dim_size(0) == b.dim_size(0),
                tensorflow::errors::InvalidArgument("RobustokMatMulBias: a ", a.shape().DebugString(), ", b ",
                                                    b.shape().DebugString(), ", bias ", bias.shape().DebugString(),
                                                    "; want a [N, K], b [M, K], bias [M]"));
    fused_->Compute(c);
  }

 private:
  std::unique_ptr<OpKernel> fused_;
};

REGISTER_KERNEL_BUILDER(Name("RobustokMatMulBias").Device(tensorflow::DEVICE_CPU), MatMulBiasOp);
}  // namespace robustok
