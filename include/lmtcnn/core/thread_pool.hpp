// lmtcnn: a small pool of worker threads for splitting one layer across cores (std::thread only).
//
// parallel_for(tasks, f) calls f(task, worker) once for every task in [0, tasks), on the calling
// thread (worker 0) and the pool's threads (workers 1 .. size()-1), and returns when all are done.
// The tasks are cut into size() contiguous runs, one per thread; each thread takes the tasks of its
// own run one at a time and then those left in the others' runs, so uneven tasks still balance
// themselves, while on a quiet machine worker w runs the same share of every job. Layers split
// their rows into tasks in order, so a thread mostly reads rows it wrote itself in the layer before
// (from its own core's cache rather than the other core's): on a Zen 4 this took LMTCNN's small
// layers at two threads from slower than one thread to faster.
// Workers spin briefly between jobs (a network runs its layers back to back) and then sleep.
// Jobs from several threads on one pool run one after the other; f must not throw.
#pragma once

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstddef>
#include <mutex>
#include <thread>
#include <vector>


namespace lmtcnn {

class thread_pool {
 public:
  /// A pool that runs jobs on `threads` threads in all: the caller and threads - 1 workers
  /// (0 means std::thread::hardware_concurrency()).
  explicit thread_pool(unsigned threads = 0) {
    if (threads == 0) threads = std::max(1u, std::thread::hardware_concurrency());
    runs_ = std::vector<run>(threads);
    for (unsigned i = 1; i < threads; ++i) workers_.emplace_back([this, i] { worker_loop(i); });
  }

  thread_pool(const thread_pool&) = delete;
  thread_pool& operator=(const thread_pool&) = delete;

  ~thread_pool() {
    {
      std::lock_guard<std::mutex> lk(mutex_);
      stop_.store(true, std::memory_order_release);
      generation_.fetch_add(1, std::memory_order_acq_rel);
    }
    wake_.notify_all();
    for (std::thread& t : workers_) t.join();
  }

  /// Threads that work on a job, the caller included.
  unsigned size() const { return static_cast<unsigned>(workers_.size()) + 1; }

  /// Runs f(task, worker) for every task in [0, tasks); worker < size().
  template <class F>
  void parallel_for(std::size_t tasks, F&& f) {
    if (tasks == 0) return;
    if (workers_.empty() || tasks == 1) {
      for (std::size_t t = 0; t < tasks; ++t) f(t, 0u);
      return;
    }
    std::lock_guard<std::mutex> job_lock(job_mutex_);  // one job at a time
    auto call = [](void* ctx, std::size_t task, unsigned worker) { (*static_cast<F*>(ctx))(task, worker); };
    fn_ = call;
    ctx_ = static_cast<void*>(&f);
    const std::size_t threads = size();
    for (std::size_t w = 0; w < threads; ++w) {
      runs_[w].next.store(tasks * w / threads, std::memory_order_relaxed);
      runs_[w].end = tasks * (w + 1) / threads;
    }
    active_.store(static_cast<unsigned>(workers_.size()), std::memory_order_relaxed);
    {
      std::lock_guard<std::mutex> lk(mutex_);
      generation_.fetch_add(1, std::memory_order_acq_rel);
    }
    wake_.notify_all();
    work(0);
    // wait for every worker to leave this job (they read its fields)
    for (int spin = 0; active_.load(std::memory_order_acquire) != 0; ++spin) {
      if (spin < 200000) {
        pause();
      } else {
        std::unique_lock<std::mutex> lk(mutex_);
        done_.wait(lk, [&] { return active_.load(std::memory_order_acquire) == 0; });
      }
    }
  }

 private:
  static void pause() {
#if (defined(__x86_64__) || defined(__i386__)) && (defined(__GNUC__) || defined(__clang__))
    __builtin_ia32_pause();  // _mm_pause without the intrinsics headers (core/simd.hpp includes those)
#elif defined(__aarch64__)
    asm volatile("yield");
#endif
  }

  void work(unsigned worker) {
    const std::size_t threads = runs_.size();
    for (std::size_t i = 0; i < threads; ++i) {  // its own run first, then the others'
      run& r = runs_[(worker + i) % threads];
      for (;;) {
        const std::size_t t = r.next.fetch_add(1, std::memory_order_relaxed);
        if (t >= r.end) break;
        fn_(ctx_, t, worker);
      }
    }
  }

  void worker_loop(unsigned id) {
    std::size_t seen = 0;
    for (;;) {
      std::size_t g = generation_.load(std::memory_order_acquire);
      for (int spin = 0; g == seen && spin < 100000; ++spin) {
        pause();
        g = generation_.load(std::memory_order_acquire);
      }
      if (g == seen) {
        std::unique_lock<std::mutex> lk(mutex_);
        wake_.wait(lk, [&] { return generation_.load(std::memory_order_acquire) != seen; });
        g = generation_.load(std::memory_order_acquire);
      }
      seen = g;
      if (stop_.load(std::memory_order_acquire)) return;
      work(id);
      if (active_.fetch_sub(1, std::memory_order_acq_rel) == 1) {
        std::lock_guard<std::mutex> lk(mutex_);
        done_.notify_all();
      }
    }
  }

  std::vector<std::thread> workers_;
  std::mutex job_mutex_;  // serialises callers
  std::mutex mutex_;      // guards sleeping and waking
  std::condition_variable wake_, done_;
  std::atomic<std::size_t> generation_{0};
  std::atomic<bool> stop_{false};
  std::atomic<unsigned> active_{0};
  void (*fn_)(void*, std::size_t, unsigned) = nullptr;
  void* ctx_ = nullptr;
  struct alignas(64) run {  // one thread's share of a job's tasks: [next, end)
    std::atomic<std::size_t> next{0};
    std::size_t end = 0;
  };
  std::vector<run> runs_;
};

}  // namespace lmtcnn
