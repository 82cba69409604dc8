// Dropout masks in one pass (issue 12): 0 or 1/(1 − p) per element, from the Philox4x32-10 stream that
// TensorFlow's StatelessRandomUniform draws for the same seed (models/layers/philox-uniform.ts describes
// it and holds the JavaScript port the tests compare with). It replaces StatelessRandomUniform,
// GreaterEqual, Cast and Mul: four full-size kernels, the first ~11 ns per element at one thread, where
// a RAR smoke step spent ~60 ms of ~330 drawing masks.
//
//   u = float32 in [1, 2) with mantissa = low 23 bits of the stream word, minus 1
//   mask = u >= p ? scale : 0        (p, scale: float32, as the tfjs ops round them)
//
// The elements of group g (4 per Philox block) come from counter + g, so any split over threads gives
// the same mask.
#include <cstdint>
#include <cstring>
#ifdef __AVX2__
#include <immintrin.h>
#endif
#include <vector>

#include "op-common.h"

namespace robustok {

REGISTER_OP("RobustokDropoutMask")
    .Input("seed: int32")
    .Output("mask: float")
    .Attr("shape: list(int)")
    .Attr("p: float")
    .Attr("scale: float")
    .SetShapeFn([](si::InferenceContext* c) {
      std::vector<int64_t> dims;
      TF_RETURN_IF_ERROR(c->GetAttr("shape", &dims));
      std::vector<si::DimensionHandle> hs;
      for (int64_t d : dims) hs.push_back(c->MakeDim(d));
      c->set_output(0, c->MakeShape(hs));
      return absl::OkStatus();
    })
    .Doc("Dropout multiplier (0 or scale) from StatelessRandomUniform's Philox stream for seed.");

namespace {
constexpr uint32_t kM0 = 0xD2511F53, kM1 = 0xCD9E8D57, kW0 = 0x9E3779B9, kW1 = 0xBB67AE85;
constexpr uint32_t kScramble0 = 0x3EC8F720, kScramble1 = 0x02461E29;  // TensorFlow's seed-scrambling key

inline void Philox(const uint32_t in[4], uint32_t k0, uint32_t k1, uint32_t out[4]) {
  uint32_t c0 = in[0], c1 = in[1], c2 = in[2], c3 = in[3];
  for (int round = 0; round < 10; round++) {
    if (round > 0) {
      k0 += kW0;
      k1 += kW1;
    }
    const uint64_t p0 = static_cast<uint64_t>(kM0) * c0;
    const uint64_t p1 = static_cast<uint64_t>(kM1) * c2;
    const uint32_t n0 = static_cast<uint32_t>(p1 >> 32) ^ c1 ^ k0;
    const uint32_t n2 = static_cast<uint32_t>(p0 >> 32) ^ c3 ^ k1;
    c1 = static_cast<uint32_t>(p1);
    c3 = static_cast<uint32_t>(p0);
    c0 = n0;
    c2 = n2;
  }
  out[0] = c0;
  out[1] = c1;
  out[2] = c2;
  out[3] = c3;
}

#ifdef __AVX2__
// hi and lo 32 bits of a[j]·m for the 8 lanes (_mm256_mul_epu32 multiplies the even lanes; the odd ones
// are shifted down for a second multiply, and the halves blended back into lane order)
inline void MulHiLo8(__m256i a, __m256i m, __m256i* hi, __m256i* lo) {
  const __m256i pe = _mm256_mul_epu32(a, m);
  const __m256i po = _mm256_mul_epu32(_mm256_srli_epi64(a, 32), m);
  *lo = _mm256_blend_epi32(pe, _mm256_slli_epi64(po, 32), 0xAA);
  *hi = _mm256_blend_epi32(_mm256_srli_epi64(pe, 32), po, 0xAA);
}

// Philox blocks for counters (0, 0, b2, b3) + g0 + j, j = 0..7 (g0 + 7 < 2^63): out[word][j]
inline void Philox8(uint64_t g0, uint32_t b2, uint32_t b3, uint32_t k0, uint32_t k1, uint32_t out[4][8]) {
  alignas(32) uint32_t lo[8], hi[8];
  for (int j = 0; j < 8; j++) {
    lo[j] = static_cast<uint32_t>(g0 + j);
    hi[j] = static_cast<uint32_t>((g0 + j) >> 32);
  }
  __m256i c0 = _mm256_load_si256(reinterpret_cast<const __m256i*>(lo));
  __m256i c1 = _mm256_load_si256(reinterpret_cast<const __m256i*>(hi));
  __m256i c2 = _mm256_set1_epi32(static_cast<int>(b2));
  __m256i c3 = _mm256_set1_epi32(static_cast<int>(b3));
  const __m256i m0 = _mm256_set1_epi32(static_cast<int>(kM0));
  const __m256i m1 = _mm256_set1_epi32(static_cast<int>(kM1));
  for (int round = 0; round < 10; round++) {
    if (round > 0) {
      k0 += kW0;
      k1 += kW1;
    }
    __m256i hi0, lo0, hi1, lo1;
    MulHiLo8(c0, m0, &hi0, &lo0);
    MulHiLo8(c2, m1, &hi1, &lo1);
    const __m256i n0 = _mm256_xor_si256(_mm256_xor_si256(hi1, c1), _mm256_set1_epi32(static_cast<int>(k0)));
    const __m256i n2 = _mm256_xor_si256(_mm256_xor_si256(hi0, c3), _mm256_set1_epi32(static_cast<int>(k1)));
    c1 = lo1;
    c3 = lo0;
    c0 = n0;
    c2 = n2;
  }
  _mm256_store_si256(reinterpret_cast<__m256i*>(out[0]), c0);
  _mm256_store_si256(reinterpret_cast<__m256i*>(out[1]), c1);
  _mm256_store_si256(reinterpret_cast<__m256i*>(out[2]), c2);
  _mm256_store_si256(reinterpret_cast<__m256i*>(out[3]), c3);
}
#endif

inline float Unit(uint32_t w) {
  const uint32_t bits = (w & 0x7FFFFFu) | 0x3F800000u;
  float f;
  std::memcpy(&f, &bits, sizeof f);
  return f - 1.0f;
}
}  // namespace

class DropoutMaskOp : public OpKernel {
 public:
  explicit DropoutMaskOp(OpKernelConstruction* c) : OpKernel(c) {
    std::vector<int64_t> dims;
    OP_REQUIRES_OK(c, c->GetAttr("shape", &dims));
    for (int64_t d : dims) {
      OP_REQUIRES(c, d >= 0, tensorflow::errors::InvalidArgument("RobustokDropoutMask: negative dimension ", d));
      shape_.AddDim(d);
    }
    OP_REQUIRES_OK(c, c->GetAttr("p", &p_));
    OP_REQUIRES_OK(c, c->GetAttr("scale", &scale_));
  }

