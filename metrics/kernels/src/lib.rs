//! Float64 kernels for the Fréchet distance, compiled to WebAssembly with SIMD (f64x2).
//!
//! What they compute: tr sqrt(S1 S2) for symmetric positive semi-definite S1, S2 without complex
//! arithmetic. With S1 = L Lᵀ (Cholesky), S1 S2 is similar to the symmetric matrix Lᵀ S2 L, whose
//! eigenvalues are real and non-negative; the trace of the square root is the sum of their square
//! roots. Only eigenvalues are needed, so the cost is one Cholesky (n³/3), the product Lᵀ S2 L (n³,
//! see product_ut_s_u) and one Householder tridiagonalisation (4n³/3, blocked: see
//! tridiagonalize_blocked) followed by the O(n²) root-free QL iteration on the tridiagonal.
//!
//! Where the time goes at d = 2048 on one core (x86-64 under V8, f64x2 without FMA; measure with
//! bench/frechet-stages.ts): Cholesky ~0.26 s, product ~0.68 s, tridiagonalisation ~1.0 s, QL
//! ~0.06 s. The products run at ~13–15 GF/s, near the ~6 flop/cycle that separate 128-bit
//! multiplies and adds allow; the tridiagonalisation's symmetric matrix-vector half is bound by
//! streaming the trailing matrix (~20 GB/s).
//! A singular covariance (fewer samples than dimensions) is factored by the blocked pivoted
//! Cholesky instead (pivoted_product): d = 2048 from 1000 samples takes ~1.8 s (13.7 s unblocked).
//! All the O(n³) loops (the products, the Cholesky updates, the tridiagonalisation's symmetric
//! matrix-vector products and rank-2·32 updates) can run on two threads: see par_for. What stays on
//! one thread is the per-column work inside each tridiagonalisation panel (O(n²) in all), the
//! last 128 rows and the QL iteration.
//!
//! Matrices are row-major n×n f64. Every exported function takes raw pointers into the module's
//! memory; the TypeScript side (metrics/frechet-wasm.ts) owns allocation and copying.
#![allow(clippy::missing_safety_doc, clippy::too_many_arguments)]

use core::arch::wasm32::*;

#[no_mangle]
pub extern "C" fn alloc_f64(n: usize) -> *mut f64 {
    let mut v = vec![0f64; n];
    let p = v.as_mut_ptr();
    core::mem::forget(v);
    p
}

#[no_mangle]
pub unsafe extern "C" fn free_f64(p: *mut f64, n: usize) {
    drop(Vec::from_raw_parts(p, n, n));
}

// ---------------------------------------------------------------------------------------------
// Two threads on one shared memory. The module imports a shared memory; a helper Worker
// (metrics/frechet-threads.ts) instantiates the same module on it and parks in helper_loop. The
// O(n³) loops below (Cholesky panel and trailing update, the product's block rows, the
// tridiagonalisation's symmetric matrix-vector products and rank-2·32 updates, the pivoted path's
// products) hand independent blocks to par_for, and both threads claim blocks from a shared
// counter. Every block writes its own outputs and the partition does not depend on the thread
// count, so results are bit-identical at 1 and 2 threads. Only the calling thread allocates: the
// helper runs no code that touches the (single-threaded) allocator.
//
// On a shared machine the helper can be descheduled in the middle of a block, and the caller then
// waits a whole time slice at the end of the task. The caller times its own blocks and its wait
// (clock_ms, from the host); a wait far longer than a block counts as a strike, and after
// MAX_STRIKES the rest of the call runs on the caller alone, so a loaded machine costs a few
// slices, not one per task.
// ---------------------------------------------------------------------------------------------

use core::sync::atomic::{AtomicU32, AtomicUsize, Ordering};

struct Task {
    /// Bumped by the caller for every task; the helper sleeps on it.
    generation: AtomicU32,
    /// POSTED → ENTERED (helper took part) → LEFT, or POSTED → CLOSED (caller finished alone).
    state: AtomicU32,
    next: AtomicUsize,
    count: AtomicUsize,
    run: AtomicUsize,
    ctx: AtomicUsize,
}
const POSTED: u32 = 0;
const ENTERED: u32 = 1;
const CLOSED: u32 = 2;
const LEFT: u32 = 3;

static TASK: Task = Task {
    generation: AtomicU32::new(0),
    state: AtomicU32::new(CLOSED),
    next: AtomicUsize::new(0),
    count: AtomicUsize::new(0),
    run: AtomicUsize::new(0),
    ctx: AtomicUsize::new(0),
};
/// Helpers parked in helper_loop (0 or 1).
static HELPERS: AtomicU32 = AtomicU32::new(0);
/// Threads the current call may use (set_threads), and the strikes it has collected.
static THREADS: AtomicU32 = AtomicU32::new(1);
static STRIKES: AtomicU32 = AtomicU32::new(0);
#[cfg(not(feature = "profile"))]
const MAX_STRIKES: u32 = 3;
/// The stage-timing build measures the threads as they are, strikes or not.
#[cfg(feature = "profile")]
const MAX_STRIKES: u32 = u32::MAX;
/// Blocks the helper has run since the last set_threads.
static HELPER_BLOCKS: AtomicUsize = AtomicUsize::new(0);

type BlockFn = unsafe fn(*const u8, usize);

// memory.atomic.wait/notify are not stable Rust intrinsics: the host supplies them (Atomics.wait /
// Atomics.notify on the shared memory) along with a millisecond clock (performance.now).
extern "C" {
    /// Sleeps while the i32 at addr equals expected (returns at once if it does not).
    fn atomic_wait(addr: *const i32, expected: i32);
    /// Wakes the threads sleeping on addr.
    fn atomic_notify(addr: *const i32);
    fn clock_ms() -> f64;
}

/// Sets the threads the following calls may use (1 or 2) and clears the late-helper strikes.
#[no_mangle]
pub extern "C" fn set_threads(n: u32) {
    THREADS.store(n.clamp(1, 2), Ordering::Relaxed);
    STRIKES.store(0, Ordering::Relaxed);
    HELPER_BLOCKS.store(0, Ordering::Relaxed);
}

/// Number of helpers parked in helper_loop (0 or 1).
#[no_mangle]
pub extern "C" fn helper_count() -> u32 {
    HELPERS.load(Ordering::Acquire)
}

/// Late-helper strikes collected since the last set_threads (tests and benches read it).
#[no_mangle]
pub extern "C" fn helper_strikes() -> u32 {
    STRIKES.load(Ordering::Relaxed)
}

/// Blocks the helper ran since the last set_threads (tests check that it took part).
#[no_mangle]
pub extern "C" fn helper_blocks() -> u32 {
    HELPER_BLOCKS.load(Ordering::Relaxed) as u32
}

