#ifndef CAFFE_AGREED_REQUESTS_HPP_
#define CAFFE_AGREED_REQUESTS_HPP_

#include <stdint.h>

#include <boost/thread/barrier.hpp>

#include <memory>
#include <vector>

#include "caffe/solver.hpp"

namespace caffe {

/**
 * @brief An agreed request as one solver takes it, through its action
 *        function: once, although the solver asks after each iteration and
 *        the first solver again while it tests; and a snapshot only where
 *        `snapshots`, since one solver writes the snapshot for all.
 */
class PendingRequest {
 public:
  explicit PendingRequest(bool snapshots) : snapshots_(snapshots) {}
  void Set(SolverAction::Enum agreed) { pending_ = agreed; }
  SolverAction::Enum Take() {
    const SolverAction::Enum request = pending_;
    pending_ = SolverAction::NONE;
    if (request == SolverAction::SNAPSHOT && !snapshots_) {
      return SolverAction::NONE;
    }
    return request;
  }

 private:
  const bool snapshots_;
  SolverAction::Enum pending_ = SolverAction::NONE;
};

/**
 * @brief Stop and snapshot requests agreed by the solvers that train one
 *        model in threads of one process (one per GPU, NCCL::Run).
 *
 * A solver that leaves Step alone leaves the others waiting for it in
 * NCCL's next all-reduce, for ever. So requests come from one source, the
 * first solver's action function (caffe train's signal handler, or the
 * agreement across MPI ranks of distributed.cpp), asked once per iteration
 * by the first solver at the start of the iteration; every solver waits
 * there until all have arrived and takes that answer as its request for the
 * end of the iteration. All stop after the same iteration; a snapshot
 * request reaches the first solver only, which snapshots for all.
 */
template <typename Dtype>
class AgreedRequests {
 public:
  // `solvers` threads will each Join one solver; `source` may be empty.
  AgreedRequests(int solvers, ActionCallback source);

  // Called from the solver's own thread before it steps, once per index
  // in [0, solvers); index 0 is the first solver. Installs a solver
  // callback and replaces the solver's action function; this object must
  // outlive the solver's Step.
  void Join(Solver<Dtype>* solver, int index);

 private:
  class Member : public Solver<Dtype>::Callback {
   public:
    Member(AgreedRequests* group, int index)
        : group_(group), index_(index), pending_(index == 0) {}
    SolverAction::Enum Take() { return pending_.Take(); }

   protected:
    void on_start();
    void on_gradients_ready() {}

   private:
    AgreedRequests* group_;
    const int index_;
    uint64_t rounds_ = 0;
    PendingRequest pending_;
  };

  ActionCallback source_;
  boost::barrier barrier_;
  // Written by the first solver before the barrier of a round and read by
  // every solver after it: by round parity, so that the next round's answer
  // cannot overwrite one not yet read (no solver passes the next barrier
  // before every solver has read).
  SolverAction::Enum answers_[2];
  std::vector<std::unique_ptr<Member> > members_;

  DISABLE_COPY_AND_ASSIGN(AgreedRequests);
};

}  // namespace caffe

#endif  // CAFFE_AGREED_REQUESTS_HPP_
