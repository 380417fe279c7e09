/* Built into libattn only when the BLAS is not OpenBLAS (CMakeLists.txt: ATTN_HAVE_OPENBLAS_THREADS):
 * attn_train calls openblas_set_num_threads(1) to keep BLAS single-threaded inside its own OpenMP
 * threads; here the same request goes to BLIS or MKL when they are linked, and is a no-op for
 * single-threaded libraries (reference BLAS). */
extern void bli_thread_set_num_threads(long n) __attribute__((weak));
extern void MKL_Set_Num_Threads(int n) __attribute__((weak));

void openblas_set_num_threads(int n);
void openblas_set_num_threads(int n) {
  if (bli_thread_set_num_threads) bli_thread_set_num_threads(n);
  else if (MKL_Set_Num_Threads) MKL_Set_Num_Threads(n);
}