/// Runs f(i) for i in 0..count, split between this thread and the parked helper when `parallel`
/// and two threads are allowed; otherwise a plain loop. Blocks are claimed in index order, so
/// callers put the largest first. Results must not depend on which thread runs a block.
unsafe fn par_for<F: Fn(usize)>(parallel: bool, count: usize, f: &F) {
    unsafe fn trampoline<F: Fn(usize)>(ctx: *const u8, i: usize) {
        (*(ctx as *const F))(i)
    }
    if !parallel
        || count < 2
        || THREADS.load(Ordering::Relaxed) < 2
        || STRIKES.load(Ordering::Relaxed) >= MAX_STRIKES
        || HELPERS.load(Ordering::Acquire) == 0
    {
        (0..count).for_each(f);
        return;
    }
    let t = &TASK;
    t.next.store(0, Ordering::Relaxed);
    t.count.store(count, Ordering::Relaxed);
    t.run.store(trampoline::<F> as BlockFn as usize, Ordering::Relaxed);
    t.ctx.store(f as *const F as usize, Ordering::Relaxed);
    t.state.store(POSTED, Ordering::SeqCst);
    t.generation.fetch_add(1, Ordering::SeqCst);
    atomic_notify(t.generation.as_ptr() as *const i32);
    let start = clock_ms();
    let mut mine = 0usize;
    loop {
        let i = t.next.fetch_add(1, Ordering::AcqRel);
        if i >= count {
            break;
        }
        f(i);
        mine += 1;
    }
    // A helper that has not entered yet never will; one that has finishes its last block.
    if t.state.compare_exchange(POSTED, CLOSED, Ordering::AcqRel, Ordering::Acquire).is_ok() {
        return;
    }
    let done = clock_ms();
    let mut spins = 0u32;
    while t.state.load(Ordering::Acquire) != LEFT {
        if spins < 2000 {
            spins += 1;
            core::hint::spin_loop();
        } else {
            atomic_wait(t.state.as_ptr() as *const i32, ENTERED as i32);
        }
    }
    let waited = clock_ms() - done;
    let per_block = (done - start) / mine.max(1) as f64;
    if waited > 0.5 + 4.0 * per_block {
        STRIKES.fetch_add(1, Ordering::Relaxed);
    }
}

/// The helper thread's entry point: never returns.
#[no_mangle]
pub unsafe extern "C" fn helper_loop() {
    let t = &TASK;
    let mut seen = t.generation.load(Ordering::Acquire);
    HELPERS.fetch_add(1, Ordering::AcqRel);
    loop {
        // Spin briefly (tasks come in quick succession inside one factorisation), then sleep.
        let mut spins = 0u32;
        let mut g = t.generation.load(Ordering::Acquire);
        while g == seen {
            if spins < 20_000 {
                spins += 1;
                core::hint::spin_loop();
            } else {
                atomic_wait(t.generation.as_ptr() as *const i32, seen as i32);
            }
            g = t.generation.load(Ordering::Acquire);
        }
        seen = g;
        if t.state.compare_exchange(POSTED, ENTERED, Ordering::AcqRel, Ordering::Acquire).is_err() {
            continue;
        }
        let run: BlockFn = core::mem::transmute::<usize, BlockFn>(t.run.load(Ordering::Acquire));
        let ctx = t.ctx.load(Ordering::Acquire) as *const u8;
        let count = t.count.load(Ordering::Acquire);
        let mut ran = 0;
        loop {
            let i = t.next.fetch_add(1, Ordering::AcqRel);
            if i >= count {
                break;
            }
            run(ctx, i);
            ran += 1;
        }
        HELPER_BLOCKS.fetch_add(ran, Ordering::Relaxed);
        t.state.store(LEFT, Ordering::Release);
        atomic_notify(t.state.as_ptr() as *const i32);
    }
}

// ---------------------------------------------------------------------------------------------
// C += alpha · A Bᵀ ("NT" product: both operands are read along contiguous rows, which is what
// every product below needs once triangular factors are transposed).
// ---------------------------------------------------------------------------------------------

#[inline(always)]
unsafe fn ld(p: *const f64) -> v128 {
    v128_load(p as *const v128)
}

// Hot loops live in small non-inlined functions on purpose: V8 first runs WebAssembly in its
// baseline compiler and swaps in optimised code only on the next call of a function, so a loop that
// stays inside one long call would never get the optimised code.
#[inline(never)]
unsafe fn micro<const MR: usize, const NR: usize>(
    a: *const f64, lda: usize, b: *const f64, ldb: usize, k: usize, alpha: f64, c: *mut f64, ldc: usize,
) {
    let mut acc = [[f64x2_splat(0.0); NR]; MR];
    let mut m = 0;
    while m + 2 <= k {
        let mut bv = [f64x2_splat(0.0); NR];
        for j in 0..NR {
            bv[j] = ld(b.add(j * ldb + m));
        }
        for i in 0..MR {
            let av = ld(a.add(i * lda + m));
            for j in 0..NR {
                acc[i][j] = f64x2_add(acc[i][j], f64x2_mul(av, bv[j]));
            }
        }
        m += 2;
    }
    for i in 0..MR {
        for j in 0..NR {
            let mut s = f64x2_extract_lane::<0>(acc[i][j]) + f64x2_extract_lane::<1>(acc[i][j]);
            if m < k {
                s += *a.add(i * lda + m) * *b.add(j * ldb + m);
            }
            *c.add(i * ldc + j) += alpha * s;
        }
    }
}

/// C[i][j] += alpha · Σ_m A[i][m] · B[j][m] for i < mi, j < nj, m < kk.
pub unsafe fn gemm_nt(
    mi: usize, nj: usize, kk: usize, alpha: f64, a: *const f64, lda: usize, b: *const f64, ldb: usize, c: *mut f64, ldc: usize,
) {
    gemm_tiles::<GEMM_MR, GEMM_NR>(mi, nj, kk, alpha, a, lda, b, ldb, c, ldc);
}

/// Register tile of gemm_nt: 9 f64x2 accumulators. Measured at 1024³ (GF/s, one core): 3×3 15.2,
/// 4×2 14.2, 2×4 14.0, 3×4 and 4×3 12.6 (those run out of V8's 15 allocatable SIMD registers).
const GEMM_MR: usize = 3;
const GEMM_NR: usize = 3;

/// gemm_nt with MR×NR register tiles (edges by 1-row and 1-column tiles).
#[inline(always)]
unsafe fn gemm_tiles<const MR: usize, const NR: usize>(
    mi: usize, nj: usize, kk: usize, alpha: f64, a: *const f64, lda: usize, b: *const f64, ldb: usize, c: *mut f64, ldc: usize,
) {
    // KC×8 bytes per row keeps an MR-row A strip in L1 and a JC-row B block in L2.
    const KC: usize = 256;
    const JC: usize = 128;
    let mut k0 = 0;
    while k0 < kk {
        let kb = (kk - k0).min(KC);
        let mut j0 = 0;
        while j0 < nj {
            let jb = (nj - j0).min(JC);
            let bb = b.add(j0 * ldb + k0);
            let mut i = 0;
            while i < mi {
                let ab = a.add(i * lda + k0);
                let cb = c.add(i * ldc + j0);
                let mut j = 0;
                if i + MR <= mi {
                    while j + NR <= jb {
                        micro::<MR, NR>(ab, lda, bb.add(j * ldb), ldb, kb, alpha, cb.add(j), ldc);
                        j += NR;
                    }
                    while j < jb {
                        micro::<MR, 1>(ab, lda, bb.add(j * ldb), ldb, kb, alpha, cb.add(j), ldc);
                        j += 1;
                    }
                    i += MR;
                } else {
                    while j + NR <= jb {
                        micro::<1, NR>(ab, lda, bb.add(j * ldb), ldb, kb, alpha, cb.add(j), ldc);
                        j += NR;
                    }
                    while j < jb {
                        micro::<1, 1>(ab, lda, bb.add(j * ldb), ldb, kb, alpha, cb.add(j), ldc);
                        j += 1;
                    }
                    i += 1;
                }
            }
            j0 += jb;
        }
        k0 += kb;
    }
}

/// Exported form with explicit leading dimensions (element strides between rows).
#[no_mangle]
pub unsafe extern "C" fn gemm_nt_ld(
    mi: usize, nj: usize, kk: usize, alpha: f64, a: *const f64, lda: usize, b: *const f64, ldb: usize, c: *mut f64, ldc: usize,
) {
    gemm_nt(mi, nj, kk, alpha, a, lda, b, ldb, c, ldc);
}

