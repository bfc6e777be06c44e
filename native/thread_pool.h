// SPDX-License-Identifier: MIT
// A small persistent worker pool for the addon's group steps.
//
// run() hands out the indices of a job one at a time (an atomic counter) to
// the calling thread and to the workers that join; the caller returns once
// every index has run. Workers that finish a job spin for a few microseconds
// before they sleep on a condition variable, so the next job of a step (the
// next param group) finds them awake; a worker that wakes late only finds
// less work left, it never delays the caller.
//
// Nothing here knows about Node: the tasks must not touch any napi value.
#ifndef LP_OPTIM_THREAD_POOL_H_
#define LP_OPTIM_THREAD_POOL_H_

#include <atomic>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <vector>

namespace lp {

class ThreadPool {
 public:
  using Task = void (*)(void* context, size_t index);

  // The most threads a pool may be asked for (setThreads refuses more).
  static constexpr size_t kMaxThreads = 1024;

  // A pool of `threads` threads in all, the caller of run() included, so it
  // starts threads - 1 workers (lazily, at the first run that needs them).
  explicit ThreadPool(size_t threads);
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  // The process-wide pool of the addon, of std::thread::hardware_concurrency()
  // threads (at least 1). Never destroyed: its workers simply end with the
  // process.
  static ThreadPool& shared();

  // Asks for `threads` threads in all (1 to kMaxThreads; other values are
  // clamped); takes effect at the next run().
  void setThreads(size_t threads);
  // The number asked for.
  size_t threads() const { return requested_.load(std::memory_order_relaxed); }

  // Runs task(context, i) for every i in [0, count), each exactly once, on the
  // calling thread and up to maxThreads - 1 workers, and returns when all are
  // done (with their writes visible to the caller). Safe to call from any
  // thread; while one run is in progress, another caller runs its whole job
  // on its own thread instead of waiting. A worker that cannot be started
  // leaves the pool smaller, never wrong.
  void run(size_t count, size_t maxThreads, Task task, void* context);

 private:
  struct Job {
    Task task;
    void* context;
    size_t count;
    size_t workerSlots;  // how many workers may join
    std::atomic<size_t> next;
  };
  struct Worker;

  static void work(Job& job);
  void resizeLocked();  // with runMutex_ held: starts/stops workers to match requested_
  void stopWorkers();
  void workerLoop();
  static void* workerMain(void* pool);

  std::atomic<size_t> requested_;
  std::mutex runMutex_;  // one job at a time

  std::mutex mutex_;  // guards job_, joined_, sleepers_, stop_ and generation_ writes
  std::condition_variable wake_;
  Job* job_ = nullptr;
  size_t joined_ = 0;
  size_t sleepers_ = 0;
  std::atomic<bool> stop_{false};
  std::atomic<uint64_t> generation_{0};  // bumped for every job (and for stop)
  uint64_t startGeneration_ = 0;          // generation_ when the workers were started
  std::atomic<size_t> active_{0};        // workers inside the current job

  std::vector<Worker*> workers_;  // touched with runMutex_ held only
};

}  // namespace lp

#endif  // LP_OPTIM_THREAD_POOL_H_
