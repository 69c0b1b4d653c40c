/* This CPU's float32 multiply-add peak: independent AVX-512 FMA chains on every thread, no memory.
 *
 * Built and run by bench_inference.py: cc -O3 -march=native -fopenmp fma_peak.c -o fma_peak
 * Prints one number, GFLOP/s over all OpenMP threads (OMP_NUM_THREADS sets how many).
 */
#include <immintrin.h>
#include <omp.h>
#include <stdio.h>

#define CHAINS 12 /* more independent chains than FMA latency x FMA ports, so the ports never wait */

int main(void) {
    const long iterations = 50000000L;
    float sink = 0.0f;
    int threads = 1;
    double started = omp_get_wtime();
#pragma omp parallel reduction(+ : sink)
    {
#pragma omp single
        threads = omp_get_num_threads();
        __m512 accumulators[CHAINS];
        const __m512 factor = _mm512_set1_ps(0.9999f), addend = _mm512_set1_ps(1e-4f);
        for (int chain = 0; chain < CHAINS; chain++) accumulators[chain] = _mm512_set1_ps((float)chain);
        for (long iteration = 0; iteration < iterations; iteration++)
            for (int chain = 0; chain < CHAINS; chain++)
                accumulators[chain] = _mm512_fmadd_ps(accumulators[chain], factor, addend);
        for (int chain = 0; chain < CHAINS; chain++) sink += _mm512_reduce_add_ps(accumulators[chain]);
    }
    double seconds = omp_get_wtime() - started;
    double flops = 2.0 * 16 * CHAINS * (double)iterations * threads;
    printf("%.1f\n", flops / seconds / 1e9);
    return sink == 12345.0f; /* keeps the chains alive */
}