#[inline(never)]
unsafe fn dot(x: *const f64, y: *const f64, n: usize) -> f64 {
    let mut acc0 = f64x2_splat(0.0);
    let mut acc1 = f64x2_splat(0.0);
    let mut m = 0;
    while m + 4 <= n {
        acc0 = f64x2_add(acc0, f64x2_mul(ld(x.add(m)), ld(y.add(m))));
        acc1 = f64x2_add(acc1, f64x2_mul(ld(x.add(m + 2)), ld(y.add(m + 2))));
        m += 4;
    }
    let acc = f64x2_add(acc0, acc1);
    let mut s = f64x2_extract_lane::<0>(acc) + f64x2_extract_lane::<1>(acc);
    while m < n {
        s += *x.add(m) * *y.add(m);
        m += 1;
    }
    s
}

// ---------------------------------------------------------------------------------------------
// Cholesky (blocked, lower, in place). Returns n on success, else the first column whose pivot is
// not above `tol`: the caller then falls back to the rank-revealing pivoted factorisation.
// ---------------------------------------------------------------------------------------------

unsafe fn cholesky(a: *mut f64, n: usize, tol: f64) -> usize {
    const NB: usize = 64;
    let mut k0 = 0;
    while k0 < n {
        let kb = (n - k0).min(NB);
        for j in k0..k0 + kb {
            let rj = a.add(j * n);
            let s = *rj.add(j) - dot(rj.add(k0), rj.add(k0), j - k0);
            if !(s > tol) {
                return j;
            }
            let ljj = s.sqrt();
            *rj.add(j) = ljj;
            for i in j + 1..k0 + kb {
                let ri = a.add(i * n);
                *ri.add(j) = (*ri.add(j) - dot(ri.add(k0), rj.add(k0), j - k0)) / ljj;
            }
        }
        // Panel below the diagonal block: solve X · L11ᵀ = A21 row by row, in strips of IB rows.
        const IB: usize = 64;
        let t0 = k0 + kb;
        let strips = (n - t0).div_ceil(IB);
        let par = n - t0 >= PAR_MIN;
        par_for(par, strips, &|s| {
            for i in t0 + s * IB..(t0 + (s + 1) * IB).min(n) {
                let ri = a.add(i * n);
                for j in k0..k0 + kb {
                    let rj = a.add(j * n);
                    *ri.add(j) = (*ri.add(j) - dot(ri.add(k0), rj.add(k0), j - k0)) / *rj.add(j);
                }
            }
        });
        // Trailing update of the lower triangle, by row strips, longest (last) first (the small
        // upper spill inside each diagonal strip lands in entries that are never read).
        par_for(par, strips, &|s| {
            let i0 = t0 + (strips - 1 - s) * IB;
            let ib = (n - i0).min(IB);
            gemm_nt(ib, i0 + ib - t0, kb, -1.0, a.add(i0 * n + k0), n, a.add(t0 * n + k0), n, a.add(i0 * n + t0), n);
        });
        k0 += kb;
    }
    n
}

/// Pivoted (rank-revealing) Cholesky, blocked (the scheme of LAPACK's DPSTRF): used only when the
/// plain factorisation fails (singular covariances, e.g. fewer samples than dimensions). Works on
/// the upper triangle of the symmetric n×n `a` (row-major; the lower triangle is neither read nor
/// kept) and overwrites rows 0..r with U = Lᵀ, P A Pᵀ ≈ Uᵀ U, where `piv[k]` is the index swapped
/// with k at step k. Pivots come from the updated diagonal, kept in `diag`; inside a panel the
/// trailing matrix is left as it was and each new row of U subtracts the panel's earlier rows,
/// after the panel one rank-NB product updates the trailing upper triangle.
/// Stops when the largest remaining pivot is ≤ tol. Returns the rank r and the most negative
/// diagonal entry left in the Schur complement (0 if none).
unsafe fn pivoted_cholesky(a: *mut f64, n: usize, piv: &mut [usize], tol: f64) -> (usize, f64) {
    const NB: usize = 32;
    let mut diag = vec![0f64; n];
    let mut xs = vec![0f64; n * NB];
    let xp = xs.as_mut_ptr();
    let mut k0 = 0;
    let mut rank = n;
    'panels: while k0 < n {
        let kb = (n - k0).min(NB);
        for j in k0..n {
            diag[j] = *a.add(j * n + j);
        }
        for k in k0..k0 + kb {
            let mut p = k;
            let mut best = diag[k];
            for (j, &d) in diag.iter().enumerate().skip(k + 1) {
                if d > best {
                    best = d;
                    p = j;
                }
            }
            piv[k] = p;
            if !(best > tol) {
                rank = k;
                break 'panels;
            }
            if p != k {
                swap_upper(a, n, k, p);
                for q in 0..k {
                    core::ptr::swap(a.add(q * n + k), a.add(q * n + p));
                }
                diag.swap(k, p);
            }
            let rk = a.add(k * n);
            for q in k0..k {
                let rq = a.add(q * n);
                axpy(-*rq.add(k), rq, rk, k + 1, n);
            }
            let ukk = best.sqrt();
            *rk.add(k) = ukk;
            let inv = 1.0 / ukk;
            for i in k + 1..n {
                let u = *rk.add(i) * inv;
                *rk.add(i) = u;
                diag[i] -= u * u;
            }
        }
        // Trailing update A −= Xᵀ-rows: A[i][j] −= Σ_q U[q][i] U[q][j] on the upper triangle, by
        // row strips (the lower spill inside each diagonal strip lands in entries never read).
        let t0 = k0 + kb;
        for i in t0..n {
            for q in 0..kb {
                *xp.add(i * kb + q) = *a.add((k0 + q) * n + i);
            }
        }
        const IB: usize = 64;
        let xp = xp as *const f64;
        par_for(n - t0 >= PAR_MIN, (n - t0).div_ceil(IB), &|s| {
            let i0 = t0 + s * IB;
            let ib = (n - i0).min(IB);
            gemm_nt(ib, n - i0, kb, -1.0, xp.add(i0 * kb), kb, xp.add(i0 * kb), kb, a.add(i0 * n + i0), n);
        });
        k0 = t0;
    }
    let residual = diag.iter().skip(rank).cloned().fold(0.0f64, f64::min);
    (rank, residual)
}

/// Swaps rows and columns k < p of the symmetric matrix held in the upper triangle of a, over
/// the indices ≥ k (rows above k are finished factor rows, swapped by the caller).
unsafe fn swap_upper(a: *mut f64, n: usize, k: usize, p: usize) {
    core::ptr::swap(a.add(k * n + k), a.add(p * n + p));
    for j in k + 1..p {
        core::ptr::swap(a.add(k * n + j), a.add(j * n + p));
    }
    for j in p + 1..n {
        core::ptr::swap(a.add(k * n + j), a.add(p * n + j));
    }
}

unsafe fn swap_sym(a: *mut f64, n: usize, k: usize, p: usize) {
    for j in 0..n {
        core::ptr::swap(a.add(k * n + j), a.add(p * n + j));
    }
    for i in 0..n {
        core::ptr::swap(a.add(i * n + k), a.add(i * n + p));
    }
}

// ---------------------------------------------------------------------------------------------
// Symmetric eigenvalues: Householder tridiagonalisation on the upper triangle (row-major, so each
// reflector is a contiguous row). Unblocked form, used for the last TRD_CROSSOVER rows and for
// small matrices: the rank-2 update of step k fused with the symmetric matrix-vector product of
// step k+1 so the trailing matrix is streamed once per step.
// ---------------------------------------------------------------------------------------------

