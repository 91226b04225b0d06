#ifndef CAFFE_DISTRIBUTED_HPP_
#define CAFFE_DISTRIBUTED_HPP_

#include <string>
#include <vector>

#include "caffe/common.hpp"
#include "caffe/solver.hpp"

namespace caffe {
namespace distributed {

// Data-parallel training across processes: `mpirun -np N caffe train ...`
// makes each process a rank of one job (docs/distributed.md). MPI itself
// stays inside distributed.cpp, so this header needs no MPI headers and
// exists in every build; without USE_MPI a Job cannot be made.

// True when an MPI launcher (mpirun, mpiexec, srun) started this process and
// Caffe was built with USE_MPI. A build without it that is one of several
// ranks stops here with a message: each rank would train alone.
bool JoinsMpiJob();

// One process's membership in an MPI job. MPI is initialised by the
// constructor and finalised by the destructor; one Job per process.
class Job {
 public:
  // `timeout_s` bounds every wait for other ranks (0: wait forever). A
  // rank that waits longer ends the job, naming the ranks that did not
  // arrive.
  explicit Job(double timeout_s);
  ~Job();

  int rank() const { return rank_; }
  int size() const { return size_; }
  int local_rank() const { return local_rank_; }
  int local_size() const { return local_size_; }
  double timeout_s() const { return timeout_s_; }

  // `node_gpus` lists a node's GPUs; the ranks on that node share them out
  // in order (mpirun -np 4 ... --gpu 0,1,2,3: local rank i gets GPU i).
  std::vector<int> LocalGpus(const std::vector<int>& node_gpus) const;

  // Makes Caffe's solver rank and count global: with `devices_per_rank`
  // solvers in each rank (GPUs as threads, or 1 on the CPU), this rank's
  // first solver is rank() * devices_per_rank of size() * devices_per_rank.
  // Call before the solver is made: data layers read their shard and
  // seeds are offset by it.
  void SetSolverRanks(int devices_per_rank) const;

  // Trains `solver` (made and, if resuming, restored on every rank) with
  // the other ranks, or alone in a job of one: checks that every rank built
  // the same net, broadcasts rank 0's weights, all-reduces gradients every
  // iteration (MPI on CPUs, one NCCL communicator over every GPU of every
  // rank on GPUs), agrees on stop and snapshot requests, and tests and
  // snapshots on rank 0 only. Returns the process's exit status.
  template <typename Dtype>
  int Train(const shared_ptr<Solver<Dtype> >& solver,
            const std::vector<int>& gpus, const char* snapshot,
            ActionCallback action);

 private:
  int rank_;
  int size_;
  int local_rank_;
  int local_size_;
  double timeout_s_;

  DISABLE_COPY_AND_ASSIGN(Job);
};

}  // namespace distributed
}  // namespace caffe

#endif  // CAFFE_DISTRIBUTED_HPP_
