// run_if_cpu PATH PROGRAM [ARGS...]: runs PROGRAM when this CPU runs the SIMD path PATH ("avx512",
// "avx2", "sse4.2", "sse2"), as lmtcnn's run-time dispatch sees it; otherwise prints why and exits 77,
// which ctest reports as a skipped test. The kernel tests of each path are compiled with that path's
// instructions, so they must not start on a CPU without them.
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <string>
#include <vector>

#include "lmtcnn/engine/dispatch.hpp"

int main(int argc, char** argv) {
  if (argc < 3) {
    std::fprintf(stderr, "usage: run_if_cpu PATH PROGRAM [ARGS...]\n");
    return 2;
  }
  const std::vector<std::string> paths = lmtcnn::simd_paths();
  if (std::find(paths.begin(), paths.end(), argv[1]) == paths.end()) {
    std::string runs;
    for (const std::string& p : paths) runs += (runs.empty() ? "" : ", ") + p;
    std::printf("skipped: this CPU does not run the %s path (it runs %s)\n", argv[1], runs.c_str());
    return 77;
  }
  execv(argv[2], argv + 2);
  std::perror(argv[2]);
  return 1;
}