/// Householder reflector for x (length m ≥ 1): returns (tau, beta) and writes v (v[0] = 1) so that
/// (I − tau v vᵀ) x = beta e1.
unsafe fn householder(x: *const f64, m: usize, v: *mut f64) -> (f64, f64) {
    let x0 = *x;
    let sigma = if m > 1 { dot(x.add(1), x.add(1), m - 1) } else { 0.0 };
    *v = 1.0;
    if sigma == 0.0 {
        for i in 1..m {
            *v.add(i) = 0.0;
        }
        return (0.0, x0);
    }
    let mu = (x0 * x0 + sigma).sqrt();
    let beta = if x0 <= 0.0 { mu } else { -mu };
    let inv = 1.0 / (x0 - beta);
    for i in 1..m {
        *v.add(i) = *x.add(i) * inv;
    }
    ((beta - x0) / beta, beta)
}

/// y[i] = Σ_j B[i][j] v[j] for the symmetric matrix whose upper triangle is rows/cols lo..n of a.
unsafe fn symv_upper(a: *const f64, lda: usize, n: usize, lo: usize, v: *const f64, y: *mut f64) {
    for i in lo..n {
        *y.add(i) = 0.0;
    }
    for i in lo..n {
        let ri = a.add(i * lda);
        let vi = *v.add(i);
        let mut acc = *ri.add(i) * vi;
        for j in i + 1..n {
            let aij = *ri.add(j);
            acc += aij * *v.add(j);
            *y.add(j) += aij * vi;
        }
        *y.add(i) += acc;
    }
}

/// Rows i..i+R of the fused step: applies the rank-2 update (v, w) to those upper-triangle rows and
/// accumulates their contribution to y = B' vn (y[i+r] directly and, by symmetry, y[j] for j > i+r).
/// Several rows share each load of v, w, vn and y, which is what bounds this loop.
#[inline(never)]
unsafe fn fused_rows<const R: usize>(a: *mut f64, lda: usize, i: usize, n: usize, v: *const f64, w: *const f64, vn: *const f64, y: *mut f64) {
    let mut acc = [0f64; R];
    // Small triangle inside the block, scalar.
    for r in 0..R {
        let ri = a.add((i + r) * lda);
        let (vi, wi, vni) = (*v.add(i + r), *w.add(i + r), *vn.add(i + r));
        let aii = *ri.add(i + r) - 2.0 * vi * wi;
        *ri.add(i + r) = aii;
        acc[r] += aii * vni;
        for j in i + r + 1..i + R {
            let x = *ri.add(j) - vi * *w.add(j) - wi * *v.add(j);
            *ri.add(j) = x;
            acc[r] += x * *vn.add(j);
            *y.add(j) += x * vni;
        }
    }
    let mut rows = [a; R];
    let mut sv = [f64x2_splat(0.0); R];
    let mut sw = [f64x2_splat(0.0); R];
    let mut svn = [f64x2_splat(0.0); R];
    let mut acc2 = [f64x2_splat(0.0); R];
    for r in 0..R {
        rows[r] = a.add((i + r) * lda);
        sv[r] = f64x2_splat(*v.add(i + r));
        sw[r] = f64x2_splat(*w.add(i + r));
        svn[r] = f64x2_splat(*vn.add(i + r));
    }
    let mut j = i + R;
    while j + 2 <= n {
        let (wj, vj, vnj) = (ld(w.add(j)), ld(v.add(j)), ld(vn.add(j)));
        let mut yj = ld(y.add(j));
        for r in 0..R {
            let p = rows[r].add(j);
            let x = f64x2_sub(f64x2_sub(ld(p), f64x2_mul(sv[r], wj)), f64x2_mul(sw[r], vj));
            v128_store(p as *mut v128, x);
            acc2[r] = f64x2_add(acc2[r], f64x2_mul(x, vnj));
            yj = f64x2_add(yj, f64x2_mul(x, svn[r]));
        }
        v128_store(y.add(j) as *mut v128, yj);
        j += 2;
    }
    for r in 0..R {
        let mut t = acc[r] + f64x2_extract_lane::<0>(acc2[r]) + f64x2_extract_lane::<1>(acc2[r]);
        if j < n {
            let ri = rows[r];
            let (vi, wi, vni) = (*v.add(i + r), *w.add(i + r), *vn.add(i + r));
            let x = *ri.add(j) - vi * *w.add(j) - wi * *v.add(j);
            *ri.add(j) = x;
            t += x * *vn.add(j);
            *y.add(j) += x * vni;
        }
        *y.add(i + r) += t;
    }
}

/// Reduces the symmetric n×n matrix (upper triangle of a, row stride lda, destroyed) to tridiagonal
/// form: diagonal d, off-diagonal e (e[k] couples k and k+1).
unsafe fn tridiagonalize_unblocked(a: *mut f64, lda: usize, n: usize, d: *mut f64, e: *mut f64) {
    if n == 0 {
        return;
    }
    if n == 1 {
        *d = *a;
        return;
    }
    // Global-index vectors (entries below the active range are unused).
    let mut v = vec![0f64; n];
    let mut w = vec![0f64; n];
    let mut vn = vec![0f64; n];
    let mut y = vec![0f64; n];
    let (v, w, vn, y) = (v.as_mut_ptr(), w.as_mut_ptr(), vn.as_mut_ptr(), y.as_mut_ptr());

    *d = *a;
    let (mut tau, beta) = householder(a.add(1), n - 1, v.add(1));
    *e = beta;
    // p = tau · B v, kept in w until turned into w below.
    symv_upper(a, lda, n, 1, v, w);
    for k in 0..n - 1 {
        let lo = k + 1; // trailing block is lo..n
        for i in lo..n {
            *w.add(i) *= tau;
        }
        let kk = 0.5 * tau * dot(w.add(lo), v.add(lo), n - lo);
        for i in lo..n {
            *w.add(i) -= kk * *v.add(i);
        }
        // Row lo first: its updated tail is the next reflector's input.
        let rl = a.add(lo * lda);
        let (vl, wl) = (*v.add(lo), *w.add(lo));
        for j in lo..n {
            *rl.add(j) -= vl * *w.add(j) + wl * *v.add(j);
        }
        *d.add(lo) = *rl.add(lo);
        if lo == n - 1 {
            break;
        }
        let (tau_n, beta_n) = householder(rl.add(lo + 1), n - lo - 1, vn.add(lo + 1));
        *e.add(lo) = beta_n;
        let lo2 = lo + 1;
        for i in lo2..n {
            *y.add(i) = 0.0;
        }
        let mut i = lo2;
        // Three rows per call measured fastest (d = 2048): more rows run out of SIMD registers.
        while i + 3 <= n {
            fused_rows::<3>(a, lda, i, n, v, w, vn, y);
            i += 3;
        }
        while i < n {
            fused_rows::<1>(a, lda, i, n, v, w, vn, y);
            i += 1;
        }
        // Next step: v ← vn, w ← y (= B' vn, scaled by tau at the top of the loop).
        core::ptr::copy_nonoverlapping(vn.add(lo2), v.add(lo2), n - lo2);
        core::ptr::copy_nonoverlapping(y.add(lo2), w.add(lo2), n - lo2);
        tau = tau_n;
    }
}

// ---------------------------------------------------------------------------------------------
// Blocked tridiagonalisation (the DSYTRD/DLATRD scheme; LAPACK's "lower" variant in column-major
// terms is this upper triangle in row-major). Reflectors are generated a panel of `tb` at a time;
// inside a panel the trailing matrix is left untouched and each symmetric matrix-vector product
// corrects for the panel's pending reflectors with the stored (V, W) pairs. After the panel, the
// whole trailing matrix takes the rank-2·tb update A −= V Wᵀ + W Vᵀ as one matrix product. Half of
// the 4n³/3 flops thus run in the register-blocked gemm instead of a streamed rank-2 update, and
// the trailing matrix is written once per panel instead of once per column.
// ---------------------------------------------------------------------------------------------

