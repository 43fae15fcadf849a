# MW_CHECK_CUDA: --with-cuda[=DIR] and --with-cudart=shared|static.
#
# /usr/local/bin/nvcc may be a wrapper script, so the toolkit's real include and
# library directories are read from `nvcc --dryrun` (TOP, INCLUDES, LIBRARIES)
# instead of being guessed from nvcc's path.  We never link -lcuda: cudart loads
# the driver at run time, so a binary built with CUDA still starts (and falls
# back to the CPU backend) on a machine without a GPU driver.
AC_DEFUN([MW_CHECK_CUDA], [
  AC_ARG_WITH([cuda],
    [AS_HELP_STRING([--with-cuda@<:@=DIR@:>@], [build the CUDA inference backend (nvcc in DIR/bin or PATH)])],
    [], [with_cuda=no])
  AC_ARG_WITH([cudart],
    [AS_HELP_STRING([--with-cudart=shared|static], [how to link the CUDA runtime (default shared, with rpath)])],
    [], [with_cudart=shared])
  mw_have_cuda=no
  CUDA_CPPFLAGS=
  CUDA_LIBS=
  NVCC=
  NVCC_GENCODE="-gencode arch=compute_87,code=sm_87 -gencode arch=compute_90,code=sm_90 -gencode arch=compute_90,code=compute_90"
  AS_IF([test "x$with_cuda" != xno], [
    AS_IF([test "x$with_cuda" != xyes && test -x "$with_cuda/bin/nvcc"],
      [NVCC="$with_cuda/bin/nvcc"],
      [AC_PATH_PROG([NVCC], [nvcc], [], [$PATH:/usr/local/cuda/bin])])
    AS_IF([test -z "$NVCC"], [AC_MSG_ERROR([--with-cuda given but nvcc was not found])])
    echo '__global__ void mw_k(void){}' > conftest.cu
    mw_dry=`$NVCC --dryrun -c conftest.cu -o conftest.o 2>&1`
    rm -f conftest.cu conftest.o
    mw_cuda_inc=`echo "$mw_dry" | sed -n 's/^#\$ INCLUDES=//p' | tr -d '"' | head -n1`
    mw_cuda_libdir=`echo "$mw_dry" | sed -n 's/^#\$ LIBRARIES=//p' | tr -d '"' | tr ' ' '\n' | sed -n 's/^-L//p' | grep -v stubs | head -n1`
    AS_IF([test -z "$mw_cuda_libdir"], [AC_MSG_ERROR([could not read the CUDA library dir from nvcc --dryrun])])
    mw_cuda_libdir=`cd "$mw_cuda_libdir" && pwd -P`
    CUDA_CPPFLAGS="$mw_cuda_inc -DMW_HAVE_CUDA=1"
    AS_IF([test "x$with_cudart" = xstatic],
      [CUDA_LIBS="-L$mw_cuda_libdir -lcudart_static -ldl -lpthread -lrt -lstdc++"],
      [CUDA_LIBS="-L$mw_cuda_libdir -lcudart -Wl,-rpath,$mw_cuda_libdir -lstdc++"])
    mw_have_cuda=yes
    AC_DEFINE([MW_HAVE_CUDA], [1], [CUDA inference backend compiled in])
  ])
  AM_CONDITIONAL([HAVE_CUDA], [test "x$mw_have_cuda" = xyes])
  AC_SUBST([NVCC])
  AC_SUBST([NVCC_GENCODE])
  AC_SUBST([CUDA_CPPFLAGS])
  AC_SUBST([CUDA_LIBS])
])
