/* Running CUnit suites under mpirun: rank 0 prints the report, other ranks print only their
 * failures; the result is the largest failure count over all ranks. Header-only. */
#ifndef MPI_CUNIT_H
#define MPI_CUNIT_H
#include <CUnit/Basic.h>
#include <stdio.h>
#include "comm.h"

/* Run every registered test on every rank; returns the most failures any rank had. */
static inline int mpi_cunit_run(struct comm *C) {
  if (C->rank == 0) {
    CU_basic_set_mode(CU_BRM_VERBOSE);
    CU_basic_run_tests();
  } else {
    CU_run_all_tests();
    for (CU_pFailureRecord f = CU_get_failure_list(); f; f = f->pNext)
      printf("rank %d: %s:%u: %s\n", C->rank, f->strFileName, f->uiLineNumber, f->strCondition);
  }
  int failures = (int)CU_get_number_of_failures();
  MPI_Allreduce(MPI_IN_PLACE, &failures, 1, MPI_INT, MPI_MAX, C->world);
  return failures;
}
#endif