/// Panel width and the trailing size below which the unblocked fused steps take over. The panel's
/// rank-2·32 update is a k = 64 product (long enough for the gemm to run at its usual rate); at
/// d = 2048 panels of 16–64 measured alike within this shared machine's noise.
const TRD_PANEL: usize = 32;
const TRD_CROSSOVER: usize = 128;

/// y[j] += α x[j] for j in lo..hi.
#[inline(never)]
unsafe fn axpy(alpha: f64, x: *const f64, y: *mut f64, lo: usize, hi: usize) {
    let s = f64x2_splat(alpha);
    let mut j = lo;
    while j + 2 <= hi {
        let p = y.add(j) as *mut v128;
        v128_store(p, f64x2_add(v128_load(p), f64x2_mul(s, ld(x.add(j)))));
        j += 2;
    }
    if j < hi {
        *y.add(j) += alpha * *x.add(j);
    }
}

/// Rows i..i+R of y = B v for the symmetric B held in the upper triangle (row stride lda, columns
/// up to n): y[i+r] gets row i+r's dot product, y[j > i+r] the mirrored lower-triangle terms.
/// Read-only on the matrix; R rows share every load of v and y.
#[inline(never)]
unsafe fn symv_rows<const R: usize>(a: *const f64, lda: usize, i: usize, n: usize, v: *const f64, y: *mut f64) {
    let mut acc = [0f64; R];
    for r in 0..R {
        let ri = a.add((i + r) * lda);
        let vi = *v.add(i + r);
        acc[r] += *ri.add(i + r) * vi;
        for j in i + r + 1..i + R {
            acc[r] += *ri.add(j) * *v.add(j);
            *y.add(j) += *ri.add(j) * vi;
        }
    }
    let mut rows = [a; R];
    let mut sv = [f64x2_splat(0.0); R];
    let mut acc2 = [f64x2_splat(0.0); R];
    for r in 0..R {
        rows[r] = a.add((i + r) * lda);
        sv[r] = f64x2_splat(*v.add(i + r));
    }
    let mut j = i + R;
    while j + 2 <= n {
        let vj = ld(v.add(j));
        let mut yj = ld(y.add(j));
        for r in 0..R {
            let x = ld(rows[r].add(j));
            acc2[r] = f64x2_add(acc2[r], f64x2_mul(x, vj));
            yj = f64x2_add(yj, f64x2_mul(x, sv[r]));
        }
        v128_store(y.add(j) as *mut v128, yj);
        j += 2;
    }
    for r in 0..R {
        let mut t = acc[r] + f64x2_extract_lane::<0>(acc2[r]) + f64x2_extract_lane::<1>(acc2[r]);
        if j < n {
            let x = *rows[r].add(j);
            t += x * *v.add(j);
            *y.add(j) += x * *v.add(i + r);
        }
        *y.add(i + r) += t;
    }
}

/// y = B v over rows/columns lo..n of the symmetric B held in the upper triangle of a (row stride
/// lda), in SYMV_CHUNKS row chunks of about equal triangle area that par_for may run on two
/// threads. Chunk 0 accumulates into y, chunk c > 0 into row c − 1 of `parts` (SYMV_CHUNKS − 1 rows
/// of length n), and the partial sums are added to y in chunk order, so the result does not depend
/// on the thread count.
unsafe fn symv_chunked(a: *const f64, lda: usize, lo: usize, n: usize, v: *const f64, y: *mut f64, parts: *mut f64) {
    let m = n - lo;
    // Rows lo..b[c] hold the fraction c/SYMV_CHUNKS of the triangle: the remaining (n − b)² ≈ m² (1 − c/P).
    let mut b = [n; SYMV_CHUNKS + 1];
    b[0] = lo;
    for c in 1..SYMV_CHUNKS {
        let rest = (m as f64 * (1.0 - c as f64 / SYMV_CHUNKS as f64).sqrt()) as usize;
        b[c] = (n - rest.min(m)).max(b[c - 1]);
    }
    let out = |c: usize| if c == 0 { y } else { parts.add((c - 1) * n) };
    par_for(m >= PAR_MIN, SYMV_CHUNKS, &|c| {
        let yc = out(c);
        for i in b[c]..n {
            *yc.add(i) = 0.0;
        }
        let mut i = b[c];
        while i + 4 <= b[c + 1] {
            symv_rows::<4>(a, lda, i, n, v, yc);
            i += 4;
        }
        while i < b[c + 1] {
            symv_rows::<1>(a, lda, i, n, v, yc);
            i += 1;
        }
    });
    for c in 1..SYMV_CHUNKS {
        axpy(1.0, out(c), y, b[c], n);
    }
}

/// Row chunks of the panel's symmetric matrix-vector products (see symv_chunked): enough for two
/// threads to even out, few enough that adding the partial sums stays negligible.
const SYMV_CHUNKS: usize = 4;

/// Work below which par_for runs serially: trailing sizes under PAR_MIN rows (the task hand-off
/// costs microseconds; a 256-row symmetric matrix-vector product takes about ten). Mirrored by
/// PARALLEL_MIN_SIZE in metrics/frechet-wasm.ts.
const PAR_MIN: usize = 256;

/// Reduces the symmetric matrix (upper triangle of the n×n row-major a, destroyed) to tridiagonal
/// form: diagonal d, off-diagonal e (e[k] couples k and k+1). Panels of `tb` columns while more
/// than `crossover` rows remain (tb ≥ 1), then the unblocked fused steps.
unsafe fn tridiagonalize_blocked(a: *mut f64, n: usize, d: *mut f64, e: *mut f64, tb: usize, crossover: usize) {
    let crossover = crossover.max(tb + 1);
    // Panel vectors as rows of length n, indexed globally: V[t][i], W[t][i] for i > k0 + t.
    let mut vs = vec![0f64; tb * n];
    let mut ws = vec![0f64; tb * n];
    // Row i of xs is [V[0..tb][i], W[0..tb][i]], of ys [W[..][i], V[..][i]]: xs ysᵀ = V Wᵀ + W Vᵀ.
    let kk = 2 * tb;
    let mut xs = vec![0f64; n * kk];
    let mut ys = vec![0f64; n * kk];
    let (vp, wp, xp, yp) = (vs.as_mut_ptr(), ws.as_mut_ptr(), xs.as_mut_ptr(), ys.as_mut_ptr());
    let mut parts = vec![0f64; (SYMV_CHUNKS - 1) * n];
    let pp = parts.as_mut_ptr();
    let mut k0 = 0;
    while n - k0 > crossover {
        for j in 0..tb {
            let c = k0 + j;
            let rc = a.add(c * n);
            // Row c with the panel's earlier reflectors applied.
            for t in 0..j {
                let (vt, wt) = (vp.add(t * n), wp.add(t * n));
                axpy(-*wt.add(c), vt, rc, c, n);
                axpy(-*vt.add(c), wt, rc, c, n);
            }
            *d.add(c) = *rc.add(c);
            let v = vp.add(j * n);
            let w = wp.add(j * n);
            let (tau, beta) = householder(rc.add(c + 1), n - c - 1, v.add(c + 1));
            *e.add(c) = beta;
            // w = tau (A v − V Wᵀ v − W Vᵀ v) − ½ tau (wᵀv) v over the trailing rows c+1..n, with A
            // the matrix as it was when the panel began.
            let lo = c + 1;
            symv_chunked(a, n, lo, n, v, w, pp);
            for t in 0..j {
                let (vt, wt) = (vp.add(t * n), wp.add(t * n));
                let (wv, vv) = (dot(wt.add(lo), v.add(lo), n - lo), dot(vt.add(lo), v.add(lo), n - lo));
                axpy(-wv, vt, w, lo, n);
                axpy(-vv, wt, w, lo, n);
            }
            for i in lo..n {
                *w.add(i) *= tau;
            }
            let half = -0.5 * tau * dot(w.add(lo), v.add(lo), n - lo);
            axpy(half, v, w, lo, n);
        }
        // Trailing update of rows/columns r0..n, upper triangle, by row strips (the lower spill
        // inside each diagonal strip lands in entries that are never read).
        let r0 = k0 + tb;
        for i in r0..n {
            for t in 0..tb {
                let (vi, wi) = (*vp.add(t * n + i), *wp.add(t * n + i));
                *xp.add(i * kk + t) = vi;
                *xp.add(i * kk + tb + t) = wi;
                *yp.add(i * kk + t) = wi;
                *yp.add(i * kk + tb + t) = vi;
            }
        }
        const IB: usize = 64;
        let (xc, yc) = (xp as *const f64, yp as *const f64);
        par_for(n - r0 >= PAR_MIN, (n - r0).div_ceil(IB), &|s| {
            let i0 = r0 + s * IB;
            let ib = (n - i0).min(IB);
            gemm_nt(ib, n - i0, kk, -1.0, xc.add(i0 * kk), kk, yc.add(i0 * kk), kk, a.add(i0 * n + i0), n);
        });
        k0 = r0;
    }
    tridiagonalize_unblocked(a.add(k0 * n + k0), n, n - k0, d.add(k0), e.add(k0));
}

