#include "ssm_core/pool.hpp"

#include <atomic>
#include <condition_variable>
#include <deque>
#include <exception>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

namespace ssmsim::core {

namespace {

// One run_team call: its tasks, the counters its participants share, and its completion.
struct Job {
  const std::function<void(size_t, size_t)>* fn = nullptr;
  size_t n = 0;
  std::atomic<size_t> next{0}, slots{0}, done{0};
  std::mutex m;  // guards error and the completion signal
  std::condition_variable finished;
  std::exception_ptr error;
};

// A participant: takes a slot, then runs tasks until none is left. A ticket picked up after the
// job's tasks are all claimed runs none (the job outlives it through the shared pointer).
void participate(Job& j) {
  const size_t slot = j.slots++;
  for (size_t i = j.next++; i < j.n; i = j.next++) {
    try {
      (*j.fn)(i, slot);
    } catch (...) {
      std::lock_guard<std::mutex> l(j.m);
      if (!j.error) j.error = std::current_exception();
    }
    if (++j.done == j.n) {
      std::lock_guard<std::mutex> l(j.m);
      j.finished.notify_all();
    }
  }
}

// The pool: a queue of tickets (one per helper a job asks for) and threads that take them. It
// grows so that every queued ticket has a waiting thread, as a thread per call did before.
class Pool {
 public:
  static Pool& get() {
    static Pool pool;
    return pool;
  }

  void submit(const std::shared_ptr<Job>& j, size_t helpers) {
    std::lock_guard<std::mutex> l(m_);
    for (size_t k = 0; k < helpers; ++k) queue_.push_back(j);
    while (idle_ + started_ < queue_.size()) {  // a thread for every ticket nobody will take soon
      ++started_;
      threads_.emplace_back([this] { loop(); });
    }
    if (helpers == 1)
      wake_.notify_one();
    else
      wake_.notify_all();
  }

  ~Pool() {
    {
      std::lock_guard<std::mutex> l(m_);
      stop_ = true;
    }
    wake_.notify_all();
    for (std::thread& t : threads_) t.join();
  }

 private:
  Pool() = default;

  void loop() {
    std::unique_lock<std::mutex> l(m_);
    --started_;
    for (;;) {
      ++idle_;
      wake_.wait(l, [&] { return stop_ || !queue_.empty(); });
      --idle_;
      if (queue_.empty()) return;  // stopping
      const std::shared_ptr<Job> j = std::move(queue_.front());
      queue_.pop_front();
      l.unlock();
      participate(*j);
      l.lock();
    }
  }

  std::mutex m_;
  std::condition_variable wake_;
  std::deque<std::shared_ptr<Job>> queue_;
  std::vector<std::thread> threads_;
  size_t idle_ = 0;     // threads waiting for a ticket
  size_t started_ = 0;  // threads started that have not yet begun to wait
  bool stop_ = false;
};

}  // namespace

void run_team(size_t n, size_t team, const std::function<void(size_t, size_t)>& fn) {
  if (team > n) team = n;
  if (team <= 1) {
    for (size_t i = 0; i < n; ++i) fn(i, 0);
    return;
  }
  const auto j = std::make_shared<Job>();
  j->fn = &fn;
  j->n = n;
  Pool::get().submit(j, team - 1);
  participate(*j);
  {
    std::unique_lock<std::mutex> l(j->m);
    j->finished.wait(l, [&] { return j->done.load() == n; });
  }
  if (j->error) std::rethrow_exception(j->error);
}

}  // namespace ssmsim::core