  void Compute(OpKernelContext* c) override {
    const Tensor& seed = c->input(0);
    OP_REQUIRES(c, seed.NumElements() == 2,
                tensorflow::errors::InvalidArgument("RobustokDropoutMask: seed must hold 2 values, got ",
                                                    seed.shape().DebugString()));
    Tensor* out = nullptr;
    OP_REQUIRES_OK(c, c->allocate_output(0, shape_, &out));
    const int32_t s0 = seed.flat<int32_t>()(0), s1 = seed.flat<int32_t>()(1);
    // int32 seed words are sign-extended to 64 bits, low word first
    const uint32_t ctr[4] = {static_cast<uint32_t>(s0), s0 < 0 ? 0xFFFFFFFFu : 0u, static_cast<uint32_t>(s1),
                             s1 < 0 ? 0xFFFFFFFFu : 0u};
    uint32_t mix[4];
    Philox(ctr, kScramble0, kScramble1, mix);
    const uint32_t k0 = mix[0], k1 = mix[1], base2 = mix[2], base3 = mix[3];
    const int64_t n = out->NumElements();
    const int64_t groups = (n + 3) / 4;
    float* o = out->flat<float>().data();
    const float p = p_, scale = scale_;
    auto body = [=](Eigen::Index g0, Eigen::Index g1) {
      Eigen::Index g = g0;
#ifdef __AVX2__
      // 8 groups at a time in AVX2 lanes (a scalar Philox is ~6 ns per element, slower than TensorFlow's)
      alignas(32) uint32_t w[4][8];
      alignas(32) float m[4][8];
      const __m256 pv = _mm256_set1_ps(p), sv = _mm256_set1_ps(scale), one = _mm256_set1_ps(1.0f);
      const __m256i mant = _mm256_set1_epi32(0x7FFFFF), expo = _mm256_set1_epi32(0x3F800000);
      for (; g + 8 <= g1 && (g + 8) * 4 <= n; g += 8) {
        Philox8(static_cast<uint64_t>(g), base2, base3, k0, k1, w);
        for (int q = 0; q < 4; q++) {
          // Unit() in lanes, then the compare as a select: no branch on random bits
          const __m256i bits = _mm256_or_si256(_mm256_and_si256(_mm256_load_si256(reinterpret_cast<const __m256i*>(w[q])), mant), expo);
          const __m256 u = _mm256_sub_ps(_mm256_castsi256_ps(bits), one);
          _mm256_store_ps(m[q], _mm256_and_ps(_mm256_cmp_ps(u, pv, _CMP_GE_OQ), sv));
        }
        float* dst = o + g * 4;
        for (int j = 0; j < 8; j++)
          for (int q = 0; q < 4; q++) dst[j * 4 + q] = m[q][j];
      }
#endif
      for (; g < g1; g++) {
        // counter (0, 0, base2, base3) + g as a 128-bit number; g < 2^63
        const uint64_t lo = static_cast<uint64_t>(g);
        const uint32_t c[4] = {static_cast<uint32_t>(lo), static_cast<uint32_t>(lo >> 32), base2, base3};
        uint32_t r[4];
        Philox(c, k0, k1, r);
        const int64_t i0 = g * 4;
        for (int q = 0; q < 4 && i0 + q < n; q++) o[i0 + q] = Unit(r[q]) >= p ? scale : 0.0f;
      }
    };
    c->eigen_device<Eigen::ThreadPoolDevice>().parallelFor(groups, Eigen::TensorOpCost(0, 16, 80), body);
  }

 private:
  TensorShape shape_;
  float p_, scale_;
};

REGISTER_KERNEL_BUILDER(Name("RobustokDropoutMask").Device(tensorflow::DEVICE_CPU), DropoutMaskOp);
}  // namespace robustok