/// Test and tuning entry: eigenvalues with an explicit panel width and crossover (the production
/// path, symmetric_eigenvalues, uses TRD_PANEL and TRD_CROSSOVER).
#[no_mangle]
pub unsafe extern "C" fn symmetric_eigenvalues_with(a: *mut f64, n: usize, out: *mut f64, tb: usize, crossover: usize) -> i32 {
    let mut e = vec![0f64; n.max(1)];
    tridiagonalize_blocked(a, n, out, e.as_mut_ptr(), tb.max(1), crossover);
    if tridiagonal_eigenvalues(out, e.as_mut_ptr(), n) { 0 } else { 1 }
}

/// Eigenvalues of the symmetric tridiagonal (d, e) by the root-free QL iteration of Pal, Walker
/// and Kahan (the algorithm of LAPACK's DSTERF): it works on the squared off-diagonals and needs no
/// square root inside the sweep, which makes it several times cheaper than the QL iteration with
/// Givens rotations when no eigenvectors are wanted. A block whose last diagonal entry is smaller
/// in magnitude than its first is reversed and run the same way (i.e. QR from the other end), so
/// graded matrices converge from their small end as LAPACK does. d receives the eigenvalues
/// (unordered); e is destroyed. Returns false if an eigenvalue fails to converge.
unsafe fn tridiagonal_eigenvalues(d: *mut f64, e: *mut f64, n: usize) -> bool {
    if n <= 1 {
        return true;
    }
    let d = core::slice::from_raw_parts_mut(d, n);
    let e = core::slice::from_raw_parts_mut(e, n);
    e[n - 1] = 0.0;
    let eps = f64::EPSILON;
    let eps2 = eps * eps;
    // Scaling bounds: squaring entries outside [1e-100, 1e100] could over- or underflow.
    let (small, big) = (1e-100f64, 1e100f64);
    let mut max_iter = 30 * n;
    let mut l1 = 0;
    while l1 < n {
        // Split off the unreduced block l1..=end (e[end] negligible, or end = n − 1).
        if l1 > 0 {
            e[l1 - 1] = 0.0;
        }
        let mut end = l1;
        while end + 1 < n {
            let t = e[end].abs();
            if t == 0.0 || t <= d[end].abs().sqrt() * d[end + 1].abs().sqrt() * eps {
                e[end] = 0.0;
                break;
            }
            end += 1;
        }
        let l = l1;
        l1 = end + 1;
        if end == l {
            continue;
        }
        let block_d = &mut d[l..=end];
        let block_e = &mut e[l..end];
        let norm = block_d.iter().chain(block_e.iter()).fold(0.0f64, |m, x| m.max(x.abs()));
        if norm == 0.0 {
            continue;
        }
        let scale = if norm > big || norm < small { 1.0 / norm } else { 1.0 };
        if scale != 1.0 {
            block_d.iter_mut().for_each(|x| *x *= scale);
            block_e.iter_mut().for_each(|x| *x *= scale);
        }
        if block_d[block_d.len() - 1].abs() < block_d[0].abs() {
            block_d.reverse();
            block_e.reverse();
        }
        block_e.iter_mut().for_each(|x| *x *= *x);
        if !pwk_ql(block_d, block_e, eps2, &mut max_iter) {
            return false;
        }
        if scale != 1.0 {
            block_d.iter_mut().for_each(|x| *x /= scale);
        }
    }
    true
}

/// Root-free QL on one block: d (length m + 1), e2 (length m) the squared off-diagonals.
fn pwk_ql(d: &mut [f64], e2: &mut [f64], eps2: f64, max_iter: &mut usize) -> bool {
    let lend = d.len() - 1;
    let mut l = 0;
    while l <= lend {
        // Look for a negligible off-diagonal at or after l.
        let mut m = l;
        while m < lend {
            if e2[m].abs() <= eps2 * (d[m] * d[m + 1]).abs() {
                break;
            }
            m += 1;
        }
        if m < lend {
            e2[m] = 0.0;
        }
        if m == l {
            l += 1; // d[l] is an eigenvalue
            continue;
        }
        if m == l + 1 {
            // 2×2 block: closed form.
            let (r1, r2) = eig2(d[l], e2[l].sqrt(), d[l + 1]);
            d[l] = r1;
            d[l + 1] = r2;
            e2[l] = 0.0;
            l += 2;
            continue;
        }
        if *max_iter == 0 {
            return false;
        }
        *max_iter -= 1;
        // Wilkinson-type shift from the leading 2×2.
        let p = d[l];
        let rte = e2[l].sqrt();
        let mut sigma = (d[l + 1] - p) / (2.0 * rte);
        let r = sigma.hypot(1.0);
        sigma = p - rte / (sigma + if sigma >= 0.0 { r } else { -r });
        let (mut c, mut s) = (1.0f64, 0.0f64);
        let mut gamma = d[m] - sigma;
        let mut pp = gamma * gamma;
        let mut i = m;
        while i > l {
            i -= 1;
            let bb = e2[i];
            let r = pp + bb;
            if i + 1 != m {
                e2[i + 1] = s * r;
            }
            let oldc = c;
            c = pp / r;
            s = bb / r;
            let oldgam = gamma;
            let alpha = d[i];
            gamma = c * (alpha - sigma) - s * oldgam;
            d[i + 1] = oldgam + (alpha - gamma);
            pp = if c != 0.0 { gamma * gamma / c } else { oldc * bb };
        }
        e2[l] = s * pp;
        d[l] = sigma + gamma;
    }
    true
}

/// Eigenvalues of the symmetric 2×2 [[a, b], [b, c]] (the formulas of LAPACK's DLAE2, which keep
/// the smaller one accurate by computing it from the determinant).
fn eig2(a: f64, b: f64, c: f64) -> (f64, f64) {
    let sm = a + c;
    let adf = (a - c).abs();
    let ab = (2.0 * b).abs();
    let (acmx, acmn) = if a.abs() > c.abs() { (a, c) } else { (c, a) };
    let rt = if adf > ab {
        adf * (1.0 + (ab / adf).powi(2)).sqrt()
    } else if adf < ab {
        ab * (1.0 + (adf / ab).powi(2)).sqrt()
    } else {
        ab * core::f64::consts::SQRT_2
    };
    if sm == 0.0 {
        return (0.5 * rt, -0.5 * rt);
    }
    let rt1 = 0.5 * (sm + if sm > 0.0 { rt } else { -rt });
    (rt1, (acmx / rt1) * acmn - (b / rt1) * b)
}

