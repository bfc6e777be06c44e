// SPDX-License-Identifier: MIT
// The addon's worker pool (see thread_pool.h).
//
// Threads are started with pthread_create (or std::thread on Windows) so that
// a failure to start one is a return code, not an exception: the addon is
// built without exceptions, and a pool short of a worker is still correct.
#include "thread_pool.h"

#include <chrono>
#include <thread>

#if defined(_WIN32)
#define LP_POOL_STD_THREAD 1
#else
#include <pthread.h>
#endif

#if defined(_MSC_VER) && (defined(_M_X64) || defined(_M_IX86))
#include <intrin.h>
#endif

namespace lp {
namespace {

// How long an idle worker polls for the next job before it sleeps.
constexpr std::chrono::nanoseconds kSpin = std::chrono::microseconds(20);

// A hint to the CPU that this is a spin-wait loop.
inline void cpuRelax() {
#if defined(_MSC_VER) && (defined(_M_X64) || defined(_M_IX86))
  _mm_pause();
#elif defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  __asm__ __volatile__("yield");
#endif
}

size_t clampThreads(size_t threads) {
  if (threads < 1) return 1;
  return threads > ThreadPool::kMaxThreads ? ThreadPool::kMaxThreads : threads;
}

}  // namespace

struct ThreadPool::Worker {
#if defined(LP_POOL_STD_THREAD)
  std::thread thread;
#else
  pthread_t thread;
#endif
};

ThreadPool::ThreadPool(size_t threads) : requested_(clampThreads(threads)) {}

ThreadPool::~ThreadPool() {
  std::lock_guard<std::mutex> exclusive(runMutex_);
  stopWorkers();
}

ThreadPool& ThreadPool::shared() {
  static ThreadPool* const pool = [] {
    const unsigned hardware = std::thread::hardware_concurrency();
    return new ThreadPool(hardware == 0 ? 1 : hardware);
  }();
  return *pool;
}

void ThreadPool::setThreads(size_t threads) {
  requested_.store(clampThreads(threads), std::memory_order_relaxed);
}

void ThreadPool::work(Job& job) {
  for (;;) {
    const size_t i = job.next.fetch_add(1, std::memory_order_relaxed);
    if (i >= job.count) return;
    job.task(job.context, i);
  }
}

void ThreadPool::run(size_t count, size_t maxThreads, Task task, void* context) {
  if (count == 0) return;
  Job job;
  job.task = task;
  job.context = context;
  job.count = count;
  job.workerSlots = 0;
  job.next.store(0, std::memory_order_relaxed);

  std::unique_lock<std::mutex> exclusive(runMutex_, std::try_to_lock);
  if (exclusive.owns_lock() && count > 1 && maxThreads > 1) {
    resizeLocked();
    size_t helpers = workers_.size();
    if (helpers > maxThreads - 1) helpers = maxThreads - 1;
    if (helpers > count - 1) helpers = count - 1;
    job.workerSlots = helpers;
  }
  if (job.workerSlots == 0) {
    // Alone: no workers wanted or available, or another run holds the pool.
    work(job);
    return;
  }

  bool wakeSleepers = false;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    job_ = &job;
    joined_ = 0;
    generation_.fetch_add(1, std::memory_order_release);
    wakeSleepers = sleepers_ != 0;
  }
  if (wakeSleepers) wake_.notify_all();
  work(job);
  {
    // From here on no worker can join; wait for those that did.
    std::lock_guard<std::mutex> lock(mutex_);
    job_ = nullptr;
  }
  for (unsigned polls = 1; active_.load(std::memory_order_acquire) != 0; ++polls) {
    // A worker finishing its last index; let it have the CPU if it was
    // descheduled (more threads than cores).
    if (polls % 256 == 0) {
      std::this_thread::yield();
    } else {
      cpuRelax();
    }
  }
}

void ThreadPool::workerLoop() {
  // Not generation_ itself: a thread may start only after the job it was
  // started for has been published, and must still take part in it.
  uint64_t seen = startGeneration_;
  for (;;) {
    // Spin for a little while: a step runs its groups back to back.
    const auto spinEnd = std::chrono::steady_clock::now() + kSpin;
    for (unsigned polls = 1; generation_.load(std::memory_order_acquire) == seen; ++polls) {
      cpuRelax();
      if (polls % 64 == 0 && std::chrono::steady_clock::now() >= spinEnd) break;
    }
    Job* job = nullptr;
    {
      std::unique_lock<std::mutex> lock(mutex_);
      if (generation_.load(std::memory_order_relaxed) == seen && !stop_.load()) {
        ++sleepers_;
        wake_.wait(lock, [&] {
          return stop_.load() || generation_.load(std::memory_order_relaxed) != seen;
        });
        --sleepers_;
      }
      if (stop_.load()) return;
      seen = generation_.load(std::memory_order_relaxed);
      if (job_ != nullptr && joined_ < job_->workerSlots) {
        ++joined_;
        active_.fetch_add(1, std::memory_order_relaxed);
        job = job_;
      }
    }
    if (job != nullptr) {
      work(*job);
      active_.fetch_sub(1, std::memory_order_release);
    }
  }
}

void* ThreadPool::workerMain(void* pool) {
  static_cast<ThreadPool*>(pool)->workerLoop();
  return nullptr;
}

void ThreadPool::resizeLocked() {
  const size_t wanted = requested_.load(std::memory_order_relaxed) - 1;
  if (workers_.size() == wanted) return;
  if (workers_.size() > wanted) {
    // Rare (setThreads): stop them all and start the new number afresh.
    stopWorkers();
  }
  // Written before the threads start (which orders it before their reads);
  // the next write comes after they have been joined.
  startGeneration_ = generation_.load(std::memory_order_relaxed);
  while (workers_.size() < wanted) {
    Worker* worker = new Worker;
#if defined(LP_POOL_STD_THREAD)
    worker->thread = std::thread(&ThreadPool::workerMain, this);
#else
    if (pthread_create(&worker->thread, nullptr, &ThreadPool::workerMain, this) != 0) {
      delete worker;
      break;  // out of threads: run with those we have
    }
#endif
    workers_.push_back(worker);
  }
}

void ThreadPool::stopWorkers() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stop_.store(true);
    generation_.fetch_add(1, std::memory_order_release);
  }
  wake_.notify_all();
  for (Worker* worker : workers_) {
#if defined(LP_POOL_STD_THREAD)
    worker->thread.join();
#else
    pthread_join(worker->thread, nullptr);
#endif
    delete worker;
  }
  workers_.clear();
  std::lock_guard<std::mutex> lock(mutex_);
  stop_.store(false);
}

}  // namespace lp