/// Eigenvalues of a symmetric matrix (upper triangle of `a` is read and destroyed) into `out`.
#[no_mangle]
pub unsafe extern "C" fn symmetric_eigenvalues(a: *mut f64, n: usize, out: *mut f64) -> i32 {
    let mut e = vec![0f64; n.max(1)];
    tridiagonalize_blocked(a, n, out, e.as_mut_ptr(), TRD_PANEL, TRD_CROSSOVER);
    if tridiagonal_eigenvalues(out, e.as_mut_ptr(), n) { 0 } else { 1 }
}

/// M = Fᵀ S F for the pivoted factor of `a` (rank r, rows permuted back by undoing the swaps on a
/// copy of S instead). Returns (M r×r, upper triangle, r).
/// Also returns the most negative diagonal entry left in the Schur complement, relative to the
/// largest diagonal entry of `a`: clearly negative means `a` is not positive semi-definite.
unsafe fn pivoted_product(a: *const f64, s: *const f64, n: usize) -> (Vec<f64>, usize, f64) {
    let nn = n * n;
    let mut l = vec![0f64; nn];
    core::ptr::copy_nonoverlapping(a, l.as_mut_ptr(), nn);
    let mut piv = vec![0usize; n];
    let scale = max_diag(a, n);
    let tol = (n as f64) * f64::EPSILON * scale;
    let (r, schur_min) = pivoted_cholesky(l.as_mut_ptr(), n, &mut piv, tol);
    let residual = schur_min / if scale > 0.0 { scale } else { 1.0 };
    let mut sp = vec![0f64; nn];
    core::ptr::copy_nonoverlapping(s, sp.as_mut_ptr(), nn);
    for k in 0..r {
        if piv[k] != k {
            swap_sym(sp.as_mut_ptr(), n, k, piv[k]);
        }
    }
    // U (r×n): the factor's rows, zeros left of the diagonal.
    let mut ut = vec![0f64; (r * n).max(1)];
    for j in 0..r {
        core::ptr::copy_nonoverlapping(l.as_ptr().add(j * n + j), ut.as_mut_ptr().add(j * n + j), n - j);
    }
    drop(l);
    let (up, spp) = (ut.as_ptr(), sp.as_ptr());
    // T = U S (r×n): row block j0.. needs columns m ≥ j0 of U only (S is symmetric, so the NT
    // product reads its rows).
    let mut t = vec![0f64; (r * n).max(1)];
    let tp = t.as_mut_ptr();
    const B: usize = 64;
    let par = n >= PAR_MIN;
    par_for(par, r.div_ceil(B), &|blk| {
        let j0 = blk * B;
        let jb = (r - j0).min(B);
        gemm_nt(jb, n, n - j0, 1.0, up.add(j0 * n + j0), n, spp.add(j0), n, tp.add(j0 * n), n);
    });
    drop(sp);
    // M = T Uᵀ, upper triangle by blocks (J, C ≥ J); row c of U is zero left of c.
    let mut m = vec![0f64; (r * r).max(1)];
    let mp = m.as_mut_ptr();
    let tc = tp as *const f64;
    par_for(par, r.div_ceil(B), &|blk| {
        let j0 = blk * B;
        let jb = (r - j0).min(B);
        for c0 in (j0..r).step_by(B) {
            let cb = (r - c0).min(B);
            gemm_nt(jb, cb, n - c0, 1.0, tc.add(j0 * n + c0), n, up.add(c0 * n + c0), n, mp.add(j0 * r + c0), r);
        }
    });
    (m, r, residual)
}

unsafe fn max_diag(s: *const f64, n: usize) -> f64 {
    (0..n).map(|i| *s.add(i * n + i)).fold(0.0f64, f64::max)
}

/// Plain Cholesky of a copy of `s`; None when the matrix is numerically singular.
unsafe fn try_cholesky(s: *const f64, n: usize) -> Option<Vec<f64>> {
    let nn = n * n;
    let mut l = vec![0f64; nn.max(1)];
    core::ptr::copy_nonoverlapping(s, l.as_mut_ptr(), nn);
    let tol = (n as f64) * f64::EPSILON * max_diag(s, n);
    if cholesky(l.as_mut_ptr(), n, tol) == n { Some(l) } else { None }
}

/// M = Lᵀ S2 L (upper triangle) for the Cholesky factor L of S1, in n³ flops instead of the 5n³/3
/// of two plain triangular products (the DSYGST idea): split S2 = A + Aᵀ with A its lower triangle
/// and half its diagonal, so Lᵀ S2 L = Lᵀ A L + (Lᵀ A L)ᵀ. Y = (A L)ᵀ is triangular (n³/3) and the
/// symmetric sum is a rank-2k-style update of the upper triangle only (2n³/3).
unsafe fn product_ut_s_u(l: Vec<f64>, s2: *const f64, n: usize) -> Vec<f64> {
    let nn = n * n;
    // U = Lᵀ (row i is nonzero from column i on).
    // Tiled so that both the rows read and the columns written stay in cache.
    let mut u = vec![0f64; nn];
    const T: usize = 32;
    for i0 in (0..n).step_by(T) {
        for j0 in (0..=i0).step_by(T) {
            for i in i0..(i0 + T).min(n) {
                for j in j0..(j0 + T).min(i + 1) {
                    u[j * n + i] = l[i * n + j];
                }
            }
        }
    }
    drop(l);
    let a = half_lower(s2, n);
    let y = upper_times_lower_t(&u, &a, n);
    drop(a);
    sym_rank2k_upper(&u, &y, n)
}

/// Lower triangle of the symmetric s with its diagonal halved, zeros above: s = A + Aᵀ.
unsafe fn half_lower(s: *const f64, n: usize) -> Vec<f64> {
    let mut a = vec![0f64; n * n];
    for i in 0..n {
        core::ptr::copy_nonoverlapping(s.add(i * n), a.as_mut_ptr().add(i * n), i);
        a[i * n + i] = 0.5 * *s.add(i * n + i);
    }
    a
}

/// Block size of the triangular products below. Diagonal blocks are computed whole (their other
/// half is zeros or never read), so smaller blocks waste fewer flops: 64 instead of 128 cut the
/// product's work by ~9% at d = 2048 without lowering the gemm's rate.
const PB: usize = 64;

/// Y = U Aᵀ for upper-triangular U and lower-triangular A: Y[j][i] = Σ_{j ≤ m ≤ i} U[j][m] A[i][m],
/// upper triangular. Each block only runs over the inner indices where both factors can be nonzero.
unsafe fn upper_times_lower_t(u: &[f64], a: &[f64], n: usize) -> Vec<f64> {
    let mut y = vec![0f64; n * n];
    let (up, ap, yp) = (u.as_ptr(), a.as_ptr(), y.as_mut_ptr());
    // One block row of Y per task (disjoint outputs), largest first.
    par_for(n >= PAR_MIN, n.div_ceil(PB), &|blk| {
        let j0 = blk * PB;
        let jb = (n - j0).min(PB);
        let mut i0 = j0;
        while i0 < n {
            let ib = (n - i0).min(PB);
            gemm_nt(jb, ib, i0 + ib - j0, 1.0, up.add(j0 * n + j0), n, ap.add(i0 * n + j0), n, yp.add(j0 * n + i0), n);
            i0 += ib;
        }
    });
    y
}

/// Upper triangle of U Yᵀ + Y Uᵀ for upper-triangular U and Y (= Lᵀ A L + its transpose). Block
/// (I, J ≥ I) needs inner indices m ≥ j0 only: below that row j of U and of Y is zero.
unsafe fn sym_rank2k_upper(u: &[f64], y: &[f64], n: usize) -> Vec<f64> {
    let mut m = vec![0f64; (n * n).max(1)];
    let (up, yp, mp) = (u.as_ptr(), y.as_ptr(), m.as_mut_ptr());
    // One block row of M per task (disjoint outputs), largest first.
    par_for(n >= PAR_MIN, n.div_ceil(PB), &|blk| {
        let i0 = blk * PB;
        let ib = (n - i0).min(PB);
        let mut j0 = i0;
        while j0 < n {
            let jb = (n - j0).min(PB);
            let (c, kk) = (mp.add(i0 * n + j0), n - j0);
            gemm_nt(ib, jb, kk, 1.0, up.add(i0 * n + j0), n, yp.add(j0 * n + j0), n, c, n);
            gemm_nt(ib, jb, kk, 1.0, yp.add(i0 * n + j0), n, up.add(j0 * n + j0), n, c, n);
            j0 += jb;
        }
    });
    m
}

/// tr sqrt(S1 S2) and diagnostics. S1, S2: full symmetric n×n (not modified).
/// eig(S1 S2) = eig(S2 S1) = eig(Fᵀ S F) for either factorisation S1 = F Fᵀ or S2 = F Fᵀ. When a
/// covariance is singular (fewer samples than dimensions) it is the one factored, with the
/// rank-revealing pivoted Cholesky: its null space is then dropped exactly instead of leaving
/// near-zero eigenvalues whose square roots (~1e-8 each) would add up to visible noise.
/// out[0] = Σ sqrt(max(λ, 0)), out[1] = min λ, out[2] = max λ, out[3] = method (0: Cholesky of S1,
/// 1: pivoted Cholesky of S1, 2: pivoted Cholesky of S2), out[4] = rank of the factor used,
/// out[5] = most negative relative diagonal left by a pivoted factorisation (0 if none).
/// known_singular: bit 0 set = S1 is known to be singular (from at most n samples), bit 1 = S2;
/// the routine then goes straight to the factorisation it would otherwise find by failing.
/// Returns 0, or 1 if the QL iteration did not converge.
#[no_mangle]
pub unsafe extern "C" fn trace_sqrt_product(s1: *const f64, s2: *const f64, n: usize, out: *mut f64, known_singular: u32) -> i32 {
    let (s1_singular, s2_singular) = (known_singular & 1 != 0, known_singular & 2 != 0);
    let l1 = if s1_singular { None } else { try_cholesky(s1, n) };
    let mut residual = 0.0;
    let (mut m, rank, method) = match l1 {
        // S2 known to be singular: the branch the noise test below would reach, without first
        // paying for the eigenvalues of Lᵀ S2 L.
        Some(_) if s2_singular => {
            let (m, r, res) = pivoted_product(s2, s1, n);
            residual = res;
            (m, r, 2.0)
        }
        Some(l) => {
            let m = product_ut_s_u(l, s2, n);
            (m, n, 0.0)
        }
        None => {
            if !s2_singular && try_cholesky(s2, n).is_some() {
                let (m, r, res) = pivoted_product(s1, s2, n);
                residual = res;
                (m, r, 1.0)
            } else {
                // Both singular: the product's rank is at most the smaller one; factor that matrix.
                let (ma, ra, resa) = pivoted_product(s1, s2, n);
                let (mb, rb, resb) = pivoted_product(s2, s1, n);
                residual = resa.min(resb);
                if ra <= rb { (ma, ra, 1.0) } else { (mb, rb, 2.0) }
            }
        }
    };
    let mut ev = vec![0f64; rank.max(1)];
    let mut status = symmetric_eigenvalues(m.as_mut_ptr(), rank, ev.as_mut_ptr());
    if method == 0.0 {
        // A singular S2 would leave eigenvalues of Lᵀ S2 L that are pure rounding noise, bounded by
        // about n·eps·‖L‖²_F·‖S2‖_F (‖L‖²_F = tr S1). If the smallest eigenvalue is well above that,
        // S2 is regular and the result stands; otherwise test S2 and, if it is singular, factor it
        // with the rank-revealing Cholesky instead (its null space then drops out exactly).
        let tr1: f64 = (0..n).map(|i| *s1.add(i * n + i)).sum();
        let fro2: f64 = (0..n * n).map(|i| *s2.add(i) * *s2.add(i)).sum::<f64>().sqrt();
        let noise = (n as f64) * f64::EPSILON * tr1 * fro2;
        let lo = ev[..rank].iter().cloned().fold(f64::INFINITY, f64::min);
        if !(lo > 1000.0 * noise) && try_cholesky(s2, n).is_none() {
            let (m2, r2, res) = pivoted_product(s2, s1, n);
            m = m2;
            residual = res;
            ev = vec![0f64; r2.max(1)];
            status = symmetric_eigenvalues(m.as_mut_ptr(), r2, ev.as_mut_ptr());
            return finish(&ev[..r2], r2, 2.0, residual, status, out);
        }
    }
    finish(&ev[..rank], rank, method, residual, status, out)
}

/// Writes the sums and diagnostics described at trace_sqrt_product.
unsafe fn finish(ev: &[f64], rank: usize, method: f64, residual: f64, status: i32, out: *mut f64) -> i32 {
    let (mut sum, mut lo, mut hi) = (0.0f64, f64::INFINITY, f64::NEG_INFINITY);
    for &x in ev {
        if x > 0.0 {
            sum += x.sqrt();
        }
        lo = lo.min(x);
        hi = hi.max(x);
    }
    *out = sum;
    *out.add(1) = if rank == 0 { 0.0 } else { lo };
    *out.add(2) = if rank == 0 { 0.0 } else { hi };
    *out.add(3) = method;
    *out.add(4) = rank as f64;
    *out.add(5) = residual;
    status
}

// Stage timings for profiling (cargo build --features profile): the host supplies env.now (ms).
#[cfg(feature = "profile")]
mod profile {
    extern "C" {
        fn now() -> f64;
    }
    /// M = Lᵀ S2 L (upper triangle) into m, for timing the eigenvalue stage alone.
    #[no_mangle]
    pub unsafe extern "C" fn profile_product(s1: *const f64, s2: *const f64, n: usize, m: *mut f64) {
        let l = super::try_cholesky(s1, n).unwrap();
        let p = super::product_ut_s_u(l, s2, n);
        core::ptr::copy_nonoverlapping(p.as_ptr(), m, n * n);
    }
    /// out: [cholesky, product, tridiagonalize, tridiagonal QL] milliseconds.
    #[no_mangle]
    pub unsafe extern "C" fn profile_stages(s1: *const f64, s2: *const f64, n: usize, out: *mut f64) {
        let t0 = now();
        let l = super::try_cholesky(s1, n).unwrap();
        let t1 = now();
        let mut m = super::product_ut_s_u(l, s2, n);
        let t2 = now();
        let mut d = vec![0f64; n];
        let mut e = vec![0f64; n];
        super::tridiagonalize_blocked(m.as_mut_ptr(), n, d.as_mut_ptr(), e.as_mut_ptr(), super::TRD_PANEL, super::TRD_CROSSOVER);
        let t3 = now();
        super::tridiagonal_eigenvalues(d.as_mut_ptr(), e.as_mut_ptr(), n);
        let t4 = now();
        *out = t1 - t0;
        *out.add(1) = t2 - t1;
        *out.add(2) = t3 - t2;
        *out.add(3) = t4 - t3;
    }
}
